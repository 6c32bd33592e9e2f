"""Lock Versions: pin each declared dependency and write uv's universal lock where uv and juv look.

- Scripts: `uv lock --script FILE` writes `<file>.py.lock` beside the file (uv's own format and
  place, so `uv run --locked file.py` accepts it).
- Notebooks: as juv does it: the declaration cell goes into a temporary script, that is locked, and
  the lock's TOML is stored as a string in `metadata["uv.lock"]`.
- Pins: each declared dependency is rewritten to `name==<version>` (extras and markers kept): the
  version installed in the file's environment when it is built, else the locked one. The lock is
  then made for the pinned declaration, so the lock's manifest matches the file exactly.

Everything is computed in temporary files first; the user's file and lock are written only when
uv succeeded, so a failure changes nothing. Drift (`lock_state`) compares the declaration with the
requirements uv recorded in the lock, in Python, so it is cheap enough for every keystroke.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from envlens.edit import plan_edit
from envlens.envs.runner import Progress, RunResult
from envlens.envs.uv import Uv, classify_failure, declaration_script, script_workspace
from envlens.errors import (
    BadInputError,
    DeclarationError,
    EnvlensError,
    LockError,
    ResolutionError,
)
from envlens.fileio import atomic_write_text, check_writable, read_text
from envlens.resolve import Resolution, declaration_for, resolve
from envlens.settings import Settings
from envlens.sources import pep723
from envlens.sources.declaration import Declaration
from envlens.sources.lockfile import NOTEBOOK_LOCK_KEY, script_lock_path
from envlens.sources.notebook import Notebook, cell_source, parse_notebook, set_cell_source


class _TomlError(ValueError):
    def __init__(self, reason: str, line: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def _toml_loads(text: str) -> dict[str, Any]:
    """tomllib where it exists (fast, for large locks), else tomlkit (Python 3.10)."""
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            raise _TomlError(str(exc).split(" (at")[0], int(m.group(1)) if m else None) from None
    import tomlkit
    import tomlkit.exceptions

    try:
        return dict(tomlkit.parse(text).unwrap())
    except tomlkit.exceptions.ParseError as exc:
        raise _TomlError(str(exc).split(" at line ")[0], exc.line) from None


LockState = Literal["none", "fresh", "stale"]

# ---------------------------------------------------------------------------------------------
# Reading a lock


@dataclass(frozen=True)
class LockedPackage:
    name: str  # canonical
    version: str | None
    source: dict[str, Any]


@dataclass(frozen=True)
class ParsedLock:
    text: str
    requires_python: str | None
    requirements: tuple[dict[str, Any], ...]  # [manifest] requirements, as uv wrote them
    exclude_newer: str | None
    packages: tuple[LockedPackage, ...]

    def versions(self) -> dict[str, str]:
        """Canonical name -> version; a name locked at two versions (forked) keeps the highest."""
        from packaging.version import InvalidVersion, Version

        out: dict[str, str] = {}
        for p in self.packages:
            if p.version is None:
                continue
            old = out.get(p.name)
            try:
                if old is None or Version(p.version) > Version(old):
                    out[p.name] = p.version
            except InvalidVersion:
                out[p.name] = p.version
        return out


_PACKAGE_HEAD = re.compile(r'^\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"', re.M)


def locked_versions(text: str) -> dict[str, str]:
    """Canonical name -> version, read fast: uv writes each package's name and version first
    (a full TOML parse of a large lock costs ~50 ms); anything unexpected takes the full parse."""
    from packaging.version import InvalidVersion, Version

    found = _PACKAGE_HEAD.findall(text)
    if len(found) != text.count("[[package]]"):
        return parse_lock(text, where="uv's lock").versions()
    out: dict[str, str] = {}
    for name, version in found:
        n = canonicalize_name(name)
        try:
            if n not in out or Version(version) > Version(out[n]):
                out[n] = version
        except InvalidVersion:
            out[n] = version
    return out


def lock_location(resolution: Resolution) -> tuple[Path, str]:
    """Where the lock lives, for messages: (file, description)."""
    if resolution.path.suffix == ".ipynb":
        return resolution.path, f'metadata["{NOTEBOOK_LOCK_KEY}"] of {resolution.path.name}'
    lock = script_lock_path(resolution.path)
    return lock, lock.name


def parse_lock(text: str, *, path: Path | None = None, where: str = "the lock") -> ParsedLock:
    """uv's lock TOML; a corrupt one raises LockError naming the line."""
    try:
        data = _toml_loads(text)
    except _TomlError as exc:
        raise LockError(
            f"{where} is not valid TOML: {exc.reason}",
            path=path,
            line=exc.line if path and path.suffix != ".ipynb" else None,
            hint="Delete the lock (or restore it from version control) and run Lock Versions again",
        ) from None
    if not isinstance(data.get("version"), int) or not isinstance(data.get("package", []), list):
        raise LockError(
            f"{where} is not a uv lock (it has no 'version' number)",
            path=path,
            hint="Delete the lock (or restore it from version control) and run Lock Versions again",
        )
    manifest = data.get("manifest", {})
    reqs = manifest.get("requirements", []) if isinstance(manifest, dict) else []
    options = data.get("options", {})
    packages: list[LockedPackage] = []
    for p in data.get("package", []):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise LockError(
                f"{where} has a [[package]] entry without a name",
                path=path,
                hint="Delete the lock and run Lock Versions again",
            )
        version = p.get("version")
        source = p.get("source", {})
        packages.append(
            LockedPackage(
                canonicalize_name(p["name"]),
                str(version) if version is not None else None,
                source if isinstance(source, dict) else {},
            )
        )
    rp = data.get("requires-python")
    en = options.get("exclude-newer") if isinstance(options, dict) else None
    return ParsedLock(
        text=text,
        requires_python=str(rp) if rp is not None else None,
        requirements=tuple(r for r in reqs if isinstance(r, dict)),
        exclude_newer=str(en) if en is not None else None,
        packages=tuple(packages),
    )


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


