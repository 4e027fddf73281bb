"""R2: the decision log and the change log as hash chains, with signed checkpoints.

Entry n's hash is sha256(hash of entry n-1, newline, the canonical JSON of entry n's content, which
includes n itself). Changing an entry breaks its own hash; deleting or reordering entries breaks the
links; cutting the tail off leaves the chain head (and any later checkpoint) pointing past the end.
Writers append inside their own transaction, holding the chain head's row lock, so the chain order
is the commit order and many entries of one transaction cost one lock.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, DateTime, Engine, Table, insert, select, update

from models import ChainHead, ChangeEvent, Checkpoint, DecisionRecord
from models.types import UTCDateTime

GENESIS = "0" * 64
CHAINS: dict[str, Table] = {
    "decisions": DecisionRecord.__table__,  # type: ignore[attr-defined]
    "changes": ChangeEvent.__table__,  # type: ignore[attr-defined]
}
_NOT_CONTENT = {"seq", "prev_hash", "hash"}
_HEADS = ChainHead.__table__  # type: ignore[attr-defined]
_CHECKPOINTS = Checkpoint.__table__  # type: ignore[attr-defined]


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def content_columns(chain: str) -> list[str]:
    return [c.name for c in CHAINS[chain].c if c.name not in _NOT_CONTENT]


# Per chain, once: the content columns, and those holding instants (normalised to UTC before hashing).
# Every other value goes to orjson as it is; orjson writes a date as isoformat() does.
_CONTENT = {chain: content_columns(chain) for chain in CHAINS}
_INSTANTS = {
    chain: [c.name for c in table.c if c.name in _CONTENT[chain] and isinstance(c.type, UTCDateTime | DateTime)]
    for chain, table in CHAINS.items()
}


def entry_hash(prev_hash: str, chain: str, row: dict[str, Any]) -> str:
    content = {c: row.get(c) for c in _CONTENT[chain]}
    for column in _INSTANTS[chain]:
        content[column] = plain(content[column])
    canonical = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical).hexdigest()


@dataclass
class Signer:
    """Signs checkpoints with an Ed25519 key; `every` entries of a chain make one checkpoint."""

    key: Ed25519PrivateKey
    key_id: str
    every: int = 1000

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()


def checkpoint_message(chain: str, index: int, hash_: str, signed_at: datetime) -> bytes:
    return f"clearance-gateway checkpoint v1\n{chain}\n{index}\n{hash_}\n{plain(signed_at)}".encode()


def append(conn: Connection, chain: str, rows: list[dict[str, Any]], signer: Signer | None = None) -> None:
    """Chain and insert `rows` in the caller's transaction (the commit makes them durable)."""
    if not rows:
        return
    query = select(_HEADS.c.chain_index, _HEADS.c.hash).where(_HEADS.c.chain == chain)
    if conn.dialect.name != "sqlite":  # SQLite: BEGIN IMMEDIATE already holds the only write lock
        query = query.with_for_update()
    head = conn.execute(query).one()
    index, prev = int(head.chain_index), head.hash
    due = []  # every multiple of `every` reached: a checkpoint at each, so verify can require them all
    for row in rows:
        index += 1
        row["chain_index"] = index
        row["prev_hash"] = prev
        row["hash"] = prev = entry_hash(prev, chain, row)
        if signer is not None and index % signer.every == 0:
            due.append((index, prev))
    conn.execute(insert(CHAINS[chain]), rows)
    conn.execute(update(_HEADS).where(_HEADS.c.chain == chain).values(chain_index=index, hash=prev))
    for at, hash_ in due:
        sign_checkpoint(conn, chain, at, hash_, signer)  # type: ignore[arg-type]


def sign_checkpoint(conn: Connection, chain: str, index: int, hash_: str, signer: Signer) -> dict[str, Any]:
    signed_at = datetime.now(UTC)
    signature = signer.key.sign(checkpoint_message(chain, index, hash_, signed_at))
    row = {
        "chain": chain,
        "chain_index": index,
        "hash": hash_,
        "signed_at": signed_at,
        "key_id": signer.key_id,
        "signature": base64.b64encode(signature).decode(),
    }
    conn.execute(insert(_CHECKPOINTS).values(**row))
    return row


def checkpoint_now(engine: Engine, signer: Signer) -> list[dict[str, Any]]:
    """Sign the current head of every chain (the CLI's `audit checkpoint`)."""
    made = []
    with engine.begin() as conn:
        for chain in CHAINS:
            query = select(_HEADS.c.chain_index, _HEADS.c.hash).where(_HEADS.c.chain == chain)
            if conn.dialect.name != "sqlite":
                query = query.with_for_update()
            head = conn.execute(query).one()
            if head.chain_index:
                made.append(sign_checkpoint(conn, chain, int(head.chain_index), head.hash, signer))
    return made


# --- verification ----------------------------------------------------------------------------------------


@dataclass
class ChainReport:
    chain: str
    checked: int = 0
    first_bad: dict[str, Any] | None = None
    checkpoints_checked: int = 0

    def bad(self, index: int, problem: str, **where: Any) -> None:
        if self.first_bad is None:
            self.first_bad = {"chain": self.chain, "index": index, "problem": problem, **where}


