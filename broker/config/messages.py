"""What is wrong with the settings, in words: one line per problem, naming the variable.

pydantic's own messages name fields, not the ``MAMORI_*`` variables people set, and add
nothing a person editing an environment file can use; these say what the variable must be,
never its value (it may be a secret).
"""

from __future__ import annotations

from collections.abc import Mapping

import annotated_types
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from broker.config.environment import variable_of
from broker.config.values import show


def _bounds(field: FieldInfo) -> tuple[object, object]:
    low = next(m.ge for m in field.metadata if isinstance(m, annotated_types.Ge))
    high = next(m.le for m in field.metadata if isinstance(m, annotated_types.Le))
    return low, high


def _describe(error: ErrorDetails, fields: Mapping[str, FieldInfo]) -> str:
    loc = error["loc"]
    if not loc:  # a check across fields: its message names the variables itself
        return str(error.get("ctx", {}).get("error", error["msg"]))
    name = str(loc[0])
    field = fields.get(name)
    if field is None:  # by alias
        name = next((n for n in fields if variable_of(n, fields[n]) == name), name)
        field = fields.get(name)
    if field is None:
        return f"{name}: not a setting"
    kind = error["type"]
    if kind == "missing":
        text = "is not set"
    elif kind in {"int_parsing", "int_from_float", "int_type"}:
        text = "must be a whole number"
    elif kind in {"float_parsing", "float_type"}:
        text = "must be a number"
    elif kind in {"greater_than_equal", "less_than_equal"}:
        low, high = _bounds(field)
        text = f"must be between {show(low)} and {show(high)}"
    elif kind == "literal_error":
        text = f"must be {error.get('ctx', {}).get('expected', '')}"
    elif kind == "value_error":
        text = str(error.get("ctx", {}).get("error", error["msg"]))
    else:
        text = error["msg"]
    return f"{variable_of(name, field)} {text}"


def explain(exc: ValidationError, fields: Mapping[str, FieldInfo]) -> str:
    """Every problem of a ValidationError of the settings whose fields are ``fields``, one
    line each, naming the variable."""
    # A default computed from a field in error says only that: the field's own line is enough.
    errors = [e for e in exc.errors() if e["type"] != "default_factory_not_called"]
    return "\n".join(_describe(error, fields) for error in errors)
