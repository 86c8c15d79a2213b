"""Broker settings, read once from the environment at start.

Fail closed: outside ``MAMORI_ENV=dev`` the broker refuses to start with a missing, short or
placeholder secret (like the FastAPI template's ``_enforce_non_default_secrets``), and TLS is
never optional.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from broker.errors import ConfigError

# 32 characters of a random token is 190+ bits; shorter shared secrets are guessable online.
MIN_SECRET_CHARS = 32
_PLACEHOLDERS = frozenset({"changeme", "change-me", "secret", "password", "mamori", "dev", "test"})


@dataclass(frozen=True)
class Settings:
    """Everything the broker needs to start.

    Attributes:
        environment: ``dev`` relaxes nothing about TLS; it only allows a short agent token.
        agent_token: shared secret agents present (until enrolled client certificates land).
        tls_cert: PEM server certificate (chain) file.
        tls_key: PEM private key of ``tls_cert``.
        host: address to bind.
        port: port to bind; 0 picks a free one (tests).
        access_link_ttl_s: lifetime of a one-time access link.
        session_ttl_s: absolute lifetime of a browser session made from an access link.
    """

    environment: str
    agent_token: str
    tls_cert: Path
    tls_key: Path
    host: str = "127.0.0.1"
    port: int = 8443
    access_link_ttl_s: int = 15 * 60
    session_ttl_s: int = 12 * 3600  # the absolute session lifetime the identity issue keeps

    @property
    def is_dev(self) -> bool:
        return self.environment == "dev"

    def validate(self) -> None:
        """Raise ConfigError when these settings must not be used."""
        if self.environment not in {"dev", "production"}:
            raise ConfigError("MAMORI_ENV must be 'dev' or 'production'")
        token = self.agent_token
        if not token:
            raise ConfigError("MAMORI_AGENT_TOKEN is not set")
        if not self.is_dev and (token.lower() in _PLACEHOLDERS or len(token) < MIN_SECRET_CHARS):
            raise ConfigError(
                f"MAMORI_AGENT_TOKEN must be a random value of at least {MIN_SECRET_CHARS} "
                "characters outside dev"
            )
        for name, path in (("MAMORI_TLS_CERT", self.tls_cert), ("MAMORI_TLS_KEY", self.tls_key)):
            if not path.is_file():
                raise ConfigError(f"{name} does not name a file: {path}")
        if not 0 <= self.port <= 65535:
            raise ConfigError("MAMORI_PORT must be 0..65535")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``MAMORI_*`` variables; production is the default environment."""
        env = os.environ if env is None else env
        try:
            port = int(env.get("MAMORI_PORT", "8443"))
        except ValueError as exc:
            raise ConfigError("MAMORI_PORT must be a number") from exc
        settings = cls(
            environment=env.get("MAMORI_ENV", "production"),
            agent_token=env.get("MAMORI_AGENT_TOKEN", ""),
            tls_cert=Path(env.get("MAMORI_TLS_CERT", "")),
            tls_key=Path(env.get("MAMORI_TLS_KEY", "")),
            host=env.get("MAMORI_HOST", "127.0.0.1"),
            port=port,
        )
        settings.validate()
        return settings