def _declared_entry(req_text: str) -> tuple[str, tuple[str, ...], str, str]:
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


def _exclude_newer_instant(value: str) -> dt.datetime | None:
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


def compare(resolution: Resolution, lock: ParsedLock) -> Drift:
    """Does the lock still belong to the declaration? Reasons name each difference."""
    decl = resolution.declaration
    # A package from a path, git or URL source is recorded by uv with that source in place of a
    # version specifier: compare its name, extras and marker, and leave the source to uv.
    sourced = sourced_names(decl)
    declared = {}
    for r in decl.requirements:
        e = _declared_entry(r)
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
        elif want and have and _exclude_newer_instant(want) != _exclude_newer_instant(have):
            reasons.append(f"exclude-newer changed to {want}")
    if reasons:
        return Drift("stale", tuple(reasons))
    # Sources, indexes, constraints... are recorded in the lock in uv's own terms: uv decides.
    if set(decl.settings()) - {"exclude-newer"}:
        uncertain = True
    return Drift("fresh", (), uncertain)


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
    python = _python_for(resolution, uv.path, settings)
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
    path, where = lock_location(resolution)
    name = resolution.path.name
    tail = f", {alternative}" if alternative else ""
    if resolution.lock_text is None:
        raise LockError(
            f"{name} has no lock",
            path=resolution.path,
            hint=f"Run `envlens lock {name}` first{tail}",
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


# ---------------------------------------------------------------------------------------------
# Locking


@dataclass(frozen=True)
class LockResult:
    path: Path  # the script or notebook
    lock_path: Path  # <file>.py.lock, or the notebook itself (metadata["uv.lock"])
    lock_text: str
    new_text: str  # the file's new content (pins, exclude-newer)
    old_text: str
    pins: dict[str, str]  # declared requirement -> its pinned form (only those that changed)
    versions: dict[str, str]  # every locked package: canonical name -> version
    changes: dict[
        str, tuple[str | None, str | None]
    ]  # name -> (before, after) against the old lock
    lock_changed: bool
    file_changed: bool
    seconds: float
    log: str = field(default="", repr=False)
    # (declared, locked for) when the declared requires-python was wider than the pins support
    requires_python: tuple[str | None, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "lockPath": str(self.lock_path),
            "pins": self.pins,
            "versions": self.versions,
            "changes": {k: list(v) for k, v in self.changes.items()},
            "lockChanged": self.lock_changed,
            "fileChanged": self.file_changed,
            "seconds": round(self.seconds, 3),
            "requiresPython": {
                "declared": self.requires_python[0],
                "locked": self.requires_python[1],
            }
            if self.requires_python
            else None,
        }


def lock_script_text(resolution: Resolution, file_text: str) -> str:
    """The script uv locks for the file's text as it will be: its declaration, as uv reads it
    (the PEP 723 block, or nteract metadata written as one), read again from that text."""
    path = resolution.path
    nb = parse_notebook(file_text, path) if path.suffix == ".ipynb" else None
    _, decl, _ = declaration_for(path, text=None if nb else file_text, notebook=nb)
    return pep723.uv_script(decl)


def _check_lockable(resolution: Resolution) -> None:
    decl = resolution.declaration
    if resolution.runtime == "deno":
        raise BadInputError(
            "Deno notebooks have no Python dependencies to lock", path=resolution.path
        )
    if decl.kind == "none":
        raise DeclarationError(
            "nothing is declared, so there is nothing to lock",
            path=resolution.path,
            hint=f"Declare dependencies first (`envlens add {resolution.path.name} numpy`)",
        )
    if decl.kind == "uv-project":
        raise DeclarationError(
            f"the dependencies are declared by the uv project {decl.path}",
            path=decl.path,
            hint="Lock the project with `uv lock` in its folder",
        )
    if decl.kind not in ("pep723", "notebook-uv"):
        raise DeclarationError(
            f"envlens locks inline PyPI declarations; this file uses {decl.label}",
            path=decl.path or resolution.path,
            hint="Move the dependencies into a '# /// script' block to lock them",
        )


def installed_versions(env_dir: Path) -> dict[str, str]:
    """Canonical name -> version of what is installed in an environment."""
    from envlens.envs.inventory import installed

    return {canonicalize_name(d.name): d.version for d in installed(env_dir)}


_HEAD = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<extras>\[[^\]]*\])?")


