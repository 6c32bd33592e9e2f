"""Requirement strings: validate and normalise with `packaging`, never by hand."""

from __future__ import annotations

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


def normalise_requirement(req: Requirement) -> str:
    """The canonical text of one requirement: canonical name, sorted extras, packaging's spacing."""
    req = Requirement(str(req))
    req.name = canonicalize_name(req.name)
    req.extras = {canonicalize_name(e) for e in req.extras}
    return str(req)


def normalise_requirements(
    texts: Iterable[str], *, path: Path | None = None, line: int | None = None
) -> tuple[str, ...]:
    """Canonical, sorted, deduplicated. Invalid entries raise with the file and line."""
    out = {normalise_requirement(parse_requirement(t, path=path, line=line)) for t in texts}
    return tuple(sorted(out, key=lambda r: (canonicalize_name(Requirement(r).name), r)))


def requirement_name(text: str) -> str:
    """The canonical distribution name of a requirement string (invalid input raises)."""
    return canonicalize_name(parse_requirement(text).name)


def toml_reason(exc: Exception) -> str:
    """tomlkit's message without its own position (we give the file's) and with readable characters."""
    reason = str(exc).split(" at line ")[0]
    return reason.replace("'\\x00'", "end of file")


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
