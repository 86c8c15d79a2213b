"""Broker settings, read once from the ``MAMORI_*`` environment at start.

One pydantic-settings class declares every setting once: its type, default, bounds and the
variable it is read from (``MAMORI_`` + the field name in capitals, unless an alias says
otherwise). ``Settings.from_env()`` reads the environment; ``Settings(**values)`` takes the
values as given (the dev kit and tests), with the same validation. Every error is a
``ConfigError`` naming the variable.

Fail closed: the broker refuses to start with a missing, short, constant or placeholder
secret key in every environment, ``MAMORI_ENV=dev`` included (the demo generates a key;
like the FastAPI template's ``_enforce_non_default_secrets``), and TLS is never optional.

The modules: ``settings`` (the class: the settings, their defaults and bounds, the checks
across them), ``values`` (the kinds of value and each one's own check), ``environment``
(reading the variables), ``messages`` (an error in words).
"""

from __future__ import annotations

from broker.config.environment import ENV_PREFIX
from broker.config.messages import explain
from broker.config.settings import Settings, variable
from broker.config.values import (
    DEFAULT_DATA_DIR,
    SECRET_KEY_BYTES,
    Flag,
    PrivacyScreenMode,
    decode_secret_key,
    default_database_url,
    show,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "ENV_PREFIX",
    "SECRET_KEY_BYTES",
    "Flag",
    "PrivacyScreenMode",
    "Settings",
    "decode_secret_key",
    "default_database_url",
    "explain",
    "show",
    "variable",
]
