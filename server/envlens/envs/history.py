"""Each file's environment history: every build or sync is a version (1, 2, 3, ...) with its time,
status (ready / failed / cancelled), the declaration (what `envlens revert` writes back), the lock's
hash, the environment key, the resolved packages, the duration and its full log.

Kept under the state folder, keyed by the file's path, across restarts:
```
<state>/history/<id>.json     {"path": ..., "versions": [...]}   (id: a hash of the path)
<state>/logs/<key>/<id>-<n>.log  a version's log, in the folder of the environment it built, so a
                              log goes when its environment is pruned (envs/prune.py)
<state>/locks/<hash>.lock     the lock texts versions were built from (content addressed)
```
A version is a change of the file's environment: a build, a failure, a cancel, a revert, or a
switch to another environment that was already built. Asking again for the environment the
latest version already has records nothing; failing again the same way updates the failed version
(its log, time and attempts) instead of adding one. The version "in use" is the newest ready one:
after a failed build the editor's kernel stays on it.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.utils import canonicalize_name

from envlens import paths
from envlens.envs.state import locked, read_json, record_from_json, write_json, write_text
from envlens.errors import EnvlensError
from envlens.requirements import requirement_name
from envlens.resolve import Resolution
from envlens.sources import pep723

Status = Literal["ready", "failed", "cancelled"]
Action = Literal["build", "reuse", "revert", "pool"]


@dataclass
class Version:
    n: int
    time: float  # when it ended, seconds since the epoch
    status: str  # Status
    action: str  # Action: built, found built, reverted to an older version, taken from the pool
    key: str
    backend: str
    source: str  # the declaration's kind: pep723, notebook-uv, pyproject, none, ...
    requirements: list[str]  # as declared
    requires_python: str | None
    lock_hash: str | None
    python_version: str | None = None
    packages: list[list[str]] = field(default_factory=list)  # [[name, version], ...] when ready
    duration: float = 0.0
    log: str | None = None  # the log file's path
    error: str | None = None  # failed / cancelled: one line
    declaration: dict[str, Any] | None = None  # what revert writes back (see `snapshot`)
    reverted_from: int | None = None
    attempts: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Version | None:
        return record_from_json(cls, data)

    @property
    def package_map(self) -> dict[str, tuple[str, str]]:
        """canonical name -> (name as spelled, version)"""
        return {canonicalize_name(n): (n, v) for n, v in self.packages}


@dataclass
class History:
    path: Path
    versions: list[Version]

    @property
    def latest(self) -> Version | None:
        return self.versions[-1] if self.versions else None

    @property
    def in_use(self) -> Version | None:
        """The newest ready version: what the file's kernel runs in (the last good one)."""
        for v in reversed(self.versions):
            if v.status == "ready":
                return v
        return None

    def get(self, n: int) -> Version | None:
        for v in self.versions:
            if v.n == n:
                return v
        return None


# --- where ---------------------------------------------------------------------------------------


def file_id(path: Path) -> str:
    return hashlib.sha256(str(Path(path).absolute()).encode()).hexdigest()[:16]


def history_file(path: Path) -> Path:
    return paths.state_dir() / "history" / f"{file_id(path)}.json"


def logs_dir(key: str) -> Path:
    return paths.state_dir() / "logs" / key


def lock_store(lock_hash: str) -> Path:
    return paths.state_dir() / "locks" / f"{lock_hash}.lock"


def save_lock_text(lock_hash: str, text: str) -> None:
    target = lock_store(lock_hash)
    if not target.exists():
        write_text(target, text)


def lock_text(lock_hash: str) -> str | None:
    try:
        return lock_store(lock_hash).read_text(encoding="utf-8")
    except OSError:
        return None


# --- reading -------------------------------------------------------------------------------------


def _parse(path: Path, data: Any) -> History:
    versions = []
    if isinstance(data, dict) and isinstance(data.get("versions"), list):
        versions = [v for v in map(Version.from_json, data["versions"]) if v is not None]
    return History(Path(path).absolute(), versions)


def load(path: Path) -> History:
    path = Path(path).absolute()
    return _parse(path, read_json(history_file(path)))


