"""Drift: does a file's lock still belong to its declaration?

The requirements uv recorded in the lock's `[manifest]` against the declaration, normalised the way
uv normalises them, in Python: cheap enough for every keystroke (`quick_drift`). Where only uv's own
reading can settle it (a marker spelled differently, [tool.uv] settings), `drift` asks
`uv lock --check --offline` (cached), but only for approved files: uv may run a source's build
backend to read its metadata.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from envlens import surface
from envlens.envs.interpreters import find_interpreter
from envlens.envs.uv import Uv, declaration_script, script_workspace
from envlens.errors import (
    EnvlensError,
    LockError,
)
from envlens.locking.read import ParsedLock, lock_location, parse_lock
from envlens.resolve import Resolution
from envlens.settings import Settings
from envlens.sources.declaration import Declaration

LockState = Literal["none", "fresh", "stale"]

# ---------------------------------------------------------------------------------------------
# Drift


_PV = re.compile(r"python_version\s*(==|!=|<=|>=|<|>)\s*['\"](\d+)\.(\d+)['\"]")


def _uv_marker(marker: str) -> str:
    """A marker as uv records it: python_version comparisons become python_full_version ones."""

    def sub(m: re.Match[str]) -> str:
        op, major, minor = m.group(1), int(m.group(2)), int(m.group(3))
        v = f"{major}.{minor}"
        nxt = f"{major}.{minor + 1}"
        return {
            "==": f"python_full_version == '{v}.*'",
            "!=": f"python_full_version != '{v}.*'",
            ">=": f"python_full_version >= '{v}'",
            "<": f"python_full_version < '{v}'",
            ">": f"python_full_version >= '{nxt}'",
            "<=": f"python_full_version < '{nxt}'",
        }[op]

    try:
        text = str(Marker(marker))
    except InvalidMarker:
        text = marker
    text = _PV.sub(sub, text)
    try:
        return str(Marker(text))
    except InvalidMarker:
        return text


def _spec(text: str | None) -> str:
    try:
        return str(SpecifierSet(text or ""))
    except InvalidSpecifier:
        return text or ""


def declared_entry(req_text: str) -> tuple[str, tuple[str, ...], str, str]:
    req = Requirement(req_text)
    return (
        canonicalize_name(req.name),
        tuple(sorted(canonicalize_name(e) for e in req.extras)),
        req.url or _spec(str(req.specifier)),
        _uv_marker(str(req.marker)) if req.marker else "",
    )


def _locked_entry(entry: dict[str, Any]) -> tuple[str, tuple[str, ...], str, str]:
    extras = entry.get("extras", [])
    url = entry.get("url") or entry.get("git") or entry.get("path") or entry.get("directory")
    marker = entry.get("marker")
    return (
        canonicalize_name(str(entry.get("name", ""))),
        tuple(sorted(canonicalize_name(str(e)) for e in extras)),
        str(url) if url else _spec(entry.get("specifier")),
        _uv_marker(str(marker)) if marker else "",
    )


def exclude_newer_instant(value: str) -> dt.datetime | None:
    """uv's reading of exclude-newer: a date means the end of that day (UTC)."""
    v = value.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            d = dt.date.fromisoformat(v)
            return dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc) + dt.timedelta(
                days=1
            )
        parsed = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


@dataclass(frozen=True)
class Drift:
    state: LockState
    reasons: tuple[str, ...] = ()
    uncertain: bool = False  # only marker spellings differ: uv itself decides


def sourced_names(decl: Declaration) -> set[str]:
    """Packages the declaration takes from a path, git or URL source ([tool.uv.sources]): their
    version is whatever that source holds, so Lock Versions does not pin them."""
    sources = decl.settings().get("sources", {})
    out: set[str] = set()
    for name, entry in sources.items() if isinstance(sources, dict) else ():
        entries = entry if isinstance(entry, list) else [entry]
        if any(isinstance(e, dict) and not isinstance(e.get("index"), str) for e in entries):
            out.add(canonicalize_name(str(name)))
    return out


