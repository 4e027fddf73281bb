"""`policy show`: what a loaded policy grants and requires, in words an administrator reads."""

from __future__ import annotations

import re

from gateway.decision.policy import ALL_ACTIONS, Policy
from gateway.decision.reasons import DEFAULT_MESSAGES, TIER_NAMES

_ATTRIBUTE = re.compile(r"\br\.(sub|obj|ctx)\.(\w+)")
_WHO = {"sub": "person", "obj": "document", "ctx": "request"}
_CALL = re.compile(r"\bg3\(\s*r\.ctx\.(\w+)\s*,\s*\"(\w+)\"\s*\)")


def rule_in_words(rule: str) -> str:
    """`!r.sub.on_roster && r.obj.classified` -> `not person.on_roster and document.classified`."""
    text = _CALL.sub(lambda m: f"request.{m.group(1)} is a listed {m.group(2).replace('_', ' ')}", rule)
    text = _ATTRIBUTE.sub(lambda m: f"{_WHO[m.group(1)]}.{m.group(2)}", text)
    text = text.replace("&&", " and ").replace("||", " or ").replace("!=", " is not ").replace("==", " is ")
    text = re.sub(r"!\s*", "not ", text)
    return re.sub(r"\s+", " ", text).strip()


def describe(policy: Policy) -> list[str]:
    """One line per grant, requirement (deny row), declaration and parameter, with file and line."""
    lines = []
    for row in policy.rows:
        where = f"{row.file}:{row.line}"
        if row.ptype == "p":
            eft, act, rule, reason = row.values
            action = "every action" if act == ALL_ACTIONS else f"`{act}`"
            if eft == "allow":
                lines.append(f"{where}  grants {action} when {rule_in_words(rule)}")
            else:
                local = policy.local_reasons.get(reason)
                meaning = local.message if local else DEFAULT_MESSAGES.get(reason, reason)
                lines.append(f"{where}  denies {action} with {reason} when {rule_in_words(rule)}: {meaning}")
        elif row.ptype == "p2":
            scheme, years, reading = row.values
            lines.append(f"{where}  an {TIER_NAMES[scheme]} assessment is valid {years} years ({reading} reading, C3)")
        elif row.ptype == "g":
            scheme, tier = row.values
            lines.append(f"{where}  an {TIER_NAMES[scheme]} clearance opens {TIER_NAMES[tier]} information (C6)")
        elif row.ptype == "g2":
            office = row.values[0]
            lines.append(f"{where}  the office {office} is exempt from assessment for its own organ's information (C8)")
        elif row.ptype == "exempt":
            office, organ, tier = row.values
            whose = f"{organ}'s information"
            if organ == "own":
                whose = "its own organ's information (and what is provided to it)"
            tiers = "both tiers" if tier == "*" else f"{TIER_NAMES[tier]} information"
            lines.append(f"{where}  the office {office} is exempt from assessment for {whose}, {tiers} (C8)")
        elif row.ptype == "g3":
            lines.append(f"{where}  {row.values[0]} is a listed {row.values[1].replace('_', ' ')}")
        elif row.ptype == "category":
            scheme, category = row.values[0], row.values[1]
            lines.append(f"{where}  {TIER_NAMES[scheme]} category {category}: {', '.join(row.values[2:])} (D4)")
        elif row.ptype == "limit":
            lines.append(f"{where}  {_limit_in_words(*row.values)} (D2)")
        elif row.ptype == "ctx":
            attribute = policy.context[row.values[0]]
            source = f"header {attribute.header} at release" if attribute.header else "not available at release"
            lines.append(f"{where}  request.{attribute.name} ({attribute.type}): context.{attribute.name}, {source}")
        elif row.ptype == "reason":
            lines.append(f"{where}  local reason {row.values[0]}: {policy.local_reasons[row.values[0]].message}")
    lines.append("Everything else is denied: an action no row grants is action_not_permitted.")
    return lines


def _limit_in_words(scheme: str, name: str, years: str) -> str:
    tier = TIER_NAMES[scheme]
    if name == "first_period":
        return f"an {tier} designation's first period runs at most {years} years"
    if name == "extension":
        return f"each extension of an {tier} designation adds at most {years} years"
    if name == "total_without_cabinet":
        return f"an {tier} designation runs past {years} years in all only with Cabinet approval"
    if years == "-":
        return f"with Cabinet approval an {tier} designation has no further cap"
    return f"an {tier} designation runs at most {years} years in all, even with Cabinet approval"