def known_files() -> list[History]:
    """Every file with a history on this machine."""
    out: list[History] = []
    root = paths.state_dir() / "history"
    try:
        entries = sorted(root.glob("*.json"))
    except OSError:
        return out
    for entry in entries:
        data = read_json(entry)
        if isinstance(data, dict) and isinstance(data.get("path"), str):
            out.append(_parse(Path(data["path"]), data))
    return out


# The newest version's (key, status) per history file, by the file's stat: asking for an environment
# that is already the latest version must not cost a JSON parse on every kernel start.
_latest: dict[Path, tuple[tuple[int, int], tuple[str, str] | None]] = {}
_latest_lock = threading.Lock()


def _stat(file: Path) -> tuple[int, int]:
    try:
        st = file.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def latest_state(path: Path) -> tuple[str, str] | None:
    """(key, status) of the file's newest version, or None."""
    file = history_file(path)
    stamp = _stat(file)
    with _latest_lock:
        hit = _latest.get(file)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    latest = load(path).latest
    value = (latest.key, latest.status) if latest else None
    with _latest_lock:
        _latest[file] = (stamp, value)
    return value


# --- what changed --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Changes:
    declared_added: list[str]
    declared_removed: list[str]
    declared_changed: list[tuple[str, str]]  # (before, after) of one name
    python: tuple[str | None, str | None] | None  # requires-python before, after
    added: list[str]  # "name version" of resolved packages
    removed: list[str]
    changed: list[tuple[str, str, str]]  # (name, before, after)

    @property
    def empty(self) -> bool:
        return not (
            self.declared_added
            or self.declared_removed
            or self.declared_changed
            or self.python
            or self.added
            or self.removed
            or self.changed
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "declared": {
                "added": self.declared_added,
                "removed": self.declared_removed,
                "changed": [list(c) for c in self.declared_changed],
                "requiresPython": list(self.python) if self.python else None,
            },
            "packages": {
                "added": self.added,
                "removed": self.removed,
                "changed": [list(c) for c in self.changed],
            },
        }

    def summary(self) -> str:
        parts = [f"+{r}" for r in self.declared_added]
        parts += [f"-{r}" for r in self.declared_removed]
        parts += [f"{a} -> {b}" for a, b in self.declared_changed]
        if self.python:
            parts.append(f"requires-python {self.python[0] or 'any'} -> {self.python[1] or 'any'}")
        declared = ", ".join(parts)
        pk = [f"+{p}" for p in self.added] + [f"-{p}" for p in self.removed]
        pk += [f"{n} {a} -> {b}" for n, a, b in self.changed]
        out = []
        if declared:
            out.append(f"declared {declared}")
        if pk:
            out.append(f"packages {', '.join(pk)}")
        return "; ".join(out)


