"""A failed build's error, kept beside its lock (`.locks/<name>.failed`) for a short while.

Those who were waiting for that build (threads, or other processes: the editor and a terminal, eight
`envlens install` at once) get the same error at once instead of each building it again in turn. A
request made after the failure builds again: the network may be back, the index fixed.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from pathlib import Path

from envlens import errors, paths
from envlens.envs.record import lock_path
from envlens.errors import BuildError, EnvlensError

# The longest a memo answers anyone (its waiters read it as soon as the lock is free).
FAILURE_MEMO_SECONDS = 120.0


def memo_path(name: str) -> Path:
    return lock_path(name).with_suffix(".failed")


def remember(name: str, exc: EnvlensError) -> None:
    attrs = {
        k: str(v) if isinstance(v, Path) else v
        for k, v in vars(exc).items()
        if isinstance(v, (str, int, float, bool, list, Path, type(None)))
    }
    record = {"time": time.time(), "type": type(exc).__name__, "attrs": attrs}
    target = memo_path(name)
    with contextlib.suppress(OSError, TypeError, ValueError):  # a memo only saves time
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, target)


def recent(name: str, *, since: float) -> EnvlensError | None:
    """The error of a build of `name` that failed after `since` (while the caller waited), if any."""
    try:
        record = json.loads(memo_path(name).read_text(encoding="utf-8"))
        when = float(record["time"])
        cls = getattr(errors, str(record["type"]), None)
        attrs = dict(record["attrs"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (since <= when and time.time() - when < FAILURE_MEMO_SECONDS):
        return None
    if not (isinstance(cls, type) and issubclass(cls, EnvlensError)):
        cls = BuildError
    exc = cls.__new__(cls)  # the same type and fields, without re-running its constructor
    Exception.__init__(exc, attrs.get("message", "the build failed"))
    exc.__dict__.update(attrs)
    exc.path = Path(attrs["path"]) if isinstance(attrs.get("path"), str) else None
    return exc


def forget(name: str) -> None:
    with contextlib.suppress(OSError):
        memo_path(name).unlink()


def expire() -> None:
    """Remove memos too old to answer anyone."""
    for memo in (paths.envs_dir() / ".locks").glob("*.failed"):
        with contextlib.suppress(OSError):
            if time.time() - memo.stat().st_mtime > FAILURE_MEMO_SECONDS:
                memo.unlink()