def _with_specifier(req_text: str, specifier: str) -> str:
    """The requirement with a new version specifier; name, extras and marker kept as written."""
    m = _HEAD.match(req_text)
    assert m is not None  # the text parsed as a requirement already
    head = m.group("name") + (m.group("extras") or "")
    semi = req_text.find(";")
    if semi < 0:
        return f"{head}{specifier}"
    space = " " if req_text[:semi].endswith(" ") else ""
    return f"{head}{specifier}{space}{req_text[semi:]}"


def _pinned(req_text: str, version: str) -> str:
    return _with_specifier(req_text, f"=={version}")


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


def _pin_map(
    requirements: tuple[str, ...], versions: dict[str, str], unpinned: set[str] | None = None
) -> dict[str, str]:
    """Declared requirement -> `name==version` (direct references, packages from a path, git or
    URL source, and unknown names stay)."""
    out: dict[str, str] = {}
    for r in requirements:
        req = Requirement(r)
        if req.url or canonicalize_name(req.name) in (unpinned or set()):
            continue
        v = versions.get(canonicalize_name(req.name))
        if v is None:
            continue
        new = _pinned(r, v)
        if new != r and _declared_entry(new) != _declared_entry(r):
            out[r] = new
    return out


def _released(requirements: tuple[str, ...]) -> dict[str, str]:
    """For --upgrade: `name==V` pins become `name>=V` (newest allowed, never a downgrade)."""
    out: dict[str, str] = {}
    for r in requirements:
        req = Requirement(r)
        specs = list(req.specifier)
        if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version:
            out[r] = _with_specifier(r, f">={specs[0].version}")
    return out


def _apply_to_file(
    resolution: Resolution,
    text: str,
    *,
    replace: dict[str, str],
    exclude_newer: str | None,
    settings: Settings,
    requires_python: str | None = None,
) -> str:
    """The file's text with pins (and exclude-newer, requires-python) written into its declaration
    only."""
    path = resolution.path
    if replace or requires_python:
        text = plan_edit(
            path, replace=replace, requires_python=requires_python, text=text, settings=settings
        ).new_text
    if exclude_newer is None or resolution.declaration.kind != "pep723":
        return text
    if path.suffix != ".ipynb":
        return _set_exclude_newer(text, path, exclude_newer)
    nb = parse_notebook(text, path)
    cell_index = resolution.declaration.cell
    assert cell_index is not None
    cell = nb.cells[cell_index]
    set_cell_source(cell, _set_exclude_newer(cell_source(cell), path, exclude_newer))
    return nb.dumps()


def _set_exclude_newer(text: str, path: Path, value: str) -> str:
    import tomlkit

    block = pep723.find_script_block(text, path)
    assert block is not None
    doc = pep723.parse_toml(block, path)
    tool = doc.setdefault("tool", tomlkit.table())
    uv = tool.setdefault("uv", tomlkit.table())
    uv["exclude-newer"] = value
    return text[: block.start_offset] + pep723.render_block(doc) + text[block.end_offset :]


def _with_lock(text: str, path: Path, lock_text: str) -> str:
    nb = parse_notebook(text, path)
    nb.metadata[NOTEBOOK_LOCK_KEY] = lock_text
    return nb.dumps()


def validate_date(value: str) -> str:
    if _exclude_newer_instant(value) is None:
        raise BadInputError(
            f"--exclude-newer {value!r} is not a date",
            hint="Give a date like 2025-06-01 or a time like 2025-06-01T12:00:00Z",
        )
    return value