def _by_name(reqs: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in reqs:
        try:
            out[requirement_name(r)] = r
        except EnvlensError:  # a requirement envlens recorded: keep it by its text
            out[r] = r
    return out


def changes(history: History, version: Version) -> Changes:
    """What `version` changed: its declaration against the version before it, its packages against
    the newest earlier version that had packages (a failed build installed nothing)."""
    earlier = [v for v in history.versions if v.n < version.n]
    prev = earlier[-1] if earlier else None
    before = _by_name(prev.requirements if prev else [])
    after = _by_name(version.requirements)
    d_added = [after[k] for k in after if k not in before]
    d_removed = [before[k] for k in before if k not in after]
    d_changed = [(before[k], after[k]) for k in after if k in before and before[k] != after[k]]
    python = None
    if prev is not None and prev.requires_python != version.requires_python:
        python = (prev.requires_python, version.requires_python)
    added: list[str] = []
    removed: list[str] = []
    changed: list[tuple[str, str, str]] = []
    if version.status == "ready":
        base = next((v for v in reversed(earlier) if v.status == "ready"), None)
        old = base.package_map if base else {}
        new = version.package_map
        added = [f"{n} {v}" for k, (n, v) in sorted(new.items()) if k not in old]
        removed = [f"{n} {v}" for k, (n, v) in sorted(old.items()) if k not in new]
        changed = [
            (new[k][0], old[k][1], new[k][1])
            for k in sorted(new)
            if k in old and old[k][1] != new[k][1]
        ]
    return Changes(d_added, d_removed, d_changed, python, added, removed, changed)


# --- recording -----------------------------------------------------------------------------------


def snapshot(res: Resolution) -> dict[str, Any] | None:
    """What revert needs to write this declaration back (None: envlens cannot write it back)."""
    decl = res.declaration
    if decl.kind == "pep723" and decl.script is not None:
        block = pep723.find_script_block(decl.script, None)
        return {"kind": "pep723", "toml": block.toml if block else ""}
    if decl.kind == "notebook-uv":
        value: dict[str, Any] = {"dependencies": list(decl.requirements)}
        if decl.requires_python:
            value["requires-python"] = decl.requires_python
        prerelease = decl.settings().get("prerelease")
        if prerelease:
            value["prerelease"] = prerelease
        return {"kind": "notebook-uv", "key": decl.metadata_key or "uv", "value": value}
    if decl.kind == "none":
        return {"kind": "none"}
    return None  # project files and conda metadata: envlens does not write those whole


def recordable(res: Resolution) -> bool:
    """Files have histories; the shared environment built ahead of time (no file) does not."""
    return res.spec.backend != "deno" and not res.path.is_dir()


@dataclass
class Outcome:
    status: str
    key: str
    reused: bool = False
    python_version: str | None = None
    packages: list[list[str]] = field(default_factory=list)
    error: str | None = None


def record(
    res: Resolution,
    outcome: Outcome,
    *,
    log: str,
    duration: float,
    action: str = "build",
    reverted_from: int | None = None,
) -> Version | None:
    """Add (or update) the file's version for this outcome; None when nothing changed."""
    path = res.path
    file = history_file(path)
    if res.lock_text is not None and res.spec.lock_hash:
        save_lock_text(res.spec.lock_hash, res.lock_text)
    with locked(file):
        history = load(path)
        latest = history.latest
        same = latest is not None and latest.key == outcome.key
        if same and latest is not None and reverted_from is None:
            if outcome.status == "ready" and outcome.reused and latest.status == "ready":
                return None  # asked again for what it already has
            if outcome.status != "ready" and latest.status == outcome.status:
                latest.attempts += 1
                latest.time = time.time()
                latest.duration = round(duration, 3)
                latest.error = outcome.error
                _write_log(latest, path, log)
                _save(file, path, history)
                return latest
        version = Version(
            n=(latest.n + 1) if latest else 1,
            time=time.time(),
            status=outcome.status,
            action=action
            if action != "build"
            else ("reuse" if outcome.reused and outcome.status == "ready" else "build"),
            key=outcome.key,
            backend=res.spec.backend,
            source=res.declaration.kind,
            requirements=list(res.declaration.requirements or res.declaration.conda_packages),
            requires_python=res.declaration.requires_python,
            lock_hash=res.spec.lock_hash,
            python_version=outcome.python_version,
            packages=outcome.packages,
            duration=round(duration, 3),
            error=outcome.error,
            declaration=snapshot(res),
            reverted_from=reverted_from,
        )
        _write_log(version, path, log)
        history.versions.append(version)
        _save(file, path, history)
        return version


def _write_log(version: Version, path: Path, log: str) -> None:
    target = logs_dir(version.key) / f"{file_id(path)}-{version.n}.log"
    write_text(target, log)
    version.log = str(target)


def _save(file: Path, path: Path, history: History) -> None:
    write_json(file, {"path": str(path), "versions": [v.to_json() for v in history.versions]})


def read_log(version: Version) -> str | None:
    if not version.log:
        return None
    try:
        return Path(version.log).read_text(encoding="utf-8")
    except OSError:
        return None


def forget_logs(key: str) -> None:
    """An environment was removed: its versions' logs go with it (their entries stay)."""
    shutil.rmtree(logs_dir(key), ignore_errors=True)


def keys_in_use() -> dict[str, list[Path]]:
    """Environment key -> the files whose version in use it is (files that still exist)."""
    out: dict[str, list[Path]] = {}
    for h in known_files():
        v = h.in_use
        if v is not None and h.path.exists():
            out.setdefault(v.key, []).append(h.path)
    return out


def log_files() -> list[Path]:
    root = paths.state_dir() / "logs"
    try:
        return [p for p in root.glob("*/*.log") if p.is_file()]
    except OSError:
        return []


def describe_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
