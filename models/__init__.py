"""The SQLModel data model: registry tables, logs, and the shapes derived from them."""

from models import audit_indexes  # noqa: F401  (the auditors' indexes)
from models.logs import ChainHead, ChangeEvent, Checkpoint, DecisionRecord
from models.registry import (
    Assessment,
    Certification,
    Contract,
    ContractDesignation,
    Designation,
    DesignationEvent,
    Document,
    Operator,
    Organ,
    Person,
    Provision,
    RecordVersion,
    RosterEntry,
    StatusPeriod,
)

__all__ = [
    "Assessment",
    "Certification",
    "ChainHead",
    "Checkpoint",
    "ChangeEvent",
    "Contract",
    "ContractDesignation",
    "DecisionRecord",
    "Designation",
    "DesignationEvent",
    "Document",
    "Operator",
    "Organ",
    "Person",
    "Provision",
    "RecordVersion",
    "RosterEntry",
    "StatusPeriod",
]
