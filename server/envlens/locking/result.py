"""What Lock Versions computed, before anything is written: the lock, the file's new text, pins."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
