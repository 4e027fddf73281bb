"""Fixtures of the production tests: what the replicas serve, and the bytes each release must carry."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.demo import demo_bundle
from tests.production.replicas import BIG_DOCUMENT


@pytest.fixture(scope="session")
def big_document() -> bytes:
    return os.urandom(256 * 1024 + 7)  # five 64 KiB chunks: a release still streaming when a replica dies


@pytest.fixture(scope="session")
def contents(big_document: bytes) -> dict[str, bytes]:
    """Every document's content by id, as the demo registry and the upload give it."""
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Tokyo")).date()
    documents = demo_bundle(today)["documents"]
    return {d["id"]: base64.b64decode(d["content_base64"]) for d in documents} | {BIG_DOCUMENT: big_document}
