"""Check Portability: will this declaration (or its lock) install on other platforms and Pythons?

For each target, `uv pip compile --python-platform X --python-version Y --only-binary :all:`
resolves without building anything. When that fails, uv's explanation names the package without a
usable wheel; a second compile that allows source builds tells whether a source distribution
exists. Comparing targets tells a compiled package (wheels for some platforms only: building it
needs a compiler) from a pure source-only one. Each failing package gets one line, e.g.
"scikit-image 0.25.2 has no wheel for CPython 3.9 on linux-aarch64, and building it from source
needs a compiler".
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomlkit
from packaging.utils import canonicalize_name

from envlens.envs.runner import RunResult
from envlens.envs.uv import Uv, cause
from envlens.errors import BadInputError
from envlens.resolve import Resolution
from envlens.settings import Settings

# Friendly name -> uv's --python-platform, and how a message names it.
PLATFORMS: dict[str, str] = {
    "linux-x86_64": "x86_64-manylinux_2_28",
    "linux-aarch64": "aarch64-manylinux_2_28",
    "macos-arm64": "aarch64-apple-darwin",
    "macos-x86_64": "x86_64-apple-darwin",
    "windows-x86_64": "x86_64-pc-windows-msvc",
    "windows-arm64": "aarch64-pc-windows-msvc",
    "linux-x86_64-musl": "x86_64-unknown-linux-musl",
}
DEFAULT_TARGETS = ("linux-x86_64", "linux-aarch64", "macos-arm64", "windows-x86_64")
# Accepted spellings besides the names above.
ALIASES = {
    "linux": "linux-x86_64",
    "linux-amd64": "linux-x86_64",
    "linux-arm64": "linux-aarch64",
    "macos": "macos-arm64",
    "osx-arm64": "macos-arm64",
    "darwin-arm64": "macos-arm64",
    "windows": "windows-x86_64",
    "win-amd64": "windows-x86_64",
    "win64": "windows-x86_64",
}

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
        }


def parse_platforms(names: list[str] | None) -> list[str]:
    """Friendly names (or aliases); an unknown one raises BadInputError listing the valid ones."""
    if not names:
        return list(DEFAULT_TARGETS)
    out: list[str] = []
    for raw in names:
        for name in (n.strip().lower() for n in raw.split(",") if n.strip()):
            canon = ALIASES.get(name, name)
            if canon not in PLATFORMS:
                raise BadInputError(
                    f"unknown platform {name!r}",
                    hint="Use one of: " + ", ".join(PLATFORMS),
                )
            if canon not in out:
                out.append(canon)
    return out


def parse_pythons(
    values: list[str] | None, resolution: Resolution, uv: Path, settings: Settings | None
) -> list[str]:
    if values:
        out: list[str] = []
        for raw in values:
            for v in (x.strip() for x in raw.split(",") if x.strip()):
                if not re.fullmatch(r"3\.\d{1,2}", v):
                    raise BadInputError(
                        f"--python {v!r} is not a Python version",
                        hint="Give a version like 3.12 (several: --python 3.10 --python 3.13)",
                    )
                if v not in out:
                    out.append(v)
        return out
    # Default: the Python this file's environment uses here.
    from envlens.envs.interpreters import find_interpreter

    try:
        return [find_interpreter(resolution.spec.requires_python, uv=uv, settings=settings).short]
    except Exception:
        return ["3.12"]


def _input_requirements(
    resolution: Resolution, settings: Settings | None, uv: Uv
) -> tuple[str, str]:
    """What to resolve: the lock's exact versions when it is fresh, else the declaration."""
    from envlens.locking.drift import lock_state

    if resolution.lock_text is not None and lock_state(resolution, settings) == "fresh":
        from envlens.locking.export import uv_export

        text = uv_export(resolution, settings=settings, uv=uv, hashes=False)
        return text, "lock"
    return "\n".join(resolution.declaration.requirements) + "\n", "declaration"


_NO_USABLE = re.compile(
    r"(?:all versions of |)(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:(?P<op>==|>=|<=|<|>|!=|~=)(?P<ver>[^\s,]+))?"
    r" ha(?:s|ve) no (?:usable wheels|wheels with a matching (?P<what>platform tag|Python ABI tag|Python implementation tag|Python version))"
)
_AVAILABLE = re.compile(
    r"Wheels are available for `(?P<name>[^`]+)` \(v(?P<ver>[^)]+)\) on the following platforms: (?P<plats>.*)"
)
_PINNED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<ver>\S+)", re.M)