def compare(resolution: Resolution, lock: ParsedLock) -> Drift:
    """Does the lock still belong to the declaration? Reasons name each difference."""
    decl = resolution.declaration
    # A package from a path, git or URL source is recorded by uv with that source in place of a
    # version specifier: compare its name, extras and marker, and leave the source to uv.
    sourced = sourced_names(decl)
    declared = {}
    for r in decl.requirements:
        e = declared_entry(r)
        if e[0] in sourced:
            e = (e[0], e[1], "", e[3])
        declared[(e[0], e[1], e[3])] = e
    locked = {}
    for entry in lock.requirements:
        e = _locked_entry(entry)
        if e[0] in sourced:
            e = (e[0], e[1], "", e[3])
        locked[(e[0], e[1], e[3])] = e
    reasons: list[str] = []
    uncertain = False
    dnames = {k[0] for k in declared}
    lnames = {k[0] for k in locked}
    for name in sorted(dnames - lnames):
        reasons.append(f"{name} is declared but not in the lock")
    for name in sorted(lnames - dnames):
        reasons.append(f"{name} is in the lock but no longer declared")
    for name in sorted(dnames & lnames):
        d = sorted(e for k, e in declared.items() if k[0] == name)
        lk = sorted(e for k, e in locked.items() if k[0] == name)
        if d == lk:
            continue
        if [x[:3] for x in d] == [x[:3] for x in lk]:
            uncertain = True  # same requirement, marker spelled differently
            continue
        dspec = ", ".join(x[2] or "any version" for x in d)
        lspec = ", ".join(x[2] or "any version" for x in lk)
        if [x[1] for x in d] != [x[1] for x in lk]:
            reasons.append(f"{name}: its extras changed")
        else:
            reasons.append(f"{name}: declared {dspec}, locked for {lspec}")
    if (
        decl.requires_python
        and lock.requires_python is not None
        and _spec(decl.requires_python) != _spec(lock.requires_python)
    ):
        uncertain = True  # uv may have simplified it (e.g. "~=3.10" -> ">=3.10, <4")
    if decl.kind == "pep723":
        want = decl.exclude_newer
        have = lock.exclude_newer
        if (want is None) != (have is None):
            reasons.append(
                "exclude-newer was added to the declaration"
                if want
                else "exclude-newer was removed from the declaration"
            )
        elif want and have and exclude_newer_instant(want) != exclude_newer_instant(have):
            reasons.append(f"exclude-newer changed to {want}")
    if reasons:
        return Drift("stale", tuple(reasons))
    # Sources, indexes, constraints... are recorded in the lock in uv's own terms: uv decides.
    if set(decl.settings()) - {"exclude-newer"}:
        uncertain = True
    return Drift("fresh", (), uncertain)


def lock_python(resolution: Resolution, uv: Path, settings: Settings) -> Path | None:
    """The interpreter a lock is made with: the environment's (None: let uv choose)."""
    if resolution.declaration.requires_python is None:
        # uv then records the interpreter's version as requires-python; only its own choice
        # gives the lock that `uv run --locked` (which chooses the same way) accepts.
        return None
    try:
        return find_interpreter(resolution.spec.requires_python, uv=uv, settings=settings).path
    except EnvlensError:
        return None


_uv_check_cache: dict[str, bool] = {}
_uv_check_lock = threading.Lock()


def _uv_says_fresh(resolution: Resolution, lock_text: str, settings: Settings | None) -> bool:
    """Ask `uv lock --check --offline` (cached): for differences only uv's own reading can settle."""
    script = declaration_script(resolution)
    key = hashlib.sha256(
        (script + "\0" + lock_text + "\0" + str(resolution.declaration.anchor)).encode()
    ).hexdigest()
    with _uv_check_lock:
        if key in _uv_check_cache:
            return _uv_check_cache[key]
    settings = settings or Settings.from_env()
    uv = Uv.find(settings)
    python = lock_python(resolution, uv.path, settings)
    with script_workspace(resolution, script, lock_text) as ws:
        ok = uv.lock_is_current(ws.script, python=python)
    with _uv_check_lock:
        _uv_check_cache[key] = ok
    return ok