@dataclass
class VerifyReport:
    chains: list[ChainReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.first_bad is None for c in self.chains)

    @property
    def checked(self) -> int:
        return sum(c.checked for c in self.chains)

    def as_dict(self) -> dict[str, Any]:
        first_bad = next((c.first_bad for c in self.chains if c.first_bad), None)
        body: dict[str, Any] = {"ok": self.ok, "checked": self.checked}
        if first_bad is not None:
            body["first_bad"] = first_bad
        body["chains"] = {
            c.chain: {"checked": c.checked, "checkpoints": c.checkpoints_checked, "ok": c.first_bad is None}
            for c in self.chains
        }
        return body


def _entries(conn: Connection, chain: str, chunk: int = 5000) -> Iterator[dict[str, Any]]:
    table = CHAINS[chain]
    last = None
    while True:
        query = select(table).order_by(table.c.chain_index, table.c.seq).limit(chunk)
        if last is not None:
            query = query.where(table.c.chain_index > last)
        rows = conn.execute(query).mappings().all()
        if not rows:
            return
        yield from (dict(r) for r in rows)
        last = rows[-1]["chain_index"]


def _label(chain: str, row: dict[str, Any]) -> dict[str, Any]:
    key = "decision_id" if chain == "decisions" else "seq"
    return {key: row.get(key)}


def verify_chain(
    conn: Connection,
    chain: str,
    public_key: Ed25519PublicKey | None,
    progress: Any = None,
    *,
    every: int | None = None,
    kept: list[dict[str, Any]] | None = None,
) -> ChainReport:
    """Every entry, link and checkpoint of one chain. `every`: a checkpoint is required at each multiple
    of it up to the head (the decision chain signs them as it goes). `kept`: checkpoints an auditor kept
    outside the database (`audit checkpoint --export`), which must match the log as well."""
    report = ChainReport(chain)
    prev, expected, hashes_at = GENESIS, 1, {}
    stored = conn.execute(select(_CHECKPOINTS).where(_CHECKPOINTS.c.chain == chain)).mappings().all()
    checkpoints: list[Any] = [*stored, *(c for c in kept or [] if c.get("chain") == chain)]
    wanted = {int(c["chain_index"]) for c in checkpoints}
    for row in _entries(conn, chain):
        index = int(row["chain_index"])
        report.checked += 1
        if progress:
            progress(1)
        if index != expected:
            problem = f"entries {expected} to {index - 1} are missing" if index > expected else "entry out of order"
            report.bad(expected, problem, **_label(chain, row))
        elif row["prev_hash"] != prev:
            report.bad(
                index, "does not link to the entry before it (removed, inserted or reordered)", **_label(chain, row)
            )
        elif entry_hash(prev, chain, row) != row["hash"]:
            report.bad(index, "content altered: its hash does not match", **_label(chain, row))
        if index in wanted:
            hashes_at[index] = row["hash"]
        prev, expected = row["hash"], index + 1
    head = conn.execute(select(_HEADS).where(_HEADS.c.chain == chain)).mappings().first()
    if head is not None and int(head["chain_index"]) > expected - 1:
        report.bad(
            expected,
            f"the chain head says {head['chain_index']} entries but the log ends at "
            f"{expected - 1}: entries were removed from the end",
        )
    elif head is not None and int(head["chain_index"]) == expected - 1 and head["hash"] != prev and expected > 1:
        report.bad(expected - 1, "the last entry does not match the chain head")
    for checkpoint in checkpoints:
        index = int(checkpoint["chain_index"])
        where = {"checkpoint": checkpoint["seq"]} if "seq" in checkpoint else {"kept_checkpoint": index}
        report.checkpoints_checked += 1
        if public_key is not None:
            try:
                public_key.verify(
                    base64.b64decode(checkpoint["signature"]),
                    checkpoint_message(chain, index, checkpoint["hash"], checkpoint["signed_at"]),
                )
            except Exception:
                report.bad(index, "a checkpoint's signature does not verify", **where)
                continue
        if hashes_at.get(index) != checkpoint["hash"]:
            report.bad(index, "the log no longer matches a signed checkpoint: entries up to it were rewritten", **where)
    if every:
        last = max(expected - 1, int(head["chain_index"]) if head is not None else 0)
        _require_checkpoints(report, {int(c["chain_index"]) for c in stored}, every, last)
    return report


def _require_checkpoints(report: ChainReport, indexes: set[int], every: int, last: int) -> None:
    """A checkpoint in each stretch [k*every, (k+1)*every) up to `last`: deleting checkpoint rows (and
    rewriting the chain consistently) is then caught too."""
    covered = {index // every for index in indexes}
    for k in range(1, last // every + 1):
        if k not in covered:
            report.bad(k * every, f"no signed checkpoint at entry {k * every}: checkpoints were removed")
            return


def verify(
    engine: Engine,
    public_key: Ed25519PublicKey | None,
    progress: Any = None,
    *,
    every: int | None = None,
    kept: list[dict[str, Any]] | None = None,
) -> VerifyReport:
    """Both chains. `every`: the decision chain's checkpoint interval, each of which must hold a
    checkpoint (the change chain is signed by `audit checkpoint` only). `kept`: see verify_chain."""
    options = {"gateway_read_only": True} if engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
    report = VerifyReport()
    with engine.connect().execution_options(**options) as conn, conn.begin():
        for chain in CHAINS:
            required = every if chain == "decisions" else None
            report.chains.append(verify_chain(conn, chain, public_key, progress, every=required, kept=kept))
    return report
