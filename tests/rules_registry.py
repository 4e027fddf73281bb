"""The registry that puts every rule at its edges: policy/tests/registry.yaml, the one the policy's own
suites run on (see tests/policy/test_rules.py), with a content for each document so that it can be imported
and released (document D-X under designation G-X holds the bytes `G-X`)."""

from __future__ import annotations

import base64
import copy
from functools import cache
from typing import Any

import yaml

from tests.support import POLICY_DIR


@cache
def _registry() -> dict[str, Any]:
    text = (POLICY_DIR / "tests" / "registry.yaml").read_text(encoding="utf-8")
    bundle: dict[str, Any] = yaml.safe_load(text)
    for document in bundle["documents"]:
        content = (document.get("designation_id") or "").encode()
        document["content_base64"] = base64.b64encode(content).decode()
    return bundle


def rules_bundle() -> dict[str, Any]:
    """A fresh copy each call: the tests add to it and change it."""
    return copy.deepcopy(_registry())
