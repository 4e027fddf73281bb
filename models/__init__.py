"""The SQLModel data model: registry tables, logs, and the shapes derived from them."""

from models.logs import ChangeEvent, DecisionRecord
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
    RosterEntry,
)

__all__ = [
    "Assessment",
    "Certification",
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
    "RosterEntry",
]
