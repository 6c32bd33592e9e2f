"""Requirement strings: validate and normalise with `packaging`, never by hand."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from envlens.errors import DeclarationError, InvalidRequirementError


def parse_requirement(
    text: str, *, path: Path | None = None, line: int | None = None
) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        raise InvalidRequirementError(text, reason, path=path, line=line) from None


# Parsing a requirement costs ~20 us and a declaration is read on every keystroke in the editor:
# the same few strings are normalised again and again, so the results are cached.
@functools.lru_cache(maxsize=16384)
def _normalised(text: str) -> tuple[str, str]:
    """(canonical text, canonical name); raises InvalidRequirement (not cached) for bad input."""
    req = Requirement(text)
    req.name = canonicalize_name(req.name)
    req.extras = {canonicalize_name(e) for e in req.extras}
    return str(req), req.name


def is_valid(text: str) -> bool:
    """A PEP 508 requirement? (cached: checking costs ~20 us and declarations are read per keystroke)"""
    try:
        _normalised(text)
    except InvalidRequirement:
        return False
    return True


def check_requirement(text: str, *, path: Path | None = None, line: int | None = None) -> None:
    """Raise InvalidRequirementError (naming file and line) unless `text` is a PEP 508 requirement."""
    try:
        _normalised(text)
    except InvalidRequirement:
        parse_requirement(text, path=path, line=line)


def normalise_requirement(req: Requirement) -> str:
    """The canonical text of one requirement: canonical name, sorted extras, packaging's spacing."""
    return _normalised(str(req))[0]


def normalise_requirements(
    texts: Iterable[str], *, path: Path | None = None, line: int | None = None
) -> tuple[str, ...]:
    """Canonical, sorted, deduplicated. Invalid entries raise with the file and line."""
    out: dict[str, str] = {}
    for t in texts:
        try:
            norm, name = _normalised(t)
        except InvalidRequirement:
            parse_requirement(t, path=path, line=line)
            raise
        out[norm] = name
    return tuple(sorted(out, key=lambda r: (out[r], r)))


def requirement_name(text: str) -> str:
    """The canonical distribution name of a requirement string (invalid input raises)."""
    try:
        return _normalised(text)[1]
    except InvalidRequirement:
        return canonicalize_name(parse_requirement(text).name)


def toml_reason(exc: Exception) -> str:
    """tomlkit's message without its own position (we give the file's) and with readable characters."""
    reason = str(exc).split(" at line ")[0]
    if "'\\x00'" in reason:
        return 'it ends before a value is complete (a missing ], " or })'
    return reason


def validate_requires_python(
    value: str, *, path: Path | None = None, line: int | None = None
) -> str:
    try:
        return str(SpecifierSet(value))
    except InvalidSpecifier:
        raise DeclarationError(
            f"invalid requires-python {value!r}",
            path=path,
            line=line,
            hint="Write a version specifier, for example '>=3.11'",
        ) from None
