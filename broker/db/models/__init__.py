"""The broker's tables (SQLAlchemy 2 declarative), one module per concept. Every row belongs
to one organization.

Secrets are never stored as given: session, ticket and enrollment tokens, agent enrollment
codes and recovery codes as SHA-256 digests (they carry 128+ bits of entropy, so a fast hash
cannot be reversed), passwords as argon2id, TOTP secrets and CA keys AES-GCM encrypted.
Times are UTC (``UtcDateTime``).
The schema itself is created by the Alembic migrations in ``broker/db/migrations``; a test
compares these models with the migrated database on SQLite and PostgreSQL.

Importing this package registers every table on ``Base.metadata`` (the migration
environment and that test compare against all of it), so callers import models from here.
"""

from __future__ import annotations

from broker.db.models.access import (
    GRANT_ACCESS,
    VENDOR_REQUEST_STATES,
    Grant,
    GrantWindow,
    OpeningWindowRow,
    OrgPolicy,
    SourceNetwork,
    VendorRequest,
    ViewerTicket,
)
from broker.db.models.agents import AgentCertificate, AgentEnrollmentCode, Host, OrganizationCa
from broker.db.models.alerts import Alert, AlertDelivery, AlertSettings
from broker.db.models.audit import AuditChainHead, AuditCheckpoint, AuditEvent
from broker.db.models.base import NAMING, Base, BigId, UtcDateTime
from broker.db.models.devices import DEVICE_STATES, DeviceChallenge, ViewingDevice
from broker.db.models.identity import (
    ROLES,
    SESSION_STAGES,
    BrowserSession,
    EnrollmentToken,
    Lockout,
    Passkey,
    PasswordHistory,
    RecoveryCode,
    TotpCredential,
    User,
)
from broker.db.models.live import OpenSession
from broker.db.models.organizations import DEFAULT_TIME_ZONE, Organization
from broker.db.models.report import ReportReview

__all__ = [
    "DEFAULT_TIME_ZONE",
    "DEVICE_STATES",
    "GRANT_ACCESS",
    "NAMING",
    "ROLES",
    "SESSION_STAGES",
    "VENDOR_REQUEST_STATES",
    "AgentCertificate",
    "AgentEnrollmentCode",
    "Alert",
    "AlertDelivery",
    "AlertSettings",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditEvent",
    "Base",
    "BigId",
    "BrowserSession",
    "DeviceChallenge",
    "EnrollmentToken",
    "Grant",
    "GrantWindow",
    "Host",
    "Lockout",
    "OpenSession",
    "OpeningWindowRow",
    "OrgPolicy",
    "Organization",
    "OrganizationCa",
    "Passkey",
    "PasswordHistory",
    "RecoveryCode",
    "ReportReview",
    "SourceNetwork",
    "TotpCredential",
    "User",
    "UtcDateTime",
    "VendorRequest",
    "ViewerTicket",
    "ViewingDevice",
]
