"""A registry change moves the snapshot forward by patching only what the change events name.

After every kind of change an administrator can make, the patched snapshot must equal one read whole
from the database: the patch is an optimisation, never a different answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.db import READ_ONLY
from gateway.registry.loading import load_snapshot
from gateway.registry.patching import PATCH_LIMIT
from gateway.registry.snapshot import RegistrySnapshot
from tests.rules_registry import rules_bundle
from tests.support import Gateway


def whole(gw: Gateway) -> RegistrySnapshot:
    engine = gw.container.engine
    options = READ_ONLY if engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        return load_snapshot(conn)


def call(gw: Gateway, method: str, path: str, body: Any = None) -> None:
    response = gw.client.request(method, "/v1/admin" + path, json=body, headers=gw.keys.auth("registry:admin"))
    assert response.status_code in (200, 201), response.text


PARTS = ("persons", "documents", "designations", "assessments", "certifications", "contracts", "roster", "history")
CHANGES: list[tuple[str, str, str, Any]] = [
    ("suspend an assessment", "POST", "/assessments/A-OK/suspend", None),
    ("reinstate it", "POST", "/assessments/A-OK/reinstate", None),
    ("revoke a certification", "POST", "/certifications/CERT-ACME/revoke", None),
    ("add a roster entry", "PUT", "/rosters/G-SDS/P-NOROSTER", {"valid_from": "2026-01-01"}),
    ("change its dates", "PUT", "/rosters/G-SDS/P-NOROSTER", {"valid_from": "2026-02-01", "valid_until": "2026-12-31"}),
    ("remove a roster entry", "DELETE", "/rosters/G-ESI/P-OK", None),
    ("put them back on it: a second period", "PUT", "/rosters/G-ESI/P-OK", {"valid_from": "2026-06-10"}),
    ("extend a designation", "POST", "/designations/G-SDS/extend", {"expires_on": "2031-05-31"}),
    ("cancel a designation", "POST", "/designations/G-ESI/cancel", {"cancelled_on": "2026-07-01"}),
    (
        "move a person to another department",
        "PUT",
        "/persons/C-OK",
        {"name": "Name of C-OK", "kind": "contractor", "operator_id": "ACME", "department": "Sales"},
    ),
    (
        "add an assessment",
        "PUT",
        "/assessments/A-NEW",
        {
            "person_id": "P-NONE",
            "organ_id": "METI",
            "scheme": "esi",
            "result": "favourable",
            "notified_on": "2026-01-05",
            "status": "active",
        },
    ),
    (
        "narrow a contract",
        "PUT",
        "/contracts/K-ACME",
        {
            "operator_id": "ACME",
            "organ_id": "METI",
            "starts_on": "2025-04-01",
            "ends_on": "2027-03-31",
            "designation_ids": ["G-SDS"],
            "departments": ["R&D"],
        },
    ),
    ("delete a contract", "DELETE", "/contracts/K-GAMMA", None),
    ("add a person", "PUT", "/persons/P-LATE", {"name": "Late", "kind": "government", "organ_id": "METI"}),
]


def test_every_kind_of_change_is_patched_to_what_a_full_read_gives(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    resolver = gateway.container.resolver
    assert resolver.current() == whole(gateway)
    for what, method, path, body in CHANGES:
        patches, rebuilds = resolver.patches, resolver.rebuilds
        call(gateway, method, path, body)
        patched = resolver.current()
        assert resolver.patches == patches + 1, f"{what}: not patched"
        assert resolver.rebuilds == rebuilds + 1
        fresh = whole(gateway)
        assert patched.version == fresh.version, what
        for part in PARTS:
            assert getattr(patched, part) == getattr(fresh, part), f"{what}: {part} differs"


def test_the_patch_answers_the_new_question_not_the_memoized_one(gateway: Gateway) -> None:
    gateway.import_bundle(rules_bundle())
    assert gateway.codes("P-OK", "D-ESI") == []  # memoized in the snapshot
    call(gateway, "DELETE", "/rosters/G-ESI/P-OK")
    assert gateway.codes("P-OK", "D-ESI") == ["not_on_roster"]


def test_a_large_import_is_read_whole(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.registry.patching as snapshot

    gateway.import_bundle(rules_bundle())
    resolver = gateway.container.resolver
    resolver.current()
    monkeypatch.setattr(snapshot, "PATCH_LIMIT", 3)
    bundle = rules_bundle()
    bundle["persons"] = [{**p, "department": "Moved"} for p in bundle["persons"]]
    gateway.import_bundle(bundle)
    patches = resolver.patches
    assert resolver.current() == whole(gateway)
    assert resolver.patches == patches  # more events than the limit: a full read
    assert PATCH_LIMIT >= 1000


def test_an_import_that_updates_records_is_patched_too(gateway: Gateway) -> None:
    """An import's update event carries only the columns that changed: the owner comes from the record."""
    gateway.import_bundle(rules_bundle())
    resolver = gateway.container.resolver
    resolver.current()
    bundle = rules_bundle()
    for assessment in bundle["assessments"]:
        if assessment["id"] == "A-OK":
            assessment["status"] = "suspended"
    for roster in bundle["rosters"]:
        if roster["designation_id"] == "G-ESI" and roster["person_id"] == "P-OK":
            roster["until"] = "2026-05-31"
    for contract in bundle["contracts"]:
        if contract["id"] == "K-ACME":
            contract["departments"] = ["Sales"]
    for certification in bundle["certifications"]:
        if certification["id"] == "CERT-EPS":
            certification["status"] = "suspended"
    patches = resolver.patches
    gateway.import_bundle(bundle)
    patched = resolver.current()
    assert resolver.patches == patches + 1
    fresh = whole(gateway)
    for part in PARTS:
        assert getattr(patched, part) == getattr(fresh, part), part
    assert gateway.codes("P-OK", "D-ESI") == ["clearance_suspended", "not_on_roster"]
