"""Conda packages with py-rattler, in process: channels, solve, install, and rattler's errors as ours.

rattler is imported inside the functions (it costs ~0.3 s), so resolving a file stays cheap. Its
async API runs through `aio.run_coroutine`, which works from the CLI and from the language server's
worker threads alike. Repodata and package archives go to rattler's own cache (the one pixi shares;
`RATTLER_CACHE_DIR` moves it), so packages are downloaded once per machine and linked from there.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from envlens.envs.aio import run_coroutine
from envlens.envs.locate import locate
from envlens.envs.runner import Progress
from envlens.errors import (
    ChannelUnreachableError,
    CondaPackageNotFoundError,
    DeclarationError,
    EnvlensError,
    ResolutionError,
)
from envlens.resolve import Resolution

if TYPE_CHECKING:
    from rattler import RepoDataRecord

# Where no channel is declared: conda-forge, as pixi and nteract do.
DEFAULT_CHANNELS = ("conda-forge",)
# Every platform name envlens knows, as conda subdirs.
TARGET_SUBDIRS = ("linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64")


def channels_of(resolution: Resolution) -> tuple[str, ...]:
    return resolution.spec.channels or DEFAULT_CHANNELS


def channel_urls(channels: Sequence[str]) -> list[str]:
    """Base URLs (`https://conda.anaconda.org/conda-forge/`, `file:///srv/channel/`)."""
    from rattler import Channel

    return [Channel(c).base_url for c in channels]


def current_subdir() -> str:
    from rattler import Subdir

    return str(Subdir.current())


def conda_python_spec(requires_python: str | None) -> str | None:
    """The declared Python as a conda match spec: '==3.12.*' -> 'python 3.12.*'."""
    if not requires_python:
        return None
    rp = requires_python.replace(" ", "")
    if rp.startswith("==") and rp.endswith(".*"):
        rp = rp[2:]
    return f"python {rp}"


def match_specs(resolution: Resolution) -> list[str]:
    """What is solved: the declared conda packages, and Python where the declaration names one."""
    specs = list(resolution.spec.conda_packages)
    python = conda_python_spec(resolution.declaration.requires_python)
    if python and not any(spec_name(s) == "python" for s in specs):
        specs.append(python)
    return specs


def spec_name(spec: str) -> str:
    return re.split(r"[\s=<>!~\[]", spec.split("::")[-1], maxsplit=1)[0].strip().lower()


def _virtual_packages(subdir: str) -> list[object]:
    """This machine's virtual packages (__glibc, __cuda ...); for another platform, the generic ones
    a machine of that kind has, so a solve for it does not depend on this machine."""
    from rattler import BuildString, GenericVirtualPackage, PackageName, Version, VirtualPackage

    if subdir == current_subdir():
        return list(VirtualPackage.detect())
    family = subdir.split("-")[0]
    names: list[tuple[str, str]] = []
    if family == "linux":
        names = [("__unix", "0"), ("__linux", "5.10"), ("__glibc", "2.28")]
    elif family == "osx":
        names = [("__unix", "0"), ("__osx", "13.0")]
    elif family == "win":
        names = [("__win", "0")]
    return [GenericVirtualPackage(PackageName(n), Version(v), BuildString("0")) for n, v in names]


def solve(
    resolution: Resolution,
    subdir: str | None = None,
    *,
    cancel: threading.Event | None = None,
    locked: list[RepoDataRecord] | None = None,
) -> list[RepoDataRecord]:
    """The conda packages the declaration needs on `subdir` (default: this machine's); `locked`
    records are preferred where they still fit (re-locking changes as little as it can)."""
    import rattler

    target = subdir or current_subdir()
    specs = match_specs(resolution)
    channels = list(channels_of(resolution))
    virtual = _virtual_packages(target)

    async def go() -> list[RepoDataRecord]:
        return await rattler.solve(
            channels,
            specs,
            platforms=[rattler.Subdir(target), rattler.Subdir("noarch")],
            virtual_packages=virtual,  # type: ignore[arg-type]
            locked_packages=locked or None,
            channel_relations="disabled",
        )

    try:
        return run_coroutine(go, cancel=cancel)
    except EnvlensError:
        raise
    except Exception as exc:
        raise solve_failure(exc, resolution, target) from None


class _Reporter:
    """rattler's install callbacks as progress lines (one per package linked)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.total = 0
        self.done = 0
        self.names: dict[int, str] = {}

    def on_transaction_start(self, total_operations: int) -> None:
        self.total = total_operations

    def on_link_start(self, operation: int, package_name: str) -> int:
        self.names[operation] = package_name
        return operation

    def on_link_complete(self, index: int) -> None:
        self.done += 1
        self.progress(f"Linked {self.names.get(index, 'package')} ({self.done}/{self.total})")


def install(
    records: list[RepoDataRecord],
    prefix: Path,
    *,
    resolution: Resolution,
    progress: Progress,
    cancel: threading.Event | None = None,
) -> None:
    """Download (or take from rattler's cache) and link `records` into `prefix`."""
    import rattler

    reporter = _Reporter(progress)

    async def go() -> None:
        await rattler.install(
            records,
            prefix,
            show_progress=False,
            reporter=reporter,  # type: ignore[arg-type]
            execute_link_scripts=False,  # never run a package's scripts (they are not sandboxed)
        )

    try:
        run_coroutine(go, cancel=cancel)
    except EnvlensError:
        raise
    except Exception as exc:
        raise install_failure(exc, resolution) from None


# --- rattler's errors, as one line each -----------------------------------------------------


def _first_line(text: str) -> str:
    return " ".join(text.strip().splitlines()[0].split()) if text.strip() else "no message"


def _causes(text: str) -> list[str]:
    return [ln.split("Caused by:", 1)[1].strip() for ln in text.splitlines() if "Caused by:" in ln]


def _channel_in(text: str, resolution: Resolution) -> str:
    for ch in channels_of(resolution):
        if ch.rstrip("/") in text:
            return ch
    m = re.search(r"channel '([^']+)'|url \(([^)]+)\)", text)
    return (m.group(1) or m.group(2)) if m else ", ".join(channels_of(resolution))


def _invalid_spec(specs: list[str]) -> str | None:
    """The first spec rattler cannot parse (its error does not say which one)."""
    from rattler import MatchSpec

    for spec in specs:
        try:
            MatchSpec(spec, strict=True)  # as rattler.solve parses them
        except Exception:
            return spec
    return None


def solve_failure(exc: Exception, resolution: Resolution, subdir: str) -> EnvlensError:
    import rattler.exceptions as rx

    text = str(exc)
    channels = ", ".join(channels_of(resolution))
    if isinstance(exc, rx.InvalidMatchSpecError | rx.InvalidVersionSpecError):
        bad = _invalid_spec(match_specs(resolution))
        where = locate(resolution, spec_name(bad) if bad else None)
        return DeclarationError(
            f"invalid conda package spec{f' {bad!r}' if bad else ''}: {_first_line(text)}",
            hint="Write it as a conda match spec, for example 'numpy >=2' or 'numpy=1.26'",
            **where.kwargs(),
        )
    if isinstance(exc, rx.GatewayError | rx.FetchRepoDataError | rx.InvalidChannelError):
        channel = _channel_in(text, resolution)
        causes = _causes(text)
        reason = causes[-1] if causes else _first_line(text)
        where = locate(resolution, "channels")
        return ChannelUnreachableError(
            f"the conda channel {channel} cannot be read: {reason}",
            hint="Check the channel's name or URL and the network (a local channel needs "
            f"{subdir}/repodata.json and noarch/repodata.json)",
            log=text,
            **where.kwargs(),
        )
    if isinstance(exc, rx.SolverError):
        m = re.search(r"No candidates were found for ([^\s.]+)(?: ([^\n]*?))?\.?\s*$", text, re.M)
        if m:
            name = m.group(1)
            constraint = (m.group(2) or "").strip()
            what = name if constraint in ("", "*") else f"{name} {constraint}"
            where = locate(resolution, name)
            return CondaPackageNotFoundError(
                f"no conda package {what!r} for {subdir} in {channels}",
                hint=f"Check the name and version in {where.name}, add a channel that has it, "
                "or declare it as a PyPI dependency",
                log=text,
                **where.kwargs(),
            )
        where = locate(resolution, None)
        lines = [ln.strip(" └─├│") for ln in text.splitlines() if ln.strip()]
        return ResolutionError(
            f"the declared conda packages cannot be installed together on {subdir}: "
            + " ".join(lines[1:4] or lines[:1]),
            hint=f"Relax or change the conflicting versions in {where.name}",
            log=text,
            **where.kwargs(),
        )
    where = locate(resolution, None)
    return ResolutionError(
        f"rattler could not solve the conda packages: {_first_line(text)}",
        hint="Show Logs has rattler's full message",
        log=text,
        **where.kwargs(),
    )


def install_failure(exc: Exception, resolution: Resolution) -> EnvlensError:
    from envlens.errors import BuildError

    text = str(exc)
    causes = _causes(text)
    where = locate(resolution, None)
    if re.search(r"error sending request|dns error|Connect", text):
        return ChannelUnreachableError(
            f"a conda package could not be downloaded: {causes[-1] if causes else _first_line(text)}",
            hint="Check the network and the channel, then try again",
            log=text,
            **where.kwargs(),
        )
    return BuildError(
        f"installing the conda packages failed: {causes[-1] if causes else _first_line(text)}",
        hint="Show Logs has rattler's full message",
        log=text,
        **where.kwargs(),
    )
