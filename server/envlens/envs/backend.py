"""What every backend (uv, conda, project) does for the store, so the store dispatches by kind.

`reuse` answers from what is on disk with no lock and no subprocess (a cache hit must be instant);
`build` runs under the key's lock after `reuse` said no, and returns the environment it made.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from envlens.envs.record import EnvInfo
from envlens.envs.runner import Progress
from envlens.envs.uv import Uv
from envlens.resolve import Resolution
from envlens.settings import Settings


@dataclass(frozen=True)
class BuildContext:
    uv: Uv
    settings: Settings
    progress: Progress
    cancel: threading.Event | None
    from_lock: bool  # build exactly the file's (fresh) lock
    start: float  # time.monotonic() when the request came in


class Backend(Protocol):
    def folder(self, resolution: Resolution) -> Path:
        """Where the environment lives."""
        ...

    def lock_name(self, resolution: Resolution) -> str:
        """The name of the file lock that makes concurrent requests build once."""
        ...

    def reuse(self, resolution: Resolution, start: float) -> EnvInfo | None:
        """The built environment, when it is complete and current; else None."""
        ...

    def build(self, resolution: Resolution, ctx: BuildContext) -> EnvInfo:
        """Build it (under the lock); raises the typed errors of errors.py."""
        ...
