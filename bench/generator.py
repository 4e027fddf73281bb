"""A synthetic registry bundle in api.md's format, dated relative to `today`.

Proportions aim at a realistic mix of allows and every kind of deny: most designations in force
(some expired, cancelled or not yet in force), most persons cleared by their competent organ (some
expired, suspended, revoked, unfavourable, superseded, or assessed by the wrong organ), contractors
whose employers hold certifications and contracts (or not), and handler rosters with past and future
windows. The same seed and day always give the same bundle.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from gateway.registry.validation import ESI_ACT_IN_FORCE, corporate_number_is_valid, period_end

ORGANS = (
    ("METI", "Ministry of Economy, Trade and Industry", 5),
    ("MOD", "Ministry of Defense", 4),
    ("MOFA", "Ministry of Foreign Affairs", 2),
    ("NPA", "National Police Agency", 2),
    ("CAO", "Cabinet Office", 1),
    ("MIC", "Ministry of Internal Affairs and Communications", 1),
)
DEPARTMENTS = ("R&D", "Design", "Manufacturing", "Sales", "Operations")
EXEMPT_OFFICES = ("minister_of_state", "senior_vice_minister", "head_of_organ")
OTHER_OFFICES = ("director_general", "counsellor")  # not exempt under the shipped policy
MAX_COVERED = 60  # designations one contract lists: at 10,000 designations a share would be thousands
Entry = dict[str, Any]


@dataclass(frozen=True)
class Shape:
    """How big the registry is; everything else scales with the number of persons."""

    persons: int = 1000
    designations: int = 200
    operators: int = 40
    unclassified_documents: int = 50

    @classmethod
    def for_persons(cls, persons: int, designations: int | None = None) -> Shape:
        """`designations` defaults to one for every five persons."""
        return cls(persons, designations or max(10, persons // 5), max(4, persons // 25), max(5, persons // 20))


def _transitional(scheme: str, day: date) -> dict[str, bool]:
    """Synthetic ESI records older than the ESI Act are marked as carried over (they could not exist)."""
    return {"transitional": True} if scheme == "esi" and day < ESI_ACT_IN_FORCE else {}


def corporate_number(body: str) -> str:
    """The 13-digit corporate number whose leading check digit fits the 12-digit `body` (B1)."""
    total = sum(int(d) * (1 if i % 2 == 0 else 2) for i, d in enumerate(reversed(body)))
    number = f"{9 - total % 9}{body}"
    assert corporate_number_is_valid(number), number
    return number


class _Generator:
    def __init__(self, shape: Shape, today: date, seed: int):
        self.shape, self.today, self.rng = shape, today, random.Random(seed)
        self.client_organ: dict[str, str] = {}  # operator -> the organ it works for

    def day(self, offset: int) -> date:
        return self.today + timedelta(days=offset)

    def organ(self) -> str:
        return self.rng.choices([o[0] for o in ORGANS], weights=[o[2] for o in ORGANS])[0]

    def operators(self) -> list[Entry]:
        out, seen = [], set()
        for i in range(1, self.shape.operators + 1):
            number = corporate_number(f"{self.rng.randrange(10**12):012d}")
            while number in seen:
                number = corporate_number(f"{self.rng.randrange(10**12):012d}")
            seen.add(number)
            op = f"OP-{i:04d}"
            self.client_organ[op] = self.organ()
            out.append({"id": op, "name": f"Operator {i} K.K.", "corporate_number": number})
        return out

    def designations(self) -> list[Entry]:
        out = []
        for i in range(1, self.shape.designations + 1):
            kind = self.rng.random()
            extra: Entry = {}
            if kind < 0.84:  # in force
                start = self.day(-self.rng.randint(0, 1500))
                end = self.rng_between(self.day(1), period_end(start, 5))
            elif kind < 0.92:  # expired
                start = self.day(-self.rng.randint(1900, 3000))
                end = min(start + timedelta(days=self.rng.randint(365, 1800)), period_end(start, 5))
            elif kind < 0.97:  # cancelled
                start = self.day(-self.rng.randint(250, 1500))
                end = self.rng_between(self.day(1), period_end(start, 5))
                extra = {"cancelled_on": self.day(-self.rng.randint(1, 200)).isoformat()}
            else:  # not yet in force
                start = self.day(self.rng.randint(10, 200))
                end = start + timedelta(days=1000)
            scheme = "sds" if self.rng.random() < 0.25 else "esi"
            out.append({"id": f"G-{i:04d}", "organ_id": self.organ(), "scheme": scheme,
                        "category": "supply-chain" if scheme == "esi" else "defence",
                        "summary": f"Synthetic designation {i}",
                        "designated_on": start.isoformat(), "expires_on": end.isoformat(), **extra,
                        **_transitional(scheme, start)})
        return out

    def rng_between(self, first: date, last: date) -> date:
        return first + timedelta(days=self.rng.randint(0, max(0, (last - first).days)))

    def persons(self, operators: list[Entry]) -> list[Entry]:
        out = []
        for i in range(1, self.shape.persons + 1):
            pid = f"P-{i:05d}"
            if self.rng.random() < 0.72:
                person: Entry = {"id": pid, "name": f"Official {i}", "kind": "government",
                                 "organ_id": self.organ()}
                office = self.rng.random()
                if office < 0.015:
                    person["office"] = self.rng.choice(EXEMPT_OFFICES)
                elif office < 0.025:
                    person["office"] = self.rng.choice(OTHER_OFFICES)
            else:
                person = {"id": pid, "name": f"Engineer {i}", "kind": "contractor",
                          "operator_id": self.rng.choice(operators)["id"],
                          "department": self.rng.choice(DEPARTMENTS)}
            out.append(person)
        return out

    def competent_organ(self, person: Entry) -> str:
        if person["kind"] == "government":
            return str(person["organ_id"])
        return self.client_organ[person["operator_id"]]

    def assessments(self, persons: list[Entry]) -> list[Entry]:
        out: list[Entry] = []

        def add(person: str, organ: str, scheme: str, age: int, result: str = "favourable",
                status: str = "active") -> None:
            notified = self.day(-age)
            out.append({"id": f"A-{len(out) + 1:06d}", "person_id": person, "organ_id": organ,
                        "scheme": scheme, "result": result, "notified_on": notified.isoformat(),
                        "status": status, **_transitional(scheme, notified)})

        for person in persons:
            pid, organ = person["id"], self.competent_organ(person)
            scheme = "sds" if self.rng.random() < 0.25 else "esi"
            valid_days = 3600 if scheme == "esi" else 1800  # comfortably inside 10 and 5 years
            fresh = self.rng.randint(1, valid_days)
            r = self.rng.random()
            if r < 0.70:
                add(pid, organ, scheme, fresh)
            elif r < 0.78:  # ran out
                add(pid, organ, scheme, valid_days + self.rng.randint(120, 900))
            elif r < 0.83:
                add(pid, organ, scheme, fresh, status="suspended")
            elif r < 0.87:
                add(pid, organ, scheme, fresh, status="revoked")
            elif r < 0.90:
                add(pid, organ, scheme, fresh, result="unfavourable")
            elif r < 0.93:  # C4: only the most recent assessment counts
                older = fresh + self.rng.randint(1, 300)
                if self.rng.random() < 0.5:
                    add(pid, organ, scheme, older, status="revoked")
                    add(pid, organ, scheme, fresh)
                else:
                    add(pid, organ, scheme, older)
                    add(pid, organ, scheme, fresh, result="unfavourable")
            elif r < 0.96:  # C5: assessed by an organ that is not the competent one
                other = self.rng.choice([o[0] for o in ORGANS if o[0] != organ])
                add(pid, other, scheme, fresh)
            # else: never assessed
        return out

    def certifications(self, operators: list[Entry]) -> list[Entry]:
        out: list[Entry] = []
        for op in operators:
            r = self.rng.random()
            status = "active" if r < 0.80 else "suspended" if r < 0.88 else "revoked" if r < 0.93 else None
            if status is not None:
                certified_on = self.day(-self.rng.randint(30, 1500)).isoformat()
                out.append({"id": f"C-{len(out) + 1:05d}", "operator_id": op["id"],
                            "organ_id": self.client_organ[op["id"]], "certified_on": certified_on,
                            "status": status})
        return out

    def contracts(self, operators: list[Entry], designations: list[Entry]) -> list[Entry]:
        out: list[Entry] = []
        by_organ: dict[str, list[str]] = {}
        for d in designations:
            by_organ.setdefault(d["organ_id"], []).append(d["id"])
        for op in operators:
            organ = self.client_organ[op["id"]]
            pool = by_organ.get(organ, [])
            for _ in range(self.rng.randint(0, 2) if pool else 0):
                share = max(1, int(len(pool) * self.rng.uniform(0.3, 0.7)))
                covered = self.rng.sample(pool, min(share, MAX_COVERED))
                departments = self.rng.sample(DEPARTMENTS, self.rng.randint(1, 3))
                if self.rng.random() < 0.85:
                    starts, ends = self.day(-self.rng.randint(30, 1000)), self.day(self.rng.randint(30, 1000))
                else:
                    ends = self.day(-self.rng.randint(1, 400))
                    starts = ends - timedelta(days=self.rng.randint(200, 1000))
                out.append({"id": f"K-{len(out) + 1:05d}", "operator_id": op["id"], "organ_id": organ,
                            "starts_on": starts.isoformat(), "ends_on": ends.isoformat(),
                            "designation_ids": sorted(covered), "departments": sorted(departments)})
        return out

    def rosters(self, persons: list[Entry], designations: list[Entry]) -> list[Entry]:
        by_organ: dict[str, list[str]] = {}
        for person in persons:
            by_organ.setdefault(self.competent_organ(person), []).append(person["id"])
        out: list[Entry] = []
        for designation in designations:
            pool = by_organ.get(designation["organ_id"], [])
            for pid in self.rng.sample(pool, min(len(pool), self.rng.randint(10, 40))):
                r = self.rng.random()
                if r < 0.85:
                    start, until = self.day(-self.rng.randint(1, 600)), None
                elif r < 0.92:  # left the roster
                    until = self.day(-self.rng.randint(1, 100))
                    start = until - timedelta(days=self.rng.randint(10, 400))
                elif r < 0.97:  # joins later
                    start, until = self.day(self.rng.randint(1, 100)), None
                else:  # a bounded window that is open today
                    start, until = self.day(-self.rng.randint(1, 100)), self.day(self.rng.randint(1, 300))
                out.append({"designation_id": designation["id"], "person_id": pid, "from": start.isoformat(),
                            "until": until.isoformat() if until else None})
        return out

    def documents(self, designations: list[Entry]) -> list[Entry]:
        refs: list[str | None] = [d["id"] for d in designations for _ in range(2)]
        refs += [None] * self.shape.unclassified_documents
        return [{"id": f"DOC-{i:05d}", "title": f"Document {i}", "designation_id": ref,
                 "media_type": "text/plain",
                 "content_base64": base64.b64encode(f"synthetic document {i}\n".encode()).decode()}
                for i, ref in enumerate(refs, start=1)]


def generate_bundle(shape: Shape, today: date, seed: int = 7) -> dict[str, Any]:
    g = _Generator(shape, today, seed)
    operators = g.operators()
    designations = g.designations()
    persons = g.persons(operators)
    return {
        "organs": [{"id": code, "name": name} for code, name, _ in ORGANS],
        "operators": operators,
        "persons": persons,
        "assessments": g.assessments(persons),
        "certifications": g.certifications(operators),
        "designations": designations,
        "contracts": g.contracts(operators, designations),
        "rosters": g.rosters(persons, designations),
        "documents": g.documents(designations),
    }
