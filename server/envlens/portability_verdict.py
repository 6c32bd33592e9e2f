"""What Check Portability says of one target (platform, Python): works, builds from source, or fails,
with one line per problem. Shared by the uv check (`portability.py`) and the conda check
(`envs/conda_portability.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["works", "builds", "fails"]


@dataclass(frozen=True)
class Problem:
    package: str
    version: str | None
    reason: str  # one line, the whole sentence
    needs_build: bool  # installs only by building from source (a warning, not a failure)


@dataclass(frozen=True)
class Verdict:
    platform: str  # friendly name, e.g. "linux-aarch64"
    python: str  # "3.12"
    status: Status
    problems: tuple[Problem, ...] = ()
    packages: dict[str, str] = field(default_factory=dict)  # resolved versions when it resolves
    log: str = field(default="", repr=False)
    # What the check leaves out, the same for every target (a package from [tool.uv.sources]).
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status != "fails"

    def lines(self) -> list[str]:
        head = f"{self.platform}, Python {self.python}: "
        if self.status == "works":
            return [head + f"works ({len(self.packages)} packages, all from wheels)"]
        word = "installs only by building from source" if self.status == "builds" else "fails"
        return [head + word] + [f"  - {p.reason}" for p in self.problems]

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "python": self.python,
            "status": self.status,
            "problems": [
                {
                    "package": p.package,
                    "version": p.version,
                    "reason": p.reason,
                    "needsBuild": p.needs_build,
                }
                for p in self.problems
            ],
            "packages": self.packages,
            "notes": list(self.notes),
        }
