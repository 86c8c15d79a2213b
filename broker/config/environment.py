"""Where settings come from: the ``MAMORI_*`` environment, read once at start.

The variable of a field is ``MAMORI_`` + its name in capitals, unless an alias names
another; matching ignores case (as Windows' environment does anyway) and an empty variable
counts as unset.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource

ENV_PREFIX = "MAMORI_"


def variable_of(name: str, field: FieldInfo) -> str:
    """The environment variable the field ``name`` is read from."""
    alias = field.validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + name.upper()


class Environment(EnvSettingsSource):
    """pydantic-settings' reading of ``MAMORI_*`` variables, from a given mapping (the
    process environment at start; a plain dict in tests)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    # pydantic-settings reads os.environ here and offers no public way to hand it another
    # mapping; this one override keeps its matching (prefix, aliases, empty = unset) for
    # both. tests/broker/test_config.py drives it with plain dicts, so a change shows there.
    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items() if v or not self.env_ignore_empty}
