"""Command-line flags from a dataclass whose fields carry attribute docstrings (CleanRL style).

A field's help text is the string literal written right below it::

    @dataclass
    class Args:
        seed: int = 1
        \"\"\"seed of the experiment\"\"\"
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def field_docstrings(cls: type) -> dict[str, str]:
    """Maps each annotated field of ``cls`` to the string literal that follows it."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for statement, following in zip(body, body[1:], strict=False):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One ``--field-name`` flag per field of the dataclass ``cls`` (bools take true/false)."""
    docs = field_docstrings(cls)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        help_text = f"{docs.get(field.name, '')} (default: {default})"
        if kind is bool:
            parser.add_argument(flag, type=_parse_bool, default=default, help=help_text)
        elif typing.get_origin(kind) is typing.Union or str(kind).startswith("str | None"):
            parser.add_argument(flag, type=str, default=default, help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=default, help=help_text)


def dataclass_from_args(cls: type[T], args: argparse.Namespace) -> T:
    """Builds ``cls`` from parsed flags (fields missing from ``args`` keep their defaults)."""
    values: dict[str, Any] = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(cls)  # type: ignore[arg-type]
        if hasattr(args, field.name)
    }
    return cls(**values)


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
