"""The cache that cleans itself: what each environment costs on disk, who uses it, and `prune`.

Size: an environment's own bytes are what removing it frees: the disk blocks of the files whose
every hard link lies inside it. A file hardlinked from uv's cache (most of a uv environment) costs
nothing of its own; a file linked twice inside the environment counts once.

Prune removes an environment when all of these hold:
- nobody asked for it for `older_than_days` (its last use: envs/usage.py; else when it was built);
- it is not the version in use of any file envlens knows (envs/history.py) that still exists;
- no process runs in it now (a kernel, a run, a compile; envs/usage.py). When that cannot be
  told, nothing is removed.
With it go its lock file, its last-use mark and its versions' logs (and any mark left by an
environment removed some other way); a failed build's log (it has no environment) goes once it is
older than the same age. Spares of the pool past their maximum age go too (envs/pool.py).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envlens.envs import history, pool, usage
from envlens.envs.inventory import builds_by_file
from envlens.envs.record import EnvRecord
from envlens.envs.store import list_environments, remove_environment
from envlens.settings import Settings

DAY = 86400.0


@dataclass(frozen=True)
class Size:
    own: int  # bytes removing it frees
    total: int  # bytes of every file in it, hard links counted once

    def to_json(self) -> dict[str, int]:
        return {"own": self.own, "total": self.total}


def disk_size(root: Path) -> Size:
    """Disk blocks of the tree (st_blocks: what the files take on disk, not their lengths)."""
    seen: dict[tuple[int, int], list[int]] = {}  # inode -> [links seen here, nlink, bytes]
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            ident = (st.st_dev, st.st_ino)
            size = getattr(st, "st_blocks", 0) * 512 or st.st_size
            hit = seen.get(ident)
            if hit is None:
                seen[ident] = [1, st.st_nlink, size]
            else:
                hit[0] += 1
    total = sum(v[2] for v in seen.values())
    own = sum(v[2] for v in seen.values() if v[0] >= v[1])
    return Size(own, total)


@dataclass
class EnvUsage:
    record: EnvRecord
    last_used: float
    files: list[Path]  # files whose version in use it is
    size: Size | None = None
    running: bool | None = None  # a process runs in it (None: not asked, or cannot tell)

    @property
    def key(self) -> str:
        return self.record.key

    def to_json(self) -> dict[str, Any]:
        r = self.record
        return {
            "key": r.key,
            "envPath": str(r.env_dir),
            "backend": r.backend,
            "pythonVersion": r.python_version,
            "created": r.created,
            "lastUsed": self.last_used,
            "requirements": r.spec.get("requirements", []),
            "files": [str(f) for f in self.files],
            "size": self.size.to_json() if self.size else None,
            "running": self.running,
        }


def files_by_key() -> dict[str, list[Path]]:
    """Environment key -> the existing files whose version in use it is: from the histories, and
    for a file without one (built by an older envlens) the newest environment built for it."""
    out = history.keys_in_use()
    known = {f for files in out.values() for f in files}
    for where, key in builds_by_file().items():
        path = Path(where)
        if path not in known and path.is_file() and history.load(path).latest is None:
            out.setdefault(key, []).append(path)
    return out


def environments(*, sizes: bool = True) -> list[EnvUsage]:
    """Every built environment with its last use, the files that use it and (optionally) size."""
    in_use = files_by_key()
    out: list[EnvUsage] = []
    for r in list_environments():
        files = list(in_use.get(r.key, []))
        item = EnvUsage(r, usage.last_used(r.key, r.created), files)
        if sizes:
            item.size = disk_size(r.env_dir)
        out.append(item)
    return out


@dataclass
class PrunePlan:
    older_than_days: float
    remove: list[EnvUsage] = field(default_factory=list)
    keep: list[tuple[EnvUsage, str]] = field(default_factory=list)  # (env, why it stays)
    logs: list[Path] = field(default_factory=list)  # failed builds' logs past the age
    spares: list[Path] = field(default_factory=list)  # pool spares past their age
    blocked: str | None = None  # why nothing at all can be removed

    def to_json(self) -> dict[str, Any]:
        return {
            "olderThanDays": self.older_than_days,
            "remove": [e.to_json() for e in self.remove],
            "keep": [{**e.to_json(), "reason": why} for e, why in self.keep],
            "logs": [str(p) for p in self.logs],
            "spares": [str(p) for p in self.spares],
            "blocked": self.blocked,
        }


def plan(older_than_days: float, *, now: float | None = None, sizes: bool = False) -> PrunePlan:
    """What `prune` would remove, and why the rest stays."""
    now = now if now is not None else time.time()
    cutoff = now - older_than_days * DAY
    result = PrunePlan(older_than_days)
    envs = environments(sizes=sizes)
    candidates = [e for e in envs if e.last_used < cutoff and not e.files]
    running = usage.running_in([e.record.env_dir for e in candidates])
    for e in envs:
        if e.files:
            names = ", ".join(f.name for f in e.files[:3]) + (" ..." if len(e.files) > 3 else "")
            result.keep.append((e, f"the version in use of {names}"))
        elif e.last_used >= cutoff:
            days = (now - e.last_used) / DAY
            result.keep.append((e, f"used {days:.0f} days ago"))
        elif running is None:
            e.running = None
            result.keep.append((e, "cannot tell whether a process runs in it"))
            result.blocked = "this system does not show which processes run where"
        elif e.record.env_dir in running:
            e.running = True
            result.keep.append((e, "a running process (a kernel?) uses it"))
        else:
            e.running = False
            result.remove.append(e)
    # Logs of keys without an environment (failed builds, pruned ones) past the age.
    built = {e.key for e in envs}
    for log in history.log_files():
        key = log.parent.name
        if key in built:
            continue
        with contextlib.suppress(OSError):
            if log.stat().st_mtime < cutoff:
                result.logs.append(log)
    return result


def execute(result: PrunePlan, settings: Settings | None = None) -> list[str]:
    """Remove what the plan says; returns the keys removed. An environment that became used
    since the plan (a kernel started) is left alone."""
    removed: list[str] = []
    if result.remove:
        running = usage.running_in([e.record.env_dir for e in result.remove]) or set()
        for e in result.remove:
            if e.record.env_dir in running:
                continue
            if remove_environment(e.key):
                removed.append(e.key)
            usage.forget(e.key)
            history.forget_logs(e.key)
    for log in result.logs:
        with contextlib.suppress(OSError):
            log.unlink()
        with contextlib.suppress(OSError):
            log.parent.rmdir()  # the key's folder, once empty
    built = {r.key for r in list_environments()}
    for key in usage.marked():  # marks of environments removed some other way
        if key not in built:
            usage.forget(key)
    pool.prune_spares(settings or Settings.from_env())
    return removed


def prune(
    older_than_days: float,
    *,
    dry_run: bool = False,
    settings: Settings | None = None,
    now: float | None = None,
) -> PrunePlan:
    settings = settings or Settings.from_env()
    result = plan(older_than_days, sizes=True, now=now)
    result.spares = pool.prune_spares(settings, now, dry_run=True)
    if not dry_run:
        execute(result, settings)
    return result
