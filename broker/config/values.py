"""The kinds of value settings take, each with its check: what one variable alone must be.

Each kind is an annotated type the settings class declares its fields with; its check raises
ValueError with the text that follows the variable's name in the error
(``messages.explain``), never the value itself (it may be a secret). Checks across
variables (a TURN URL needs a TURN secret, ...) are the settings class's own.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator

from broker.errors import ConfigError
from broker.turn.servers import parse_urls

# 32 bytes = 256 bits: AES-256-GCM for TOTP secrets and HMAC keys are derived from it.
SECRET_KEY_BYTES = 32
# Values people paste from examples; refused even when long enough.
PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "secret", "password", "mamori", "dev", "test", "placeholder"}
)
DEFAULT_DATA_DIR = Path("data")
_FLAGS = {"1": True, "true": True, "on": True, "yes": True}
_FLAGS |= {"0": False, "false": False, "off": False, "no": False}


def default_database_url(data_dir: Path) -> str:
    """The embedded default: one SQLite file in the (git-ignored) data folder."""
    return f"sqlite+aiosqlite:///{(data_dir / 'mamori.db').resolve()}"


def _secret_key(value: str) -> bytes:
    """The key's bytes, or ValueError saying what is wrong with it (without the value)."""
    if not value:
        raise ValueError("is not set (python -m broker gen-secret-key)")
    if value.strip().lower() in PLACEHOLDERS:
        raise ValueError("is a placeholder; generate a random key")
    try:
        key = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("must be base64url") from None
    if len(key) < SECRET_KEY_BYTES:
        raise ValueError(f"must hold at least {SECRET_KEY_BYTES} random bytes")
    if len(set(key)) < 8:
        raise ValueError("is not random (too few distinct bytes)")
    return key


def decode_secret_key(value: str) -> bytes:
    """``MAMORI_SECRET_KEY`` as bytes: base64url of at least 32 random bytes.

    Raises:
        ConfigError: missing, a placeholder, not base64url, or too short.
    """
    try:
        return _secret_key(value)
    except ValueError as exc:
        raise ConfigError(f"MAMORI_SECRET_KEY {exc}") from None


def _random_secret_key(value: str) -> str:
    _secret_key(value)
    return value


SecretKey = Annotated[str, AfterValidator(_random_secret_key)]


def _flag(value: object) -> object:
    """On/off words only: a typo such as ``maybe`` or ``y`` is an error, not a guess."""
    if isinstance(value, str):
        try:
            return _FLAGS[value.strip().lower()]
        except KeyError:
            raise ValueError("must be on or off") from None
    return value


Flag = Annotated[bool, BeforeValidator(_flag)]


def _privacy_screen(value: object) -> object:
    """off, outside_hours or always; the yes/no this setting was before keeps its meaning
    (on = always, off = off), so an existing configuration does the same after an upgrade."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _FLAGS:
            return "always" if _FLAGS[word] else "off"
        if word in {"off", "outside_hours", "always"}:
            return word
        raise ValueError("must be off, outside_hours or always")
    return value


PrivacyScreenMode = Annotated[
    Literal["off", "outside_hours", "always"], BeforeValidator(_privacy_screen)
]


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise ValueError(f"does not name a file: {path}")
    return path


ExistingFile = Annotated[Path, AfterValidator(_existing_file)]


def _supported_database(url: str) -> str:
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    return url


DatabaseUrl = Annotated[str, AfterValidator(_supported_database)]


def _redis_url(url: str) -> str:
    if url and not url.startswith(("redis://", "rediss://")):
        raise ValueError("must start with redis:// or rediss://")
    return url


RedisUrl = Annotated[str, AfterValidator(_redis_url)]  # empty: no Redis


def _metrics_token(token: str) -> str:
    # Whoever holds it reads counts of sign-ins, sessions and hosts: a real secret.
    if token and (len(token) < 24 or token.strip().lower() in PLACEHOLDERS):
        raise ValueError("must be at least 24 random characters (or unset: no metrics)")
    return token


MetricsToken = Annotated[str, AfterValidator(_metrics_token)]  # empty: no metrics


def _https_origin(url: str) -> str:
    if not url.startswith("https://"):
        raise ValueError("must be an https:// origin")
    return url


HttpsOrigin = Annotated[str, AfterValidator(_https_origin)]


def _wss_url(url: str) -> str:
    if not url.startswith("wss://"):
        raise ValueError("must be a wss:// URL")
    return url


WssUrl = Annotated[str, AfterValidator(_wss_url)]


def _ice_urls(text: str) -> str:
    parse_urls(text)
    return text


IceUrls = Annotated[str, AfterValidator(_ice_urls)]  # the list's own checks (turn/servers.py)


def _host_name(rp_id: str) -> str:
    if not rp_id or rp_id.replace(".", "").isdigit() or ":" in rp_id:
        raise ValueError("must be a host name (browsers refuse IP addresses)")
    return rp_id


HostName = Annotated[str, AfterValidator(_host_name)]


def show(value: object) -> str:
    """A setting's value as one writes it in the environment."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if value is None or value == "":
        return "(none)"
    return str(value)