def _friendly_tags(tags: str) -> str:
    names: list[str] = []
    for tag in re.findall(r"`([^`]+)`", tags):
        if "manylinux" in tag or "musllinux" in tag:
            arch = tag.split("_")[-1] if not tag.endswith("x86_64") else "x86_64"
            n = f"linux-{arch}"
        elif tag.startswith("macosx"):
            n = (
                "macos-arm64"
                if tag.endswith("arm64")
                else "macos-x86_64"
                if tag.endswith("x86_64")
                else "macos"
            )
        elif tag.startswith("win"):
            n = (
                "windows-arm64"
                if "arm64" in tag
                else "windows-x86_64"
                if "amd64" in tag
                else "windows-x86"
            )
        else:
            n = tag
        if n not in names:
            names.append(n)
    return ", ".join(names)


def _cause_line(stderr: str) -> str:
    return cause(stderr) or stderr.strip().splitlines()[-1] if stderr.strip() else "uv failed"


class _Checker:
    """`uv pip compile` of the requirements for one target at a time, with the declaration's own
    [tool.uv] settings as uv's config file (indexes, find-links, exclude-newer, constraints...)."""

    def __init__(
        self,
        uv: Uv,
        reqs: str,
        workdir: Path,
        settings: dict[str, Any],
        cwd: Path,
    ) -> None:
        self.uv = uv
        self.reqs = reqs
        self.workdir = workdir
        self.cwd = cwd  # relative paths in the settings resolve here (the declaring file's folder)
        self.infile = workdir / "requirements.in"
        self.infile.write_text(reqs, encoding="utf-8")
        self.config = workdir / "uv.toml"
        self.config.write_text(tomlkit.dumps(settings), encoding="utf-8")

    def compile(
        self,
        platform: str,
        python: str,
        *,
        only_binary: bool,
        offline: bool = False,
        binary_packages: list[str] | None = None,
    ) -> RunResult:
        args: list[str | Path] = [
            "pip",
            "compile",
            self.infile,
            "--config-file",
            self.config,
            "--python-platform",
            PLATFORMS[platform],
            "--python-version",
            python,
            "--no-header",
            "--no-annotate",
            "--no-python-downloads",
            "--quiet",
        ]
        if only_binary:
            args += ["--only-binary", ":all:"]
        for name in binary_packages or []:
            args += ["--only-binary", name]
        if offline:
            args.append("--offline")
        return self.uv.call(args, cwd=self.cwd)


# [tool.uv] keys that `uv pip compile` cannot read from a config file (they belong to a project).
_PROJECT_ONLY = ("sources",)


def check_settings(resolution: Resolution) -> tuple[dict[str, Any], list[str]]:
    """The declaration's [tool.uv] settings the check hands uv, and a note for each it cannot."""
    settings = resolution.declaration.settings()
    notes = [
        f"[tool.uv] {key} is not part of the check: uv resolves it only when it builds the "
        "environment, so packages from it are checked as they are built there"
        for key in _PROJECT_ONLY
        if key in settings
    ]
    return {k: v for k, v in settings.items() if k not in _PROJECT_ONLY}, notes


def _versions(stdout: str) -> dict[str, str]:
    return {canonicalize_name(m.group("name")): m.group("ver") for m in _PINNED.finditer(stdout)}


def check(
    resolution: Resolution,
    targets: list[str] | None = None,
    pythons: list[str] | None = None,
    *,
    settings: Settings | None = None,
    cancel: threading.Event | None = None,
) -> list[Verdict]:
    """Per (platform, Python): works, builds from source, or fails with one line per package."""
    import tempfile

    platforms = parse_platforms(targets)
    uv = Uv.find(settings, cancel=cancel)
    versions = parse_pythons(pythons, resolution, uv.path, settings)
    if resolution.spec.backend not in ("uv",) or resolution.runtime != "python":
        raise BadInputError(
            f"the portability check reads PyPI declarations; this file uses {resolution.declaration.label}",
            path=resolution.path,
            hint="Declare the dependencies in a '# /// script' block",
        )
    reqs, _source = _input_requirements(resolution, settings, uv)
    uv_settings, _notes = check_settings(resolution)
    anchor = resolution.declaration.anchor
    with tempfile.TemporaryDirectory(prefix="envlens-check-") as tmp:
        checker = _Checker(uv, reqs, Path(tmp), uv_settings, Path(anchor) if anchor else Path(tmp))
        combos = [(p, v) for v in versions for p in platforms]
        with ThreadPoolExecutor(max_workers=4) as pool:
            firsts = list(pool.map(lambda c: checker.compile(c[0], c[1], only_binary=True), combos))
        wheel_ok = {c: r.ok for c, r in zip(combos, firsts, strict=True)}
        verdicts: list[Verdict] = []
        for combo, res in zip(combos, firsts, strict=True):
            if res.ok:
                verdicts.append(
                    Verdict(combo[0], combo[1], "works", (), _versions(res.stdout), res.log())
                )
                continue
            verdicts.append(_explain(checker, combo, res, wheel_ok))
    return verdicts


