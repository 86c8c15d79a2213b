"""The settings class: every setting the broker reads, declared once.

One pydantic-settings class declares each setting's type (``values.py``), default, bounds and
the variable it is read from (``environment.py``), in the order the README's table and
``check-config`` list them, and checks the settings against each other. Every error is a
``ConfigError`` naming the variable (``messages.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from broker.config.environment import ENV_PREFIX, Environment, variable_of
from broker.config.messages import explain
from broker.config.values import (
    DEFAULT_DATA_DIR,
    PLACEHOLDERS,
    DatabaseUrl,
    ExistingFile,
    Flag,
    HostName,
    HttpsOrigin,
    IceUrls,
    MetricsToken,
    PrivacyScreenMode,
    RedisUrl,
    SecretKey,
    WssUrl,
    decode_secret_key,
    default_database_url,
    show,
)
from broker.errors import ConfigError
from broker.turn.servers import parse_urls

_DAY = 24 * 3600


class Settings(BaseSettings):
    """Everything the broker needs to start.

    Attributes:
        environment: ``dev`` or ``production`` (``MAMORI_ENV``); dev changes nothing but
            what the demo needs.
        secret_key: MAMORI_SECRET_KEY, base64url; TOTP secrets are encrypted under a key
            derived from it, so losing it means every user re-enrolls TOTP.
        tls_cert: PEM server certificate (chain) file.
        tls_key: PEM private key of ``tls_cert``.
        data_dir: the broker's own files (the SQLite database by default, the audit key).
        database_url: SQLAlchemy async URL; SQLite (aiosqlite) in ``data_dir`` by default,
            PostgreSQL with ``postgresql+asyncpg://...``.
        db_pool_size: database connections kept open per broker process.
        db_max_overflow: connections opened beyond the pool under load (closed after use).
        db_pool_timeout_s: how long a request waits for a connection before it fails;
            shorter than the agent's own 10 s handshake timeout, so a saturated pool answers
            an agent before the agent gives up and retries on top of it (issue 18).
        host: address to bind.
        port: port to bind; 0 picks a free one (tests).
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
            and certificates running out while connected). The same round refreshes the
            in-memory certificate status handshakes are authenticated from.
        agent_handshake_limit: agent handshakes (TLS handshake to queued registration) in
            progress at once (issue 18); one more connection waits parked before any TLS
            (``agent_park_limit``); one past it at the endpoint all the same is told 503
            "come back later" before any database work. One event loop does all of it,
            so more in flight adds no speed, only a longer wait for every other request:
            16 kept a signed-in browser call under ~0.6 s through a 2,000-agent storm where
            64 let it reach 1.3-6.4 s (README, the reconnect storm).
        agent_retry_after_s: the Retry-After those refusals carry (agents add jitter).
        agent_park_limit: connections to the agent port that may wait, accepted but
            without TLS, for a handshake slot (first come, first served) rather than be
            closed; one more is closed before any TLS (``broker.server.agent_parking``).
        agent_park_s: how long one may wait so; shorter than the agent's 10 s open
            timeout, so its handshake can still finish within it.
        agent_ping_interval_s: how often the broker pings each agent link.
        agent_ping_timeout_s: a ping unanswered this long ends the link: a silent agent
            (cut network) is noticed within interval + timeout (15 s by default).
        public_url: the origin people type (``https://name:port``); WebAuthn checks it and
            enrollment links start with it. Defaults to ``https://{rp_id}:{port}``.
        rp_id: the WebAuthn relying party id, a host name (never an IP address: browsers
            refuse passkeys there), ``localhost`` by default.
        trusted_proxies: addresses whose X-Forwarded-For is believed (uvicorn's
            forwarded_allow_ips); the lockout counts failures per source address.
        max_body_bytes: the largest request body taken, checked before it is read
            (413 ``body_too_large``; issue 12 item 5: a 150 MB body was read whole).
        max_json_depth: the deepest nesting a JSON body may have (400 ``json_too_complex``).
        max_json_items: the most values and members a JSON body may have (400
            ``json_too_complex``; a JSON of many keys took seconds to validate).
        signin_address_burst: sign-in attempts taken at once from one source address (an
            IPv6 /64), checked before the password hash (429 ``rate_limited`` beyond); a
            clinic signs in from behind one address, so this is the larger allowance.
        signin_address_per_minute: how fast that allowance refills.
        signin_account_burst: sign-in attempts taken at once for one account name.
        signin_account_per_minute: how fast that allowance refills.
        refusal_audit_window_s: anonymous refusals (rate-limited sign-ins, unknown names,
            unknown links) are audited as one record per source address and kind per
            window, carrying how many there were.
        idle_timeout_s: a session unused this long ends (default 15 min; MHLW.md row 8).
        session_lifetime_s: absolute session lifetime (default 12 h; MHLW.md row 8).
        lockout_threshold: failures within ``lockout_window_s`` that lock (default 5).
        lockout_window_s: the window failures are counted in (default 15 min).
        lockout_duration_s: how long a lock lasts (default 15 min).
        step_up_s: a factor or password change needs the second factor shown within this
            long (default 5 min; issue 12: a stolen session must not take over the factors).
        invite_ttl_s: lifetime of an invitation or enrollment link (default 24 h).
        ticket_ttl_s: lifetime of a viewer WebSocket ticket (default 30 s).
        remote_idle_s: a remote session without input this long is blanked and the second
            factor asked again (default 10 min; MHLW.md row 8 クリアスクリーン).
        remote_max_s: the longest a remote session may last (default 8 h; MHLW.md row 8).
        remote_warn_s: the viewer is warned this long before the maximum (default 5 min).
        watermark: burn the viewer's name, clinic, time and session into the pixels.
        block_local_input: the privacy screen (the host's own keyboard and mouse off, a
            notice on its monitors) for clinics that have not chosen on the settings page:
            ``off``, ``outside_hours`` (outside the clinic's opening hours; the default) or
            ``always``; ``on``/``off`` as before mean ``always``/``off``.
        end_on_violation: end the session when the viewer breaks the pixel-only policy
            (the attempt is audited either way).
        text_entry: how people write on the host: ``host_ime`` (keys only, the host's IME
            composes), ``viewer_text`` (the viewer composes and sends short text) or ``both``.
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
        alert_webhook_timeout_s: how long one webhook or mail attempt may take
            (``MAMORI_ALERT_TIMEOUT_S``).
        alert_check_s: how often the periodic alert checks (agent offline, ...) run.
        alert_mfa_failures: second-factor failures of one account within
            ``alert_mfa_window_s`` that raise an alert (the password was right each time).
        alert_mfa_window_s: the window those failures are counted in.
        alert_webhook_private: allow webhooks to LAN addresses (an on-premises broker
            posting to a server in the clinic's LAN); off, a hosted broker cannot be made to
            post into its own network (SSRF). Never loopback (that is the next setting).
        alert_webhook_loopback_http: allow ``http://`` webhooks to loopback addresses (dev and
            tests only: a receiver on this machine).
        vendor_approval_ttl_s: an admin's approval of a vendor session lapses if unused
            this long (default 30 min; MHLW.md row 12).
        audit_key_file: the Ed25519 key signing audit checkpoints (PEM, mode 0600; created
            on first start); ``data_dir/audit-signing-key.pem`` by default.
        audit_checkpoint_every: a chain gets a signed checkpoint every this many records.
        audit_checkpoint_interval_s: and, if it grew, at least this often (default 10 min).
        audit_retention_days: audit records younger than this are never purged (default 5
            years); older ones only by ``audit purge``, which exports them first.
        shutdown_grace_s: on SIGTERM, agents and viewers are told the broker restarts
            (their live sessions keep their media and are re-adopted) and connections get
            this long to close before they are cut; the process exits soon after,
            whatever idle keep-alive clients do.
        session_resume_s: after a restart, a live session its agent does not re-register
            (or the broker may not re-adopt) within this long is closed in the audit with
            its real reason (``broker_crashed``, ``broker_shutdown``...); 0: at once.
        replica_id: this process's name among replicas; the sessions it held when it
            crashed are closed in the audit (``broker_crashed``) when it starts again.
        replicas: this process is one of several replicas: it needs PostgreSQL (SQLite is
            one process's database), Redis (presence keys) and its own ``replica_id``, and
            refuses to start without them.
        redis_url: ``redis://`` or ``rediss://`` URL of the Redis replicas share; checked
            by ``/readyz`` when set.
        metrics_token: the bearer token ``/metrics`` requires; empty: no metrics endpoint.
        log_level: DEBUG, INFO, WARNING or ERROR.
        log_format: ``json`` (one object a line, with the request id) or ``text``.
        turn_servers: STUN/TURN URLs both ends of a session are given, in the order to try
            them (broker/turn/servers.py); empty: none (direct connections only).
        turn_secret: the secret shared with coturn (``static-auth-secret``); needed when a
            TURN URL is set.
        turn_credential_ttl_s: how long a minted TURN credential is good for new
            allocations (default 5 min; longer than a ticket).
        ice_policy: ``all`` (direct when it works, relay when not) or ``relay`` (relay only)
            for clinics that have not chosen on the settings page.
        lan_candidates: admit remote ICE candidates in private LAN ranges, for clinics that
            have not chosen (mamori_protocol/candidates.py).
        ice_loopback: admit loopback remote candidates (development and tests only: both
            ends on one machine).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # pydantic-settings then matches ``MAMORI_PORT`` to the field ``port`` (in any case,
        # as Windows' environment does anyway).
        case_sensitive=False,
        # An empty variable means "not set", as the shell's ``VAR=`` usually does.
        env_ignore_empty=True,
        frozen=True,
        extra="forbid",
        # Inputs may be secrets: never echo them in an error.
        hide_input_in_errors=True,
        validate_by_name=True,
        validate_by_alias=True,
        validate_default=True,
    )

    # The field order is the README table's and check-config's; a default computed from
    # another field comes after that field.
    environment: Literal["dev", "production"] = Field(
        "production", validation_alias=f"{ENV_PREFIX}ENV"
    )
    secret_key: SecretKey = Field("", repr=False)
    tls_cert: ExistingFile
    tls_key: ExistingFile
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: DatabaseUrl = Field(default_factory=lambda v: default_database_url(v["data_dir"]))
    db_pool_size: int = Field(10, ge=1, le=200)
    db_max_overflow: int = Field(10, ge=0, le=200)
    db_pool_timeout_s: float = Field(5.0, ge=0.1, le=60)
    host: str = "127.0.0.1"
    port: int = Field(8443, ge=0, le=65535)
    agent_host: str = Field(default_factory=lambda v: v["host"])
    agent_port: int = Field(8444, ge=0, le=65535)
    agent_public_url: WssUrl | None = None
    agent_tls12: Flag = False
    # CA/B Forum's 397 days is the longest anyone trusts a leaf certificate for.
    agent_cert_lifetime_s: int = Field(90 * _DAY, ge=3600, le=397 * _DAY)
    agent_recheck_s: int = Field(30, ge=1, le=3600)
    agent_handshake_limit: int = Field(16, ge=1, le=10_000)
    agent_retry_after_s: int = Field(5, ge=1, le=300)
    agent_park_limit: int = Field(4096, ge=0, le=100_000)
    agent_park_s: float = Field(6.0, gt=0, le=9.0)
    agent_ping_interval_s: float = Field(5.0, ge=0.1, le=300)
    agent_ping_timeout_s: float = Field(10.0, ge=0.1, le=300)
    public_url: HttpsOrigin | None = None
    rp_id: HostName = "localhost"
    trusted_proxies: str = "127.0.0.1"
    max_body_bytes: int = Field(1024 * 1024, ge=16 * 1024, le=64 * 1024 * 1024)
    max_json_depth: int = Field(32, ge=4, le=1000)
    max_json_items: int = Field(10_000, ge=100, le=1_000_000)
    signin_address_burst: int = Field(30, ge=1, le=10_000)
    signin_address_per_minute: float = Field(30.0, ge=0.1, le=10_000)
    signin_account_burst: int = Field(10, ge=1, le=10_000)
    signin_account_per_minute: float = Field(5.0, ge=0.1, le=10_000)
    refusal_audit_window_s: int = Field(60, ge=1, le=3600)
    idle_timeout_s: int = Field(15 * 60, ge=60, le=_DAY)
    session_lifetime_s: int = Field(12 * 3600, ge=300, le=7 * _DAY)
    lockout_threshold: int = Field(5, ge=1, le=100)
    lockout_window_s: int = Field(15 * 60, ge=10, le=_DAY)
    lockout_duration_s: int = Field(15 * 60, ge=10, le=_DAY)
    step_up_s: int = Field(5 * 60, ge=30, le=3600)
    invite_ttl_s: int = Field(_DAY, ge=300, le=7 * _DAY)
    ticket_ttl_s: int = Field(30, ge=5, le=120)
    remote_idle_s: int = Field(10 * 60, ge=1, le=_DAY)
    remote_max_s: int = Field(8 * 3600, ge=2, le=7 * _DAY)
    remote_warn_s: int = Field(5 * 60, ge=0, le=_DAY)
    watermark: Flag = True
    block_local_input: PrivacyScreenMode = "outside_hours"
    end_on_violation: Flag = True
    text_entry: Literal["host_ime", "viewer_text", "both"] = "host_ime"
    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_from: str = ""
    smtp_user: str = ""
    smtp_password: str = Field("", repr=False)
    smtp_starttls: Flag = True
    alert_poll_s: float = Field(2.0, ge=0.05, le=60)
    alert_retry_base_s: float = Field(30.0, ge=0.05, le=3600)
    alert_retry_max_s: float = Field(3600.0, ge=0.05, le=_DAY)
    alert_max_attempts: int = Field(8, ge=1, le=50)
    alert_webhook_timeout_s: float = Field(
        10.0, ge=0.1, le=120, validation_alias=f"{ENV_PREFIX}ALERT_TIMEOUT_S"
    )
    alert_check_s: float = Field(60.0, ge=0.05, le=3600)
    alert_mfa_failures: int = Field(3, ge=1, le=100)
    alert_mfa_window_s: int = Field(600, ge=10, le=_DAY)
    alert_webhook_private: Flag = False
    alert_webhook_loopback_http: Flag = False
    vendor_approval_ttl_s: int = Field(30 * 60, ge=60, le=_DAY)
    audit_key_file: Path | None = None
    audit_checkpoint_every: int = Field(100, ge=1, le=100_000)
    audit_checkpoint_interval_s: int = Field(600, ge=5, le=_DAY)
    audit_retention_days: int = Field(5 * 366, ge=1, le=100 * 366)
    shutdown_grace_s: int = Field(5, ge=1, le=120)
    session_resume_s: int = Field(60, ge=0, le=600)
    replica_id: str = Field("broker", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    replicas: Flag = False
    redis_url: RedisUrl = Field("", repr=False)
    metrics_token: MetricsToken = Field("", repr=False)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    turn_servers: IceUrls = ""
    turn_secret: str = Field("", repr=False)
    turn_credential_ttl_s: int = Field(300, ge=60, le=_DAY)
    ice_policy: Literal["all", "relay"] = "all"
    lan_candidates: Flag = True
    ice_loopback: Flag = False

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            # ``from None``: pydantic's own text would add nothing but noise to the CLI.
            raise ConfigError(explain(exc, Settings.model_fields)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Values as given only: the environment is read by ``from_env`` (once, at start),
        so a test's broker never picks up a variable of the shell that runs it."""
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``MAMORI_*`` variables; production is the default environment.

        Raises:
            ConfigError: naming each variable that is missing, malformed or unsafe.
        """
        return cls(**Environment(cls, os.environ if env is None else env)())

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.agent_port and self.agent_port == self.port and self.agent_host == self.host:
            raise ValueError("MAMORI_AGENT_PORT must differ from MAMORI_PORT")
        if not self.remote_warn_s < self.remote_max_s:
            raise ValueError("MAMORI_REMOTE_WARN_S must be shorter than MAMORI_REMOTE_MAX_S")
        self._replicas_supported()
        if any(u.startswith("turn") for u in self.ice_urls):
            secret = self.turn_secret
            if len(secret) < 16 or secret.strip().lower() in PLACEHOLDERS:
                # Anyone who knows the secret mints credentials for the relay: fail closed.
                raise ValueError("MAMORI_TURN_SECRET must be a random string of 16+ characters")
        if self.turn_credential_ttl_s <= self.ticket_ttl_s:
            raise ValueError("MAMORI_TURN_CREDENTIAL_TTL_S must be longer than MAMORI_TICKET_TTL_S")
        if not self.smtp_host:
            return self
        if "@" not in self.smtp_from or any(c in self.smtp_from for c in "\r\n<>, "):
            raise ValueError(
                "MAMORI_SMTP_FROM must be one plain address when MAMORI_SMTP_HOST is set"
            )
        loopback = self.smtp_host in {"localhost", "127.0.0.1", "::1"}
        if self.smtp_user and not self.smtp_starttls and not loopback:
            # The password would cross the network in clear (SMTP AUTH PLAIN is base64 only).
            raise ValueError("MAMORI_SMTP_USER needs MAMORI_SMTP_STARTTLS=on")
        return self

    def _replicas_supported(self) -> None:
        """Replicas share one database and route through Redis: SQLite and the in-memory
        relay are one process's, so a second process would silently split the clinic."""
        if not self.replicas:
            return
        missing = []
        if not self.database_url.startswith("postgresql+asyncpg://"):
            missing.append("PostgreSQL (MAMORI_DATABASE_URL=postgresql+asyncpg://...)")
        if not self.redis_url:
            missing.append("Redis (MAMORI_REDIS_URL=redis://...)")
        if missing:
            raise ValueError(
                "MAMORI_REPLICAS=on needs " + " and ".join(missing) + "; SQLite serves one "
                "broker process only: run one replica, or give the replicas both"
            )
        if self.replica_id == "broker":
            raise ValueError(
                "MAMORI_REPLICAS=on needs MAMORI_REPLICA_ID set to this replica's own name "
                "(e.g. broker-a), different on each replica"
            )

    @property
    def audit_key_path(self) -> Path:
        return self.audit_key_file or self.data_dir / "audit-signing-key.pem"

    @property
    def ice_urls(self) -> tuple[str, ...]:
        return parse_urls(self.turn_servers)

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

    def effective(self) -> Iterator[tuple[str, str]]:
        """Each variable with the value in force, secrets masked (``check-config``)."""
        derived = {
            "public_url": self.origin(),
            "agent_public_url": self.agent_url(),
            "audit_key_file": str(self.audit_key_path),
        }
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if not field.repr:
                shown = "(set, hidden)" if value else "(none)"
            elif name in derived:
                shown = derived[name]
            else:
                shown = show(value)
            yield variable(name), shown


def variable(name: str) -> str:
    """The environment variable a field is read from."""
    return variable_of(name, Settings.model_fields[name])
