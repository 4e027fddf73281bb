"""The wiring of one gateway process: built once from Settings, handed to routes as a dependency."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import Engine

from gateway.audit.chain import Signer
from gateway.audit.decision_sink import DecisionSink
from gateway.audit.group_commit import GroupCommitter
from gateway.audit.remote_log import RemoteLog
from gateway.auth import DevelopmentIssuer, TokenVerifier, keys_from_jwks
from gateway.db import SchemaRefused, ensure_schema, make_engine
from gateway.keys import checkpoint_signer, dev_issuer_path, master_key
from gateway.policy.holder import PolicyHolder, PolicyWatcher
from gateway.ports import DecisionLog
from gateway.registry.changes import record_policy_swap
from gateway.registry.facts_source import RegistryFacts
from gateway.registry.invalidation import ChangeListener, on_local_commit
from gateway.registry.resolver import FactResolver
from gateway.search import SearchService
from gateway.service import Clock, DecisionService, system_clock
from gateway.settings import Settings
from gateway.store import DocumentStore, FilesystemBackend

log = structlog.get_logger("gateway")


@dataclass
class Container:
    settings: Settings
    engine: Engine
    policies: PolicyHolder
    resolver: FactResolver
    verifier: TokenVerifier
    store: DocumentStore
    decisions: DecisionService
    search: SearchService
    dev_issuer: DevelopmentIssuer | None = None
    signer: Signer | None = None
    watcher: PolicyWatcher | None = None
    listener: ChangeListener | None = None

    def start(self) -> None:
        """Background work of a serving process: the policy watcher and, on PostgreSQL, the change listener."""
        self.watcher = PolicyWatcher(self.policies, self.settings.policy_watch_seconds)
        self.watcher.start()
        self.listener = ChangeListener.for_engine(
            self.engine, on_change=self._on_change, on_state=self.resolver.set_listening
        )
        if self.listener is not None:
            self.listener.start()

    def _on_change(self, entities: set[str]) -> None:
        """Another process (or this one) committed changes: check the registry, and the policy files."""
        self.resolver.touch()
        if "policy" in entities:
            try:
                self.policies.poll()
            except Exception as exc:  # the watcher polls again; the listener must keep listening
                log.error("policy.poll_failed", error=type(exc).__name__)

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        if self.watcher is not None:
            self.watcher.stop()
        self.decisions.log.close()  # graceful: what is pending is committed first
        self.resolver.close()
        self.engine.dispose()


def build_container(settings: Settings, clock: Clock = system_clock) -> Container:
    engine = make_engine(settings)
    try:
        ensure_schema(engine, settings.auto_migrate)
    except SchemaRefused:
        engine.dispose()
        raise
    policies = PolicyHolder(settings.policy_dir, settings.zone)
    resolver = FactResolver(engine, settings.cache_max_age_seconds)
    on_local_commit(engine, resolver.touch)
    dev_issuer = None
    if settings.jwks_file is not None:
        keys = keys_from_jwks(settings.jwks_file)
    else:
        dev_issuer = DevelopmentIssuer(dev_issuer_path(settings), settings.jwt_issuer, settings.jwt_audience)
        keys = [dev_issuer.verification_key]
        log.warning(
            "auth.development_key",
            detail="GATEWAY_JWKS_FILE is not set: tokens are signed by a "
            "development key on this machine. Never run like this in production.",
        )
    verifier = TokenVerifier(keys, settings.jwt_issuer, settings.jwt_audience)
    store = DocumentStore(FilesystemBackend(settings.document_dir), master_key(settings))
    signer = checkpoint_signer(settings)
    decision_log: DecisionLog
    if settings.log_socket is not None:  # `serve`: the host's writer process owns the decision log
        decision_log = RemoteLog(settings.log_socket, max_wait=settings.log_max_wait_seconds)
    else:
        decision_log = GroupCommitter(DecisionSink(engine, signer), max_wait=settings.log_max_wait_seconds)
    decisions = DecisionService(RegistryFacts(resolver), decision_log, policies, settings.zone, clock)
    policies.on_swap.append(lambda before, after, actor: record_policy_swap(engine, before, after, actor))
    search = SearchService(decisions, store.master.subkey("search page tokens"))
    return Container(
        settings, engine, policies, resolver, verifier, store, decisions, search, dev_issuer, signer=signer
    )
