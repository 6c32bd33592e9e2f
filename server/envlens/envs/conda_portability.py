"""Check Portability for conda declarations: solve the conda packages for each target platform with
rattler (that platform's subdir and the virtual packages a machine of its kind has), or read them
from the lock when it is fresh and locks that platform. The PyPI part is not checked per platform.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from envlens.envs import conda_lock, conda_rattler
from envlens.errors import EnvlensError
from envlens.portability_verdict import Problem, Verdict
from envlens.resolve import Resolution

# envlens's platform names -> conda subdirs (musl Linux has no conda platform).
SUBDIRS: dict[str, str] = {
    "linux-x86_64": "linux-64",
    "linux-aarch64": "linux-aarch64",
    "macos-arm64": "osx-arm64",
    "macos-x86_64": "osx-64",
    "windows-x86_64": "win-64",
    "windows-arm64": "win-arm64",
}


@dataclass(frozen=True)
class CondaVerdict(Verdict):
    source: str = "solve"  # "solve" or "lock"

    def lines(self) -> list[str]:
        head = f"{self.platform}, Python {self.python}: "
        if self.status == "works":
            how = "from the lock" if self.source == "lock" else "solved from the channels"
            return [head + f"works ({len(self.packages)} conda packages, {how})"]
        return [head + "fails"] + [f"  - {p.reason}" for p in self.problems]


def _locked(resolution: Resolution) -> dict[str, dict[str, str]]:
    """subdir -> {name: version} of a fresh lock's platforms."""
    if resolution.lock_text is None or conda_lock.drift(resolution)[0] != "fresh":
        return {}
    _, where = conda_lock.lock_where(resolution)
    env = conda_lock.parse(resolution.lock_text, where).environment(conda_lock.ENVIRONMENT)
    if env is None:
        return {}
    out: dict[str, dict[str, str]] = {}
    for platform in env.platforms():
        out[platform.name] = {
            p.name: str(getattr(p, "version", "")) for p in env.packages(platform) or []
        }
    return out


def check_conda(
    resolution: Resolution, platforms: list[str], *, cancel: threading.Event | None = None
) -> list[Verdict]:
    locked = _locked(resolution)
    verdicts: list[Verdict] = []
    for name in platforms:
        subdir = SUBDIRS.get(name)
        if subdir is None:
            problem = Problem("*", None, f"conda has no packages for {name}", False)
            verdicts.append(CondaVerdict(name, "-", "fails", (problem,)))
            continue
        if subdir in locked:
            pkgs = locked[subdir]
            python = pkgs.get("python", "-")
            verdicts.append(CondaVerdict(name, python, "works", (), pkgs, source="lock"))
            continue
        try:
            records = conda_rattler.solve(resolution, subdir, cancel=cancel)
        except EnvlensError as exc:
            package = exc.message.split("'")[1] if exc.message.count("'") >= 2 else "*"
            problem = Problem(package, None, exc.message, False)
            verdicts.append(CondaVerdict(name, "-", "fails", (problem,), log=exc.log or ""))
            continue
        pkgs = {r.name.normalized: str(r.version) for r in records}
        verdicts.append(CondaVerdict(name, pkgs.get("python", "-"), "works", (), pkgs))
    return verdicts