def drift(
    resolution: Resolution, settings: Settings | None = None, *, uv_check: bool = True
) -> Drift:
    """The lock's state with its reasons; a corrupt lock is stale (re-locking is the fix).

    `uv_check=False` for a file not approved yet: asking uv may run a source's build backend, so
    only envlens's own reading answers (fresh but `uncertain`)."""
    result = quick_drift(resolution)
    if result.state == "fresh" and result.uncertain and uv_check:
        assert resolution.lock_text is not None
        try:
            ok = _uv_says_fresh(resolution, resolution.lock_text, settings)
        except EnvlensError as exc:  # uv cannot answer: then the lock is not known to be fresh
            return Drift("stale", (f"uv could not check the lock: {exc.message}",))
        if not ok:
            return Drift("stale", ("the declaration no longer matches the lock",))
    return result


_quick_cache: dict[tuple[str, Declaration], Drift] = {}


def quick_drift(resolution: Resolution) -> Drift:
    """`drift` without ever calling uv: cheap enough for every keystroke. Differences only uv can
    settle come back as fresh and `uncertain`. Cached by the spec's key (it includes the lock's hash)
    and the declaration as written (exclude-newer and spellings are not in the key)."""
    if resolution.spec.backend == "conda":  # a conda lock (rattler's format): its own check
        from envlens.envs.conda_lock import drift as conda_drift

        return Drift(*conda_drift(resolution))
    key = (resolution.key, resolution.declaration)
    hit = _quick_cache.get(key)
    if hit is not None:
        return hit
    if resolution.lock_text is None or not resolution.declaration.inline:
        result = Drift("none")
    else:
        path, where = lock_location(resolution)
        try:
            result = compare(resolution, parse_lock(resolution.lock_text, path=path, where=where))
        except LockError as exc:
            result = Drift("stale", (exc.message,))
    if len(_quick_cache) > 1024:
        _quick_cache.clear()
    _quick_cache[key] = result
    return result


def lock_state(
    resolution: Resolution, settings: Settings | None = None, *, uv_check: bool = True
) -> LockState:
    """ "none" (no lock), "fresh" (the lock belongs to the declaration) or "stale"."""
    return drift(resolution, settings, uv_check=uv_check).state


def require_fresh_lock(
    resolution: Resolution, settings: Settings | None = None, *, alternative: str | None = None
) -> str:
    """The lock text, when it exists, parses and still belongs to the declaration; else LockError.
    `alternative` ends the hint (", or run without --locked")."""
    if resolution.spec.backend == "conda":
        from envlens.envs.conda_lock import require_fresh

        return require_fresh(resolution, alternative=alternative)
    path, where = lock_location(resolution)
    name = resolution.path.name
    tail = f", {alternative}" if alternative else ""
    if resolution.lock_text is None:
        raise LockError(
            f"{name} has no lock",
            path=resolution.path,
            hint=surface.sentence(surface.action("lock", name)) + f" first{tail}",
        )
    parse_lock(resolution.lock_text, path=path, where=where)
    d = drift(resolution, settings)
    if d.state == "stale":
        raise LockError(
            f"the lock is out of date: {'; '.join(d.reasons)}",
            path=resolution.path,
            line=_decl_line(resolution),
            hint=f"Run `envlens lock {name}` to update it{tail}",
        )
    return resolution.lock_text


def _decl_line(resolution: Resolution) -> int | None:
    d = resolution.declaration
    return d.start_line + 1 if d.start_line is not None else None
