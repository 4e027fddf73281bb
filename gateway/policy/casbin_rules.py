"""Casbin, behind the core's `Rules` interface: the only module of the gateway that imports it.

The gateway gives Casbin the model (`model.conf`) and the rows it has already read and checked
(`files.py`); Casbin's own file adapter never runs and nothing is written back. What the rest of the
gateway knows of the model is its `ModelShape`: each section's fields and the matcher's text.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import casbin
from casbin.model import Model
from casbin.persist import Adapter

from gateway.decision.policy import Row
from gateway.decision.policy_context import GATEWAY_ROWS

# Casbin logs the whole model at every load and a warning with the request at every deny; the
# gateway keeps its own decision log, so Casbin's loggers only speak on errors. Set when the gateway
# first compiles a policy (not at import), so that importing this module changes no global state.
_QUIET = ("casbin", "casbin.policy", "casbin.enforcer", "casbin.role_manager")


class ModelError(Exception):
    """model.conf does not parse, or Casbin refuses the rows."""


@dataclass(frozen=True, slots=True)
class ModelShape:
    """What model.conf declares: each section key's fields (`r` -> (r_sub, r_obj, ...)) and the matcher."""

    fields: dict[str, tuple[str, ...]]
    matcher: str | None

    def tokens(self, key: str) -> tuple[str, ...] | None:
        return self.fields.get(key)

    @property
    def has_ctx(self) -> bool:
        return "r_ctx" in self.fields.get("r", ())


def read_model(path: Path) -> tuple[Model, ModelShape]:
    """Parse model.conf; raise ModelError with Casbin's complaint."""
    try:
        model = casbin.Enforcer.new_model(str(path))
    except Exception as exc:  # Casbin raises bare errors for a malformed model
        raise ModelError(str(exc)) from exc
    fields = {key: tuple(assertion.tokens) for sec in model.model.values() for key, assertion in sec.items()}
    matcher = model.model.get("m", {}).get("m")
    return model, ModelShape(fields, matcher.value if matcher is not None else None)


class _Enforcer(casbin.Enforcer):
    """Casbin's enforcer, parsing each matcher expression once: pycasbin parses the matcher with the
    row's rule substituted on every call, which made a first-time evaluation cost milliseconds. The
    parsed expressions are kept for the life of the policy (rows never change; `CasbinRules` holds its
    lock around every call, so the evaluator's per-call names are never shared between threads)."""

    def __init__(self, *args: object) -> None:
        self._parsed: dict[str, object] = {}
        super().__init__(*args)

    def _get_expression(self, expr, functions=None):
        parsed = self._parsed.get(expr)
        if parsed is None:
            parsed = self._parsed[expr] = casbin.Enforcer._get_expression(expr, functions)
        return parsed


class _RowsAdapter(Adapter):
    """Feeds the checked rows to Casbin: the policy is loaded from our files, never written back."""

    def __init__(self, rows: Iterable[Row]):
        self._rows = list(rows)

    def load_policy(self, model: Model) -> None:
        for row in self._rows:
            if row.ptype in GATEWAY_ROWS:
                continue
            model.model[row.ptype[0]][row.ptype].policy.append(list(row.values))


class CasbinRules:
    """The core's `Rules`, answered by Casbin. Casbin is not thread-safe (and CPython 3.11's ast.parse,
    which it calls, fails when threads race in it): every call holds this object's lock. The core
    memoizes the answers, so Casbin runs once per distinct attribute vector."""

    def __init__(self, model: Model, rows: Iterable[Row]):
        for name in _QUIET:
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            self._enforcer = _Enforcer(model, _RowsAdapter(rows))
        except Exception as exc:
            raise ModelError(str(exc)) from exc
        self._lock = threading.Lock()

    def allows(self, request: tuple[object, ...], probe: str) -> bool:
        """The model's effect over the rows whose reason column is `probe` (`*`: every row)."""
        with self._lock:
            return bool(self._enforcer.enforce(*request, probe))

    def matches(self, request: tuple[object, ...], probe: str) -> bool:
        """Whether some row whose reason column is `probe` matches the request (whatever its effect)."""
        with self._lock:
            return bool(self._enforcer.enforce_ex(*request, probe)[1])
