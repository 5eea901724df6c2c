"""Hotline's storage: accounts, skills, customers (CRM), call records, agent state history
and preset groups in one SQLite file. See :mod:`cti.store.store` and docs/storage.md."""

from cti.store.errors import (
    Conflict,
    InvalidData,
    NotFound,
    NotHotlineDatabase,
    SchemaTooNew,
    StoreError,
)
from cti.store.models import (
    UNSET,
    Agent,
    AgentStateChange,
    CallLeg,
    CallOutcome,
    CallRecord,
    Customer,
    Direction,
    Disposition,
    Group,
    ImportReport,
    RowError,
    SeedReport,
    Transfer,
    Unset,
)
from cti.store.passwords import ScryptParams
from cti.store.phones import normalize_phone
from cti.store.store import MAX_PAGE, Store, Synchronous

__all__ = [
    "MAX_PAGE",
    "UNSET",
    "Agent",
    "AgentStateChange",
    "CallLeg",
    "CallOutcome",
    "CallRecord",
    "Conflict",
    "Customer",
    "Direction",
    "Disposition",
    "Group",
    "ImportReport",
    "InvalidData",
    "NotFound",
    "NotHotlineDatabase",
    "RowError",
    "SchemaTooNew",
    "ScryptParams",
    "SeedReport",
    "Store",
    "StoreError",
    "Synchronous",
    "Transfer",
    "Unset",
    "normalize_phone",
]
