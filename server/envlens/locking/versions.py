"""Lock Versions: pin each declared dependency and write uv's universal lock where uv and juv look.

- Scripts: `uv lock --script FILE` writes `<file>.py.lock` beside the file (uv's own format and
  place, so `uv run --locked file.py` accepts it).
- Notebooks: as juv does it: the declaration goes into a temporary script, that is locked, and the
  lock's TOML is stored as a string in `metadata["uv.lock"]`.
- Pins: each declared dependency is rewritten to `name==<version>` (extras and markers kept): the
  version installed in the file's environment when it is built, else the locked one. The lock is
  then made for the pinned declaration, so the lock's manifest matches the file exactly.
- requires-python: when the pins need a newer Python than the declaration allows, the lock is made
  for the range uv suggests, which is written into the declaration too and reported.

Everything is computed in temporary files first; the user's file and lock are written only when
uv succeeded, so a failure changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envlens.edit import plan_edit
from envlens.envs.runner import Progress, RunResult
from envlens.envs.uv import Uv, classify_failure, script_workspace
from envlens.errors import (
    BadInputError,
    DeclarationError,
    EnvlensError,
    LockError,
    ResolutionError,
)
from envlens.fileio import atomic_write_text, check_writable, read_text
from envlens.locking.drift import declared_entry, exclude_newer_instant, lock_python, sourced_names
from envlens.locking.read import lock_location, locked_versions, parse_lock
from envlens.locking.result import LockResult
from envlens.resolve import Resolution, declaration_for, resolve
from envlens.settings import Settings
from envlens.sources import pep723
from envlens.sources.lockfile import NOTEBOOK_LOCK_KEY
from envlens.sources.notebook import Notebook, cell_source, parse_notebook, set_cell_source

# ---------------------------------------------------------------------------------------------
# Locking


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
    if not decl.lockable:
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
        if new != r and declared_entry(new) != declared_entry(r):
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
    if exclude_newer_instant(value) is None:
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
    if resolution.spec.backend == "conda" and resolution.runtime == "python":
        from envlens.locking import conda  # rattler's lock format: loads rattler only when needed

        return conda.plan_lock(
            resolution, old_text, upgrade=upgrade, settings=settings, cancel=cancel, start=start
        )
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
        python=lock_python(resolution, uv.path, settings),
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
