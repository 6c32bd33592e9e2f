"""The pool: prewarmed spare environments for files that declare nothing, so a new or undeclared
notebook starts its kernel at once.

Why a spare becomes the file's environment without breaking the content keys: a file that declares
nothing resolves to the *default declaration* (ipykernel and the user's envlens.defaultPackages,
with envlens.defaultPython; `resolve.default_declaration`), whose environment is keyed like any
other. Every spare is built from exactly that declaration, by the same builder (`uv_backend.build`),
so a spare's content IS what that key means. Taking one renames it into the store as `<key>/` and
writes its `ready` record: nothing is installed into it afterwards, and a declaration that later
differs (packages added) gets its own key and its own build, exactly what `uv run --script` would
make of it. The other design (installing a file's added packages into a taken spare with
`uv pip install` and renaming it to the new key) would leave the default packages in an environment
whose declaration does not name them: a notebook that works here and fails on a colleague's machine.

Spares live in `<envs>/.pool/<key>-<id>/`, complete (bytecode compiled: the first kernel does not
pay for compiling ipykernel's imports) before their `pool.json` is written and they can be taken.
`envlens.poolSize` spares are kept; a spare older than `envlens.poolMaxAgeDays`, or built for a
declaration the settings no longer give (another default Python or default packages), is removed.
The language server replenishes the pool in the background (`Replenisher`), at start and after
each take; a CLI run takes a spare when one is there but never builds one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from envlens import paths
from envlens.envs.interpreters import find_interpreter
from envlens.envs.record import (
    EnvInfo,
    info_of,
    key_lock,
    ready_record,
    remove_tree,
    reusable,
    write_ready,
)
from envlens.envs.state import read_json, write_json
from envlens.envs.uv import Uv
from envlens.envs.uv_backend import build, compile_bytecode_in_background
from envlens.errors import EnvlensError
from envlens.processes import background_thread_priority
from envlens.resolve import Resolution, pool_resolution
from envlens.settings import Settings

log = logging.getLogger("envlens.pool")

RECORD = "pool.json"
DAY = 86400.0


def pool_dir() -> Path:
    return paths.envs_dir() / ".pool"


@dataclass(frozen=True)
class Spare:
    path: Path
    key: str
    created: float
    python_version: str
    base_python: str


def spares(key: str | None = None) -> list[Spare]:
    """Complete spares (oldest first), of one key when given."""
    out: list[Spare] = []
    root = pool_dir()
    try:
        entries = list(root.iterdir())
    except OSError:
        return out
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        data = read_json(entry / RECORD)
        if not isinstance(data, dict) or not isinstance(data.get("key"), str):
            continue
        if key is not None and data["key"] != key:
            continue
        if not paths.env_python(entry).exists():
            continue
        out.append(
            Spare(
                entry,
                data["key"],
                float(data.get("created") or 0),
                str(data.get("python_version", "")),
                str(data.get("base_python", "")),
            )
        )
    return sorted(out, key=lambda s: s.created)


def _fresh(spare: Spare, settings: Settings, now: float) -> bool:
    return now - spare.created <= settings.pool_max_age_days * DAY


def take(res: Resolution, settings: Settings, start: float) -> EnvInfo | None:
    """The file's environment from a spare, when the file declares nothing and a spare of its key
    is there; None otherwise (the store then builds it as usual)."""
    if res.declaration.kind != "none" or res.spec.backend != "uv":
        return None
    now = time.time()
    candidates = [s for s in spares(res.key) if _fresh(s, settings, now)]
    if not candidates:
        return None
    final = paths.env_dir(res.key)
    paths.envs_dir().mkdir(parents=True, exist_ok=True)
    with key_lock(res.key, cancel=None, progress=lambda _: None):
        record = reusable(final, res.key)
        if record is not None:  # built meanwhile (another process took one first)
            return info_of(final, res.key, record, reused=True, start=start)
        if final.exists():
            remove_tree(final)  # the remains of a killed build of this key
        for spare in reversed(candidates):  # the newest: the longest before it would age out
            try:
                os.rename(spare.path, final)  # atomic: one taker wins a spare
            except OSError:
                continue
            with contextlib.suppress(OSError):
                (final / RECORD).unlink()
            record = ready_record(
                res, python_version=spare.python_version, base_python=spare.base_python
            )
            try:
                write_ready(final, record)
            except BaseException:
                remove_tree(final)
                raise
            log.info("took a prewarmed environment for %s (%s)", res.path.name, res.key)
            _notify_taken()
            return info_of(final, res.key, record, reused=False, start=start)
    return None


def build_spare(settings: Settings, cancel: threading.Event | None = None) -> Spare:
    """Build one spare of the default declaration, bytecode and all, then offer it."""
    res = pool_resolution(settings)
    uv = Uv.find(settings, cancel=cancel)
    interpreter = find_interpreter(res.spec.requires_python, uv=uv.path, settings=settings)
    pool_dir().mkdir(parents=True, exist_ok=True)
    work = pool_dir() / f".build-{uuid.uuid4().hex[:8]}"
    try:
        build(res, work, uv=uv, interpreter=interpreter, progress=lambda _: None, locked=False)
        marker = work / ".compiling"  # the compile stops when it goes (a removed spare)
        marker.touch()
        proc = compile_bytecode_in_background(work, marker)
        if proc is not None:
            while proc.poll() is None:
                if cancel is not None and cancel.is_set():
                    proc.kill()
                    break
                time.sleep(0.1)
        marker.unlink()
        if cancel is not None and cancel.is_set():
            raise EnvlensError("building a prewarmed environment was stopped")
        spare = Spare(
            pool_dir() / f"{res.key}-{uuid.uuid4().hex[:8]}",
            res.key,
            time.time(),
            str(interpreter.version),
            str(interpreter.path),
        )
        write_json(
            work / RECORD,
            {
                "key": spare.key,
                "created": spare.created,
                "python_version": spare.python_version,
                "base_python": spare.base_python,
            },
        )
        os.rename(work, spare.path)
    except BaseException:
        remove_tree(work)
        raise
    return spare


def prune_spares(
    settings: Settings, now: float | None = None, *, dry_run: bool = False
) -> list[Path]:
    """Remove spares past the maximum age or of another declaration than the settings give, and
    leftovers of killed spare builds; returns what was (or, dry, would be) removed."""
    now = now if now is not None else time.time()
    key = pool_resolution(settings).key
    stale = [s.path for s in spares() if s.key != key or not _fresh(s, settings, now)]
    with contextlib.suppress(OSError):
        stale += [  # spare builds killed a day ago or more
            e for e in pool_dir().glob(".build-*") if now - e.stat().st_mtime > DAY
        ]
    if not dry_run:
        for path in stale:
            remove_tree(path)
    return stale


def replenish(settings: Settings, cancel: threading.Event | None = None) -> int:
    """Prune the pool, then build spares until `settings.pool_size` fresh ones of the current
    default declaration are there. Returns how many were built."""
    prune_spares(settings)
    key = pool_resolution(settings).key
    built = 0
    while len(spares(key)) < settings.pool_size:
        if cancel is not None and cancel.is_set():
            break
        spare = build_spare(settings, cancel)
        built += 1
        log.info("prewarmed environment %s ready", spare.path.name)
    return built


# --- the background replenisher (the language server's) -------------------------------------


class Replenisher:
    """A daemon thread keeping the pool full: at start, after every take in this process, when
    the settings change, and every `interval` seconds (takes by other processes, ageing)."""

    def __init__(self, settings: Settings, interval: float = 600.0) -> None:
        self.settings = settings
        self.interval = interval
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.rounds = 0  # completed rounds (tests wait on it)
        self.thread = threading.Thread(target=self._run, name="envlens-pool", daemon=True)

    def start(self) -> Replenisher:
        self.thread.start()
        return self

    def update(self, settings: Settings) -> None:
        self.settings = settings
        self.wake.set()

    def close(self) -> None:
        self.stop.set()
        self.wake.set()

    def _run(self) -> None:
        background_thread_priority()  # a spare is for later: the user's kernel comes first
        while not self.stop.is_set():
            self.wake.clear()
            try:
                replenish(self.settings, self.stop)
            except EnvlensError as exc:
                # Only costs the first undeclared notebook the build it would have had anyway.
                log.info("prewarming an environment failed: %s", exc.one_line())
            except OSError as exc:
                log.info("prewarming an environment failed: %s", exc)
            self.rounds += 1
            self.wake.wait(self.interval)


_replenishers: list[Replenisher] = []


def start_replenisher(settings: Settings) -> Replenisher:
    rep = Replenisher(settings).start()
    _replenishers.append(rep)
    return rep


def _notify_taken() -> None:
    for rep in _replenishers:
        rep.wake.set()