def _explain(
    checker: _Checker,
    combo: tuple[str, str],
    first: RunResult,
    wheel_ok: dict[tuple[str, str], bool],
) -> Verdict:
    platform, python = combo
    problems: list[Problem] = []
    log = first.log()
    res = first
    built: dict[str, str] = {}
    seen: set[str] = set()
    # uv names one package without a wheel at a time: after each, allow building it (and only
    # it) and ask again, until everything else resolves from wheels.
    for _ in range(10):
        m = _NO_USABLE.search(res.stderr)
        if m is None:
            if not problems or not res.ok:
                problems.append(Problem("", None, _cause_line(res.stderr), needs_build=False))
            break
        problem, second = _one_package(checker, combo, res, m, wheel_ok)
        log += second.log()
        problems.append(problem)
        seen.add(canonicalize_name(problem.package))
        if not second.ok:
            break
        built = _versions(second.stdout)
        others = [n for n in built if n not in seen]
        res = checker.compile(platform, python, only_binary=False, binary_packages=others)
        log += res.log()
        if res.ok:
            break
    failing = [p for p in problems if not p.needs_build]
    status: Status = "fails" if failing else "builds"
    return Verdict(
        platform, python, status, tuple(problems), built if status == "builds" else {}, log
    )


def _one_package(
    checker: _Checker,
    combo: tuple[str, str],
    first: RunResult,
    m: re.Match[str],
    wheel_ok: dict[tuple[str, str], bool],
) -> tuple[Problem, RunResult]:
    platform, python = combo
    err = first.stderr
    name = m.group("name")
    version = m.group("ver") if m.group("op") == "==" else None
    avail = _AVAILABLE.search(err)
    elsewhere = ""
    if avail is not None and canonicalize_name(avail.group("name")) == canonicalize_name(name):
        version = version or avail.group("ver")
        elsewhere = _friendly_tags(avail.group("plats"))
    second = checker.compile(platform, python, only_binary=False)
    where = f"CPython {python} on {platform}"
    if second.ok:
        version = _versions(second.stdout).get(canonicalize_name(name), version)
        label = f"{name} {version}" if version else name
        compiled = bool(elsewhere) or _has_wheels_elsewhere(checker, name, version, combo)
        if compiled:
            reason = (
                f"{label} has no wheel for {where}, and building it from source needs a compiler"
            )
            if elsewhere:
                reason += f" (wheels exist for {elsewhere})"
        else:
            reason = f"{label} has no wheels at all and is built from source when installed"
        return Problem(name, version, reason, True), second
    label = f"{name} {version}" if version else name
    reason = f"{label} has no wheel for {where} and no source distribution to build"
    if elsewhere:
        reason += f" (wheels exist only for {elsewhere})"
    return Problem(name, version, reason, False), second


def _has_wheels_elsewhere(
    checker: _Checker, name: str, version: str | None, combo: tuple[str, str]
) -> bool:
    """Does this version have wheels for other Pythons or platforms (so it is compiled code)?"""
    platform, python = combo
    req = f"{name}=={version}" if version else name
    probes = [(platform, f"3.{m}") for m in range(9, 15) if f"3.{m}" != python]
    probes += [(p, python) for p in DEFAULT_TARGETS if p != platform]
    probe_dir = checker.workdir / f"probe-{canonicalize_name(name)}"
    probe_dir.mkdir(exist_ok=True)
    (probe_dir / "requirements.in").write_text(req + "\n", encoding="utf-8")

    def one(target: tuple[str, str]) -> bool:
        args: list[str | Path] = [
            "pip",
            "compile",
            probe_dir / "requirements.in",
            "--no-deps",
            "--python-platform",
            PLATFORMS[target[0]],
            "--python-version",
            target[1],
            "--only-binary",
            ":all:",
            "--config-file",
            checker.config,
            "--quiet",
            "--no-python-downloads",
        ]
        return checker.uv.call(args, cwd=checker.cwd).ok

    with ThreadPoolExecutor(max_workers=4) as pool:
        return any(pool.map(one, probes))
