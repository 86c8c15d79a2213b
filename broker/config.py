"""Broker settings, read once from the environment at start.

Fail closed: outside ``MAMORI_ENV=dev`` the broker refuses to start with a missing, short or
placeholder secret key (like the FastAPI template's ``_enforce_non_default_secrets``), and
TLS is never optional.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from broker.errors import ConfigError

# 32 bytes = 256 bits: AES-256-GCM for TOTP secrets and HMAC keys are derived from it.
SECRET_KEY_BYTES = 32
# Values people paste from examples; refused even when long enough.
_PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "secret", "password", "mamori", "dev", "test", "placeholder"}
)
DEFAULT_DATA_DIR = Path("data")


def default_database_url(data_dir: Path) -> str:
    """The embedded default: one SQLite file in the (git-ignored) data folder."""
    return f"sqlite+aiosqlite:///{(data_dir / 'mamori.db').resolve()}"


def decode_secret_key(value: str) -> bytes:
    """``MAMORI_SECRET_KEY`` as bytes: base64url of at least 32 random bytes.

    Raises:
        ConfigError: missing, a placeholder, not base64url, or too short.
    """
    if not value:
        raise ConfigError("MAMORI_SECRET_KEY is not set (python -m broker gen-secret-key)")
    if value.strip().lower() in _PLACEHOLDERS:
        raise ConfigError("MAMORI_SECRET_KEY is a placeholder; generate a random key")
    try:
        key = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("MAMORI_SECRET_KEY must be base64url") from exc
    if len(key) < SECRET_KEY_BYTES:
        raise ConfigError(f"MAMORI_SECRET_KEY must hold at least {SECRET_KEY_BYTES} random bytes")
    if len(set(key)) < 8:
        raise ConfigError("MAMORI_SECRET_KEY is not random (too few distinct bytes)")
    return key


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number") from exc
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number") from exc
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "on", "yes"}:
        return True
    if raw in {"0", "false", "off", "no"}:
        return False
    raise ConfigError(f"{name} must be on or off")


@dataclass(frozen=True)
class Settings:
    """Everything the broker needs to start.

    Attributes:
        environment: ``dev`` or ``production``; dev changes nothing but what the demo needs.
        secret_key: MAMORI_SECRET_KEY, base64url; TOTP secrets are encrypted under a key
            derived from it, so losing it means every user re-enrolls TOTP.
        tls_cert: PEM server certificate (chain) file.
        tls_key: PEM private key of ``tls_cert``.
        database_url: SQLAlchemy async URL; SQLite (aiosqlite) by default, PostgreSQL with
            ``postgresql+asyncpg://...``.
        host: address to bind.
        port: port to bind; 0 picks a free one (tests).
        public_url: the origin people type (``https://name:port``); WebAuthn checks it and
            enrollment links start with it. Defaults to ``https://{rp_id}:{port}``.
        rp_id: the WebAuthn relying party id, a host name (never an IP address: browsers
            refuse passkeys there), ``localhost`` by default.
        trusted_proxies: addresses whose X-Forwarded-For is believed (uvicorn's
            forwarded_allow_ips); the lockout counts failures per source address.
        idle_timeout_s: a session unused this long ends (default 15 min; MHLW.md row 8).
        session_lifetime_s: absolute session lifetime (default 12 h; MHLW.md row 8).
        lockout_threshold: failures within ``lockout_window_s`` that lock (default 5).
        lockout_window_s: the window failures are counted in (default 15 min).
        lockout_duration_s: how long a lock lasts (default 15 min).
        invite_ttl_s: lifetime of an invitation or enrollment link (default 24 h).
        ticket_ttl_s: lifetime of a viewer WebSocket ticket (default 30 s).
        remote_idle_s: a remote session without input this long is blanked and the second
            factor asked again (default 10 min; MHLW.md row 8 クリアスクリーン).
        remote_max_s: the longest a remote session may last (default 8 h; MHLW.md row 8).
        remote_warn_s: the viewer is warned this long before the maximum (default 5 min).
        watermark: burn the viewer's name, clinic, time and session into the pixels.
        block_local_input: disable the host's own keyboard and mouse during a session.
        end_on_violation: end the session when the viewer breaks the pixel-only policy
            (the attempt is audited either way).
        smtp_host: the mail server alerts are sent through; empty: no alert mail.
        smtp_port: its port (587, submission, by default).
        smtp_from: the From address of alert mail.
        smtp_user: the account to log in with (empty: no login).
        smtp_password: its password.
        smtp_starttls: upgrade the connection with STARTTLS (certificate verified) before
            anything is sent; a login is refused without it except to a loopback server.
        alert_poll_s: how often the delivery worker looks for due alert deliveries.
        alert_retry_base_s: the first retry waits about this long, each next one twice as
            long (with jitter), capped by ``alert_retry_max_s``.
        alert_retry_max_s: the longest wait between two attempts.
        alert_max_attempts: attempts per delivery before it is given up (and audited).
        alert_check_s: how often the periodic alert checks (agent offline, ...) run.
        alert_mfa_failures: second-factor failures of one account within
            ``alert_mfa_window_s`` that raise an alert (the password was right each time).
        alert_mfa_window_s: the window those failures are counted in.
        alert_webhook_timeout_s: how long one webhook or mail attempt may take.
        alert_webhook_loopback_http: allow ``http://`` webhooks to loopback addresses (dev and
            tests only: a receiver on this machine).
        alert_webhook_private: allow webhooks to private addresses (an on-premises broker
            posting to a server in the clinic's LAN); off, a hosted broker cannot be made to
            post into its own network (SSRF).
        agent_host: address the agent port binds (default: ``host``).
        agent_port: the agent port: host agents connect here with their client
            certificates (mutual TLS); 0 picks a free one (tests).
        agent_public_url: ``wss://name:port`` agents dial, told to them at enrollment.
            Defaults to the public origin's host name with ``agent_port``.
        agent_tls12: admit TLS 1.2 on the agent port (TLS 1.3 only by default).
        agent_cert_lifetime_s: lifetime of an agent's client certificate (default 90 days;
            agents renew when a third is left).
        agent_recheck_s: how often live agent links are checked against revocation and
            expiry (a revocation through the console acts at once; this catches the CLI's
            and certificates running out while connected).
        vendor_approval_ttl_s: an admin's approval of a vendor session lapses if unused
            this long (default 30 min; MHLW.md row 12).
        data_dir: the broker's own files (the SQLite database by default, the audit key).
        audit_key_file: the Ed25519 key signing audit checkpoints (PEM, mode 0600; created
            on first start); ``data_dir/audit-signing-key.pem`` by default.
        audit_checkpoint_every: a chain gets a signed checkpoint every this many records.
        audit_checkpoint_interval_s: and, if it grew, at least this often (default 10 min).
        audit_retention_days: audit records younger than this are never purged (default 5
            years); older ones only by ``audit purge``, which exports them first.
    """

    environment: str
    secret_key: str
    tls_cert: Path
    tls_key: Path
    database_url: str
    host: str = "127.0.0.1"
    port: int = 8443
    public_url: str | None = None
    rp_id: str = "localhost"
    trusted_proxies: str = "127.0.0.1"
    idle_timeout_s: int = 15 * 60
    session_lifetime_s: int = 12 * 3600
    lockout_threshold: int = 5
    lockout_window_s: int = 15 * 60
    lockout_duration_s: int = 15 * 60
    invite_ttl_s: int = 24 * 3600
    ticket_ttl_s: int = 30
    remote_idle_s: int = 10 * 60
    remote_max_s: int = 8 * 3600
    remote_warn_s: int = 5 * 60
    watermark: bool = True
    block_local_input: bool = False
    end_on_violation: bool = True
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_from: str = ""
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    alert_poll_s: float = 2.0
    alert_retry_base_s: float = 30.0
    alert_retry_max_s: float = 3600.0
    alert_max_attempts: int = 8
    alert_check_s: float = 60.0
    alert_mfa_failures: int = 3
    alert_mfa_window_s: int = 10 * 60
    alert_webhook_timeout_s: float = 10.0
    alert_webhook_loopback_http: bool = False
    alert_webhook_private: bool = False
    agent_host: str = "127.0.0.1"
    agent_port: int = 8444
    agent_public_url: str | None = None
    agent_tls12: bool = False
    agent_cert_lifetime_s: int = 90 * 24 * 3600
    agent_recheck_s: int = 30
    vendor_approval_ttl_s: int = 30 * 60
    data_dir: Path = DEFAULT_DATA_DIR
    audit_key_file: Path | None = None
    audit_checkpoint_every: int = 100
    audit_checkpoint_interval_s: int = 600
    audit_retention_days: int = 5 * 366

    @property
    def audit_key_path(self) -> Path:
        return self.audit_key_file or self.data_dir / "audit-signing-key.pem"

    @property
    def is_dev(self) -> bool:
        return self.environment == "dev"

    @property
    def secret_key_bytes(self) -> bytes:
        return decode_secret_key(self.secret_key)

    def origin(self, bound_port: int | None = None) -> str:
        """The public origin; with port 0 in settings the actually bound port is used."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"https://{self.rp_id}:{bound_port or self.port}"

    def agent_url(self, bound_port: int | None = None) -> str:
        """Where agents connect: the public origin's host on the agent port, unless set."""
        if self.agent_public_url:
            return self.agent_public_url.rstrip("/")
        host = urlsplit(self.origin()).hostname or self.rp_id
        return f"wss://{host}:{bound_port or self.agent_port}"

    def validate(self) -> None:
        """Raise ConfigError when these settings must not be used."""
        if self.environment not in {"dev", "production"}:
            raise ConfigError("MAMORI_ENV must be 'dev' or 'production'")
        decode_secret_key(self.secret_key)
        for name, path in (("MAMORI_TLS_CERT", self.tls_cert), ("MAMORI_TLS_KEY", self.tls_key)):
            if not path.is_file():
                raise ConfigError(f"{name} does not name a file: {path}")
        if not 0 <= self.port <= 65535:
            raise ConfigError("MAMORI_PORT must be 0..65535")
        if not 0 <= self.agent_port <= 65535:
            raise ConfigError("MAMORI_AGENT_PORT must be 0..65535")
        if self.agent_port and self.agent_port == self.port and self.agent_host == self.host:
            raise ConfigError("MAMORI_AGENT_PORT must differ from MAMORI_PORT")
        if self.agent_public_url is not None and not self.agent_public_url.startswith("wss://"):
            raise ConfigError("MAMORI_AGENT_PUBLIC_URL must be a wss:// URL")
        if self.agent_cert_lifetime_s < 5 or self.agent_recheck_s < 1:
            raise ConfigError("agent certificate lifetime and recheck interval are too short")
        if not self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ConfigError(
                "MAMORI_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        if self.public_url is not None and not self.public_url.startswith("https://"):
            raise ConfigError("MAMORI_PUBLIC_URL must be an https:// origin")
        if not 0 <= self.remote_warn_s < self.remote_max_s:
            raise ConfigError("MAMORI_REMOTE_WARN_S must be shorter than MAMORI_REMOTE_MAX_S")
        if not self.rp_id or self.rp_id.replace(".", "").isdigit() or ":" in self.rp_id:
            raise ConfigError("MAMORI_RP_ID must be a host name (browsers refuse IP addresses)")
        self._validate_smtp()

    def _validate_smtp(self) -> None:
        if not self.smtp_host:
            return
        if "@" not in self.smtp_from or any(c in self.smtp_from for c in "\r\n<>, "):
            raise ConfigError(
                "MAMORI_SMTP_FROM must be one plain address when MAMORI_SMTP_HOST is set"
            )
        if not 0 < self.smtp_port <= 65535:
            raise ConfigError("MAMORI_SMTP_PORT must be 1..65535")
        loopback = self.smtp_host in {"localhost", "127.0.0.1", "::1"}
        if self.smtp_user and not self.smtp_starttls and not loopback:
            # The password would cross the network in clear (SMTP AUTH PLAIN is base64 only).
            raise ConfigError("MAMORI_SMTP_USER needs MAMORI_SMTP_STARTTLS=on")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``MAMORI_*`` variables; production is the default environment."""
        env = os.environ if env is None else env
        data_dir = Path(env.get("MAMORI_DATA_DIR") or DEFAULT_DATA_DIR)
        day = 24 * 3600
        settings = cls(
            environment=env.get("MAMORI_ENV", "production"),
            secret_key=env.get("MAMORI_SECRET_KEY", ""),
            tls_cert=Path(env.get("MAMORI_TLS_CERT", "")),
            tls_key=Path(env.get("MAMORI_TLS_KEY", "")),
            database_url=env.get("MAMORI_DATABASE_URL") or default_database_url(data_dir),
            host=env.get("MAMORI_HOST", "127.0.0.1"),
            port=_int(env, "MAMORI_PORT", 8443, 0, 65535),
            public_url=env.get("MAMORI_PUBLIC_URL") or None,
            rp_id=env.get("MAMORI_RP_ID", "localhost"),
            trusted_proxies=env.get("MAMORI_TRUSTED_PROXIES", "127.0.0.1"),
            idle_timeout_s=_int(env, "MAMORI_IDLE_TIMEOUT_S", 15 * 60, 60, day),
            session_lifetime_s=_int(env, "MAMORI_SESSION_LIFETIME_S", 12 * 3600, 300, 7 * day),
            lockout_threshold=_int(env, "MAMORI_LOCKOUT_THRESHOLD", 5, 1, 100),
            lockout_window_s=_int(env, "MAMORI_LOCKOUT_WINDOW_S", 15 * 60, 10, day),
            lockout_duration_s=_int(env, "MAMORI_LOCKOUT_DURATION_S", 15 * 60, 10, day),
            invite_ttl_s=_int(env, "MAMORI_INVITE_TTL_S", day, 300, 7 * day),
            ticket_ttl_s=_int(env, "MAMORI_TICKET_TTL_S", 30, 5, 120),
            remote_idle_s=_int(env, "MAMORI_REMOTE_IDLE_S", 10 * 60, 1, day),
            remote_max_s=_int(env, "MAMORI_REMOTE_MAX_S", 8 * 3600, 2, 7 * day),
            remote_warn_s=_int(env, "MAMORI_REMOTE_WARN_S", 5 * 60, 0, day),
            watermark=_flag(env, "MAMORI_WATERMARK", True),
            block_local_input=_flag(env, "MAMORI_BLOCK_LOCAL_INPUT", False),
            end_on_violation=_flag(env, "MAMORI_END_ON_VIOLATION", True),
            smtp_host=env.get("MAMORI_SMTP_HOST", ""),
            smtp_port=_int(env, "MAMORI_SMTP_PORT", 587, 1, 65535),
            smtp_from=env.get("MAMORI_SMTP_FROM", ""),
            smtp_user=env.get("MAMORI_SMTP_USER", ""),
            smtp_password=env.get("MAMORI_SMTP_PASSWORD", ""),
            smtp_starttls=_flag(env, "MAMORI_SMTP_STARTTLS", True),
            alert_poll_s=_float(env, "MAMORI_ALERT_POLL_S", 2.0, 0.05, 60),
            alert_retry_base_s=_float(env, "MAMORI_ALERT_RETRY_BASE_S", 30.0, 0.05, 3600),
            alert_retry_max_s=_float(env, "MAMORI_ALERT_RETRY_MAX_S", 3600.0, 0.05, day),
            alert_max_attempts=_int(env, "MAMORI_ALERT_MAX_ATTEMPTS", 8, 1, 50),
            alert_check_s=_float(env, "MAMORI_ALERT_CHECK_S", 60.0, 0.05, 3600),
            alert_mfa_failures=_int(env, "MAMORI_ALERT_MFA_FAILURES", 3, 1, 100),
            alert_mfa_window_s=_int(env, "MAMORI_ALERT_MFA_WINDOW_S", 600, 10, day),
            alert_webhook_timeout_s=_float(env, "MAMORI_ALERT_TIMEOUT_S", 10.0, 0.1, 120),
            alert_webhook_loopback_http=_flag(env, "MAMORI_ALERT_WEBHOOK_LOOPBACK_HTTP", False),
            alert_webhook_private=_flag(env, "MAMORI_ALERT_WEBHOOK_PRIVATE", False),
            agent_host=env.get("MAMORI_AGENT_HOST") or env.get("MAMORI_HOST", "127.0.0.1"),
            agent_port=_int(env, "MAMORI_AGENT_PORT", 8444, 0, 65535),
            agent_public_url=env.get("MAMORI_AGENT_PUBLIC_URL") or None,
            agent_tls12=_flag(env, "MAMORI_AGENT_TLS12", False),
            # CA/B Forum's 397 days is the longest anyone trusts a leaf certificate for.
            agent_cert_lifetime_s=_int(
                env, "MAMORI_AGENT_CERT_LIFETIME_S", 90 * day, 3600, 397 * day
            ),
            agent_recheck_s=_int(env, "MAMORI_AGENT_RECHECK_S", 30, 1, 3600),
            vendor_approval_ttl_s=_int(env, "MAMORI_VENDOR_APPROVAL_TTL_S", 30 * 60, 60, day),
            data_dir=data_dir,
            audit_key_file=Path(env["MAMORI_AUDIT_KEY_FILE"])
            if env.get("MAMORI_AUDIT_KEY_FILE")
            else None,
            audit_checkpoint_every=_int(env, "MAMORI_AUDIT_CHECKPOINT_EVERY", 100, 1, 100_000),
            audit_checkpoint_interval_s=_int(
                env, "MAMORI_AUDIT_CHECKPOINT_INTERVAL_S", 600, 5, day
            ),
            audit_retention_days=_int(env, "MAMORI_AUDIT_RETENTION_DAYS", 5 * 366, 1, 100 * 366),
        )
        settings.validate()
        return settings