# uv's advice when the declared Python range is wider than what the pinned packages support.
_NARROWER = re.compile(
    r"more restrictive `?requires-python`? value \(like `?(>=\s*[0-9][0-9.]*)`?\)"
)


@dataclass
class _Locker:
    """One locking job: uv (with its log of every call), the interpreter, the file, the options."""

    uv: Uv
    python: Path | None
    resolution: Resolution
    exclude_newer: str | None

    def lock(
        self, script_text: str, lock_text: str | None, *, upgrade: bool, offline_first: bool
    ) -> str:
        """The lock uv writes for this script (starting from `lock_text`); errors are typed."""
        with script_workspace(self.resolution, script_text, lock_text) as ws:
            res = self.uv.lock_script(
                ws.script,
                python=self.python,
                upgrade=upgrade,
                exclude_newer=self.exclude_newer,
                offline_first=offline_first,
            )
            if not res.ok:
                raise lock_failure(res, self.resolution, self.uv.log())
            return ws.lock.read_text(encoding="utf-8")

    def narrower_python(self) -> str | None:
        """uv's suggestion after a failed lock: the requires-python its packages support."""
        if not self.uv.results:
            return None
        m = _NARROWER.search(self.uv.results[-1].stderr)
        return m.group(1).replace(" ", "") if m else None


def _python_for(resolution: Resolution, uv: Path, settings: Settings) -> Path | None:
    """The interpreter the environment uses (None: let uv choose)."""
    from envlens.envs.interpreters import find_interpreter
    from envlens.errors import PythonNotFoundError

    if resolution.declaration.requires_python is None:
        # uv then records the interpreter's version as requires-python; only its own choice
        # gives the lock that `uv run --locked` (which chooses the same way) accepts.
        return None
    try:
        return find_interpreter(resolution.spec.requires_python, uv=uv, settings=settings).path
    except PythonNotFoundError:
        return None


def _interpreter_for(requires_python: str, uv: Path, settings: Settings) -> Path | None:
    from envlens.envs.interpreters import find_interpreter

    try:
        return find_interpreter(requires_python, uv=uv, settings=settings).path
    except EnvlensError:
        return None  # uv then looks for one itself, and says so when it finds none


def lock_failure(res: RunResult, resolution: Resolution, log: str) -> EnvlensError:
    if "Failed to parse" in res.stderr and "lock" in res.stderr:
        path, where = lock_location(resolution)
        return LockError(
            f"uv could not read {where}",
            path=path,
            log=log,
            hint="Delete the lock and lock the file again",
        )
    return classify_failure(res, resolution, log=log)


