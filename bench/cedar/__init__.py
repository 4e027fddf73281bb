"""The Cedar peer: cedarpy with bench/cedar/policy.cedar, on the naive peer's attribute vector.

For every request the registry's facts become two Cedar entities and a context, from exactly the
attributes the naive PyCasbin peer gets (bench/naive/attributes.py): the stable attributes of the
person and the document are entity attributes; what depends on the pair (the latest assessment by the
document's organ under each scheme, the roster entry for the document's designation) and the day go
into the context, since a Cedar policy cannot pick them out of sets of records. The policy set is
parsed once; entities and context are built afresh for every request, as the naive peer builds its
attribute objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import cedarpy

from bench.cases import Case
from bench.naive.attributes import Resource, Subject, contracted_pairs, resource, subject
from gateway.decision.facts import Facts
from gateway.registry.snapshot import RegistrySnapshot

POLICY = Path(__file__).resolve().parent / "policy.cedar"
READ = {"type": "Action", "id": "read"}
Entity = dict[str, Any]


def load_policies() -> cedarpy.PolicySet:
    return cedarpy.PolicySet.from_str(POLICY.read_text(encoding="utf-8"))


def person_entity(facts: Facts, sub: Subject, today: date) -> Entity:
    return {
        "uid": {"type": "Person", "id": facts.person_id},
        "attrs": {
            "known": sub.known,
            "kind": sub.kind,
            "organ": sub.organ,
            "office": sub.office,
            "certified_by": list(sub.certified_by),
            "contracted": [{"organ": o, "designation": d} for o, d in contracted_pairs(facts, today)],
        },
        "parents": [],
    }


def document_entity(facts: Facts, obj: Resource) -> Entity:
    return {
        "uid": {"type": "Document", "id": facts.document_id},
        "attrs": {
            "known": obj.known,
            "classified": obj.classified,
            "designation": obj.designation,
            "organ": obj.organ,
            "tier": obj.tier,
            "designated_on": obj.designated_on,
            "expires_on": obj.expires_on,
            "cancelled_on": obj.cancelled_on,
        },
        "parents": [],
    }


def context(sub: Subject, today: date) -> dict[str, Any]:
    return {
        "today": today.toordinal(),
        "esi": {"result": sub.esi_result, "status": sub.esi_status, "through": sub.esi_through},
        "sds": {"result": sub.sds_result, "status": sub.sds_status, "through": sub.sds_through},
        "roster": {"valid_from": sub.roster_from, "valid_until": sub.roster_until},
    }


def cedar_request(facts: Facts, today: date, action: str = "read") -> tuple[dict[str, Any], list[Entity]]:
    """The Cedar request for (person, document, action) and the two entities it names."""
    sub, obj = subject(facts, today), resource(facts)
    request = {"principal": {"type": "Person", "id": facts.person_id},
               "action": READ if action == "read" else {"type": "Action", "id": action},
               "resource": {"type": "Document", "id": facts.document_id}, "context": context(sub, today)}
    return request, [person_entity(facts, sub, today), document_entity(facts, obj)]


class CedarDecider:
    """allow/deny for (person, document, read) on `today`: one `cedarpy.is_authorized` per request."""

    def __init__(self, snapshot: RegistrySnapshot, today: date):
        self.policies = load_policies()
        self.snapshot = snapshot
        self.today = today

    def __call__(self, person_id: str, document_id: str) -> bool:
        return self.authorize(self.snapshot.facts(person_id, document_id)).allowed

    def authorize(self, facts: Facts, action: str = "read") -> cedarpy.AuthzResult:
        request, entities = cedar_request(facts, self.today, action)
        return cedarpy.is_authorized(request, self.policies, entities)

    def authorize_batch(self, cases: Sequence[Case]) -> list[cedarpy.AuthzResult]:
        """One `cedarpy.is_authorized_batch` over `cases`, with the entities they name (each once: a
        person's and a document's entity attributes do not depend on the other side of the pair)."""
        requests, entities = [], {}
        for person_id, document_id in cases:
            request, pair = cedar_request(self.snapshot.facts(person_id, document_id), self.today)
            requests.append(request)
            for entity in pair:
                entities[(entity["uid"]["type"], entity["uid"]["id"])] = entity
        return cedarpy.is_authorized_batch(requests, self.policies, list(entities.values()))

    def batch(self, cases: Sequence[Case]) -> list[bool]:
        return [result.allowed for result in self.authorize_batch(cases)]
