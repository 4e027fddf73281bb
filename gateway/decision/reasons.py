"""The stable reason codes of api.md, in its order."""

from __future__ import annotations

from dataclasses import dataclass

REASON_CODES: tuple[str, ...] = (
    "subject_unknown",
    "document_unknown",
    "action_not_permitted",
    "designation_not_in_force",
    "clearance_missing",
    "clearance_expired",
    "clearance_suspended",
    "clearance_revoked",
    "clearance_insufficient",
    "employer_not_certified",
    "contract_not_in_force",
    "not_on_roster",
)

DEFAULT_MESSAGES = {
    "subject_unknown": "No such person in the registry",
    "document_unknown": "No such document in the registry",
    "action_not_permitted": "The policy does not grant this action",
    "designation_not_in_force": "The document's designation is not in force (D3)",
    "clearance_missing": "No favourable assessment by the competent organ under a scheme that opens this tier",
    "clearance_expired": "The fitting assessment's validity has ended (C3)",
    "clearance_suspended": "The fitting assessment is suspended pending re-assessment (C7)",
    "clearance_revoked": "The fitting assessment was revoked (C7)",
    "clearance_insufficient": "The person holds only a clearance that does not open this tier (C6)",
    "employer_not_certified": "The employer has no certification in force from the providing organ (B1)",
    "contract_not_in_force": "No contract in force covers the designation and the person's department (B1, B2)",
    "not_on_roster": "The person is not on the handler roster for the designation (N1)",
}

TIER_NAMES = {"esi": "ESI", "sds": "SDS", "unclassified": "unclassified"}


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


# C9: the codes whose messages describe an assessment (its id, organ, scheme, dates or status).
ASSESSMENT_CODES = frozenset(
    {"clearance_expired", "clearance_suspended", "clearance_revoked", "clearance_insufficient"}
)
# C9: who may read an assessment's content (here and in the registry): administrators, nobody else.
ASSESSMENT_READER_SCOPE = "registry:admin"


def without_assessment_details(reasons: list[dict[str, str]]) -> list[dict[str, str]]:
    """C9: the reasons as anyone but an administrator sees them. Every code stays (the API's contract);
    a message that describes an assessment becomes the code's general meaning."""
    if not any(r.get("code") in ASSESSMENT_CODES for r in reasons):
        return reasons
    return [{**r, "message": DEFAULT_MESSAGES[r["code"]]} if r.get("code") in ASSESSMENT_CODES else r for r in reasons]