def plan_lock(
    path: Path,
    *,
    upgrade: bool = False,
    exclude_newer: str | None = None,
    settings: Settings | None = None,
    text: str | None = None,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> LockResult:
    """Pin and lock in temporary files; nothing of the user's is written (see `lock_file`)."""
    start = time.monotonic()
    settings = settings or Settings.from_env()
    path = Path(path).absolute()
    if exclude_newer is not None:
        validate_date(exclude_newer)
    old_text = text if text is not None else read_text(path)
    nb: Notebook | None = parse_notebook(old_text, path) if path.suffix == ".ipynb" else None
    resolution = resolve(path, text=None if nb else old_text, notebook=nb, settings=settings)
    _check_lockable(resolution)
    lock_path, where = lock_location(resolution)
    old_lock = resolution.lock_text
    old_parsed = parse_lock(old_lock, path=lock_path, where=where) if old_lock else None
    uv = Uv.find(settings, cancel=cancel, progress=progress)
    decl = resolution.declaration
    say = progress or (lambda _m: None)

    # exclude-newer is written into the declaration (not only passed to uv), so the lock's options
    # match the file and `uv run --locked` accepts it.
    base_text = _apply_to_file(
        resolution, old_text, replace={}, exclude_newer=exclude_newer, settings=settings
    )
    locker = _Locker(
        uv=uv,
        python=_python_for(resolution, uv.path, settings),
        resolution=resolution,
        exclude_newer=exclude_newer if decl.kind != "pep723" else None,
    )
    job = _PinnedLock(locker, resolution, base_text, settings)

    # Pins to start from: what is installed, when the environment is built (not when upgrading).
    installed: dict[str, str] = {}
    if not upgrade and resolution.built and resolution.spec.backend == "uv":
        installed = installed_versions(resolution.env_dir)
    pins = _pin_map(decl.requirements, installed, sourced_names(decl))
    release = _released(decl.requirements) if upgrade else {}
    n = len(decl.requirements)
    say(f"Locking {n} declared package{'s' if n != 1 else ''} with uv...")

    lock_text: str | None = None
    if pins:
        try:
            lock_text = job.lock(pins, old_lock)
        except ResolutionError:
            lock_text = None  # the installed versions do not resolve for every platform
            pins = {}
    if lock_text is None:
        first_text = job.text(release) if release else job.text({})
        # A fresh resolution goes online (the newest versions); an existing lock is kept as is.
        lock_text = locker.lock(
            lock_script_text(resolution, first_text),
            None if upgrade else old_lock,
            upgrade=upgrade,
            offline_first=False,
        )
        pins = _pin_map(decl.requirements, locked_versions(lock_text), sourced_names(decl))
        if pins:
            say(f"Pinning {len(pins)} package{'s' if len(pins) != 1 else ''} and locking again...")
            # Same versions, pinned: uv's cache has every page it needs, so this is offline.
            lock_text = job.lock(pins, lock_text)
    new_text = job.text(pins)
    versions = locked_versions(lock_text)
    before = locked_versions(old_lock) if old_lock else {}
    changes = {
        n: (before.get(n), versions.get(n))
        for n in sorted(set(before) | set(versions))
        if before.get(n) != versions.get(n)
    }
    if nb is not None:
        new_text = _with_lock(new_text, path, lock_text)
    return LockResult(
        path=path,
        lock_path=lock_path,
        lock_text=lock_text,
        new_text=new_text,
        old_text=old_text,
        pins=pins,
        versions=versions,
        changes=changes if old_parsed else {},
        lock_changed=lock_text != old_lock,
        file_changed=new_text != old_text,
        seconds=time.monotonic() - start,
        log=uv.log(),
        requires_python=(decl.requires_python, job.requires_python)
        if job.requires_python is not None
        else None,
    )


@dataclass
class _PinnedLock:
    """Locks the declaration with pins written in. When the pinned versions do not support every
    Python the declaration allows, uv names the narrower requires-python they do support: the lock
    is then made for that range, which is written into the declaration too (and reported)."""

    locker: _Locker
    resolution: Resolution
    base_text: str
    settings: Settings
    requires_python: str | None = None  # the narrowed range, once uv asked for one

    def text(self, replace: dict[str, str]) -> str:
        return _apply_to_file(
            self.resolution,
            self.base_text,
            replace=replace,
            exclude_newer=None,
            settings=self.settings,
            requires_python=self.requires_python,
        )

    def lock(self, pins: dict[str, str], start_from: str | None) -> str:
        for _ in range(4):
            try:
                return self.locker.lock(
                    lock_script_text(self.resolution, self.text(pins)),
                    start_from,
                    upgrade=False,
                    offline_first=True,
                )
            except ResolutionError:
                narrower = self.locker.narrower_python()
                if narrower is None or narrower == self.requires_python:
                    raise
                self.requires_python = narrower
                start_from = None  # the old lock was made for the wider range
                self.locker.python = _interpreter_for(narrower, self.locker.uv.path, self.settings)
        raise ResolutionError(
            "uv kept asking for a narrower requires-python",
            path=self.resolution.path,
            log=self.locker.uv.log(),
            hint="Set requires-python in the declaration to the Python you use, and lock again",
        )


def write_lock(result: LockResult) -> None:
    """Write what `plan_lock` computed: the lock first, then the file (each atomically)."""
    # Both or neither: a read-only script must not end up with a lock that does not match it.
    if result.path.suffix != ".ipynb" and result.lock_changed:
        check_writable(result.lock_path)
    if result.file_changed:
        check_writable(result.path)
    if result.path.suffix != ".ipynb" and result.lock_changed:
        new = not result.lock_path.exists()
        atomic_write_text(result.lock_path, result.lock_text)
        if new:  # a new file gets the script's permissions (without execute), not mkstemp's 0600
            with contextlib.suppress(OSError):
                os.chmod(result.lock_path, result.path.stat().st_mode & 0o666)
    if result.file_changed:
        atomic_write_text(result.path, result.new_text)


def lock_file(
    path: Path,
    *,
    upgrade: bool = False,
    exclude_newer: str | None = None,
    settings: Settings | None = None,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> LockResult:
    """Lock Versions: pin the declaration and write the lock (`<file>.py.lock` / metadata)."""
    result = plan_lock(
        path,
        upgrade=upgrade,
        exclude_newer=exclude_newer,
        settings=settings,
        cancel=cancel,
        progress=progress,
    )
    write_lock(result)
    return result
