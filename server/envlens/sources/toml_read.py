"""Fast TOML reading. tomlkit keeps formatting for edits but parses ~6x slower than the standard
library's tomllib, and declarations are read on every keystroke: read with tomllib where Python has it
(3.11+), and let tomlkit parse only to edit, or to describe an error precisely."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import tomlkit

_fast: Callable[[str], dict[str, Any]] | None
if sys.version_info >= (3, 11):
    import tomllib

    _fast = tomllib.loads
else:  # pragma: no cover - Python 3.10
    _fast = None


def loads(text: str) -> dict[str, Any]:
    """Parse TOML to plain Python data; on bad TOML raise tomlkit's ParseError (line and column)."""
    if _fast is not None:
        try:
            return _fast(text)
        except ValueError:
            pass  # tomlkit below raises the error with its position
    data = tomlkit.parse(text).unwrap()
    assert isinstance(data, dict)
    return data
