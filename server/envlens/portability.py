"""Check Portability: will this declaration (or its lock) install on other platforms and Pythons?

A target whose Python the declaration's own requires-python excludes is said so, and not asked
further. For each other target, `uv pip compile --python-platform X --python-version Y
--only-binary :all:` resolves without building anything. When that fails, uv's explanation names one
package; that package alone, with source builds allowed, tells the real reason: its own
requires-python excludes that Python, or it has a source distribution (building it needs a compiler
when it has wheels for other targets, compiled code), or it has neither. Then the package is left out
(an override that never applies) and uv is asked again, so EVERY package that fails is named, one
line each, e.g. "scikit-image 0.25.2 has no wheel for CPython 3.9 on linux-aarch64, and building it
from source needs a compiler".
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import tomlkit
from packaging.utils import canonicalize_name

from envlens.envs.runner import RunResult
from envlens.envs.uv import Uv, cause
from envlens.errors import BadInputError
from envlens.portability_verdict import Problem, Verdict
from envlens.requirements import requirement_name
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
    skip = sourced(resolution)  # no index has them; check_settings notes each
    reqs = [r for r in resolution.declaration.requirements if requirement_name(r) not in skip]
    return "\n".join(reqs) + "\n", "declaration"


_NO_USABLE = re.compile(
    r"(?:all versions of |)(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:(?P<op>==|>=|<=|<|>|!=|~=)(?P<ver>[^\s,]+))?"
    r" ha(?:s|ve) no (?:usable wheels|wheels with a matching (?P<what>platform tag|Python ABI tag|Python implementation tag|Python version))"
)
_AVAILABLE = re.compile(
    r"Wheels are available for `(?P<name>[^`]+)` \(v(?P<ver>[^)]+)\) on the following platforms: "
    r"(?P<plats>`[^`]+`(?:,? (?:and )?`[^`]+`)*)"
)
# uv: "Because the requested Python version (>=3.9) does not satisfy Python>=3.10 and numpy==2.1.0
# depends on Python>=3.10, ..."
_NEEDS_PYTHON = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:(?P<op>==|>=|<=|<|>|!=|~=)(?P<ver>[^\s,]+))?"
    r" depends on Python(?P<spec>[<>=!~][^\s,]*)"
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
        excluded: list[str] | None = None,
        requirements: str | None = None,
        no_deps: bool = False,
    ) -> RunResult:
        """`uv pip compile` for one target. `excluded` packages are left out of the resolution
        (an override that never applies), so the next failing package can be found; `requirements`
        (with `no_deps`) probes one package on its own."""
        infile = self.infile
        if requirements is not None:
            infile = self._file("probe", requirements)
        args: list[str | Path] = [
            "pip",
            "compile",
            infile,
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
        if excluded:
            never = "".join(f'{name} ; python_version < "0"\n' for name in excluded)
            args += ["--overrides", self._file("excluded", never)]
        if no_deps:
            args.append("--no-deps")
        if offline:
            args.append("--offline")
        return self.uv.call(args, cwd=self.cwd)

    def _file(self, kind: str, text: str) -> Path:
        """A requirements file of its own per call (targets are checked in parallel)."""
        fd, name = tempfile.mkstemp(prefix=f"{kind}-", suffix=".txt", dir=self.workdir)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return Path(name)


def _source_of(entry: Any) -> str:
    """How a [tool.uv.sources] entry reads in a message: "path ../lib", "git https://...", ..."""
    first = entry[0] if isinstance(entry, list) and entry else entry
    if isinstance(first, dict):
        for key in ("path", "git", "url", "index", "workspace"):
            if key in first:
                return f"{key} {first[key]}"
    return "a source"


def sourced(resolution: Resolution) -> dict[str, str]:
    """Packages the declaration takes from [tool.uv.sources] (canonical name -> where from)."""
    sources = resolution.declaration.settings().get("sources", {})
    if not isinstance(sources, dict):
        return {}
    return {canonicalize_name(str(n)): _source_of(e) for n, e in sources.items()}


def check_settings(resolution: Resolution) -> tuple[dict[str, Any], list[str]]:
    """The declaration's [tool.uv] settings the check hands uv, and a note for each package it
    leaves out: `uv pip compile` has no per-package sources (they belong to a project), so a
    package from a path, git, URL or a named index is checked only where it is built."""
    settings = resolution.declaration.settings()
    notes = [
        f"{name} comes from {where} ([tool.uv.sources]): not part of this check; it is built "
        "where the environment is built"
        for name, where in sorted(sourced(resolution).items())
    ]
    return {k: v for k, v in settings.items() if k != "sources"}, notes


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
    """Per (platform, Python): works, builds from source, or fails, with one line per package that
    does not install from a wheel there (or the declaration's requires-python excluding it)."""
    platforms = parse_platforms(targets)
    if resolution.spec.backend == "conda" and resolution.spec.conda_packages:
        from envlens.envs.conda_portability import check_conda  # rattler solves per platform

        return check_conda(resolution, platforms, cancel=cancel)
    uv = Uv.find(settings, cancel=cancel)
    versions = parse_pythons(pythons, resolution, uv.path, settings)
    if resolution.spec.backend not in ("uv",) or resolution.runtime != "python":
        raise BadInputError(
            f"the portability check reads PyPI declarations; this file uses {resolution.declaration.label}",
            path=resolution.path,
            hint="Declare the dependencies in a '# /// script' block",
        )
    reqs, _source = _input_requirements(resolution, settings, uv)
    uv_settings, notes = check_settings(resolution)
    anchor = resolution.declaration.anchor
    with tempfile.TemporaryDirectory(prefix="envlens-check-") as tmp:
        checker = _Checker(uv, reqs, Path(tmp), uv_settings, Path(anchor) if anchor else Path(tmp))
        combos = [(p, v) for v in versions for p in platforms]
        excluded = {v: _excluded_by_declaration(resolution, v) for v in versions}
        todo = [c for c in combos if excluded[c[1]] is None]
        with ThreadPoolExecutor(max_workers=4) as pool:
            firsts = dict(
                zip(
                    todo,
                    pool.map(lambda c: checker.compile(c[0], c[1], only_binary=True), todo),
                    strict=True,
                )
            )
        verdicts: list[Verdict] = []
        for combo in combos:
            reason = excluded[combo[1]]
            if reason is not None:  # the file itself does not run there: nothing to ask uv
                verdicts.append(Verdict(*combo, "fails", (Problem("", None, reason, False),)))
                continue
            res = firsts[combo]
            if res.ok:
                verdicts.append(Verdict(*combo, "works", (), _versions(res.stdout), res.log()))
                continue
            verdicts.append(_explain(checker, combo, res))
    return [dataclasses.replace(v, notes=tuple(notes)) for v in verdicts]


def _excluded_by_declaration(resolution: Resolution, python: str) -> str | None:
    """Why the declaration's own requires-python rules out this Python (any of its releases), or
    None when it allows it."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    from envlens.envs.locate import locate

    declared = resolution.spec.requires_python
    if not declared:
        return None
    try:
        spec = SpecifierSet(declared)
    except InvalidSpecifier:
        return None  # uv reads it; a spelling it accepts and packaging does not is uv's to judge
    if any(spec.contains(f"{python}.{patch}", prereleases=True) for patch in range(0, 100)):
        return None
    where = locate(resolution, "requires-python").name
    return (
        f"requires-python {declared} (in {where}) excludes Python {python}: the file says it does "
        "not run there, so nothing was checked for it (check a Python it allows, or change "
        "requires-python)"
    )


# How many failing packages one target's explanation looks for (each costs two or three uv calls).
MAX_PROBLEMS = 25


def _flat(stderr: str) -> str:
    """uv's message on one line: it wraps long explanations, mid-sentence."""
    return " ".join(stderr.split())


def _failing_package(stderr: str) -> tuple[str, str | None] | None:
    """The package uv names as the reason a resolution failed, and its version when pinned."""
    for pattern in (_NEEDS_PYTHON, _NO_USABLE):
        m = pattern.search(_flat(stderr))
        if m is not None:
            return m.group("name"), m.group("ver") if m.group("op") in ("==", None) else None
    return None


def _explain(checker: _Checker, combo: tuple[str, str], first: RunResult) -> Verdict:
    """One line per package that does not install from wheels here: uv names one at a time, so
    each named package is explained, then left out of the resolution, and uv is asked again,
    until the rest resolves from wheels (or uv stops naming packages)."""
    platform, python = combo
    problems: list[Problem] = []
    log = first.log()
    res = first
    excluded: list[str] = []
    for _ in range(MAX_PROBLEMS):
        named = _failing_package(res.stderr)
        if named is None or canonicalize_name(named[0]) in excluded:
            problems.append(Problem("", None, _cause_line(res.stderr), needs_build=False))
            break
        problem, probe_log = _classify(checker, combo, named[0], named[1], res.stderr)
        log += probe_log
        problems.append(problem)
        excluded.append(canonicalize_name(named[0]))
        res = checker.compile(platform, python, only_binary=True, excluded=excluded)
        log += res.log()
        if res.ok:
            break
    failing = [p for p in problems if not p.needs_build]
    if failing:
        return Verdict(platform, python, "fails", tuple(problems), {}, log)
    # Everything else has wheels: the whole resolution, building what needs building.
    full = checker.compile(platform, python, only_binary=False)
    log += full.log()
    if not full.ok:
        problems.append(Problem("", None, _cause_line(full.stderr), needs_build=False))
        return Verdict(platform, python, "fails", tuple(problems), {}, log)
    return Verdict(platform, python, "builds", tuple(problems), _versions(full.stdout), log)


def _classify(
    checker: _Checker, combo: tuple[str, str], name: str, version: str | None, stderr: str
) -> tuple[Problem, str]:
    """Why `name` does not install from a wheel on this target: its own requires-python excludes
    this Python; or it has no wheel for it but a source distribution (building it needs a compiler
    when it has wheels elsewhere); or neither a wheel nor a source distribution."""
    platform, python = combo
    stderr = _flat(stderr)
    avail = _AVAILABLE.search(stderr)
    elsewhere = ""
    if avail is not None and canonicalize_name(avail.group("name")) == canonicalize_name(name):
        version = version or avail.group("ver")
        elsewhere = _friendly_tags(avail.group("plats"))
    req = f"{name}=={version}" if version else name
    # The package alone, sources allowed: uv then says what really stands in the way.
    probe = checker.compile(
        platform, python, only_binary=False, requirements=req + "\n", no_deps=True
    )
    log = probe.log()
    where = f"CPython {python} on {platform}"
    if probe.ok:
        version = _versions(probe.stdout).get(canonicalize_name(name), version)
        label = f"{name} {version}" if version else name
        if elsewhere or _has_wheels_elsewhere(checker, req, combo):
            reason = (
                f"{label} has no wheel for {where}, and building it from source needs a compiler"
            )
            if elsewhere:
                reason += f" (wheels exist for {elsewhere})"
        else:
            reason = f"{label} has no wheels at all and is built from source when installed"
        return Problem(name, version, reason, True), log
    label = f"{name} {version}" if version else name
    probed = _flat(probe.stderr)
    needs = _NEEDS_PYTHON.search(probed) or _NEEDS_PYTHON.search(stderr)
    if needs is not None and canonicalize_name(needs.group("name")) == canonicalize_name(name):
        spec = needs.group("spec")
        return (
            Problem(
                name,
                version,
                f"{label} requires Python {spec} (its own requires-python), so it does not "
                f"install on Python {python}",
                False,
            ),
            log,
        )
    if _NO_USABLE.search(probed) is None and "no version of" not in probed:
        return Problem(name, version, f"{label}: {_cause_line(probe.stderr)}", False), log
    reason = f"{label} has no wheel for {where} and no source distribution to build"
    if elsewhere:
        reason += f" (wheels exist only for {elsewhere})"
    return Problem(name, version, reason, False), log


def _has_wheels_elsewhere(checker: _Checker, req: str, combo: tuple[str, str]) -> bool:
    """Does this version have wheels for other Pythons or platforms (so it is compiled code)?"""
    platform, python = combo
    probes = [(platform, f"3.{m}") for m in range(9, 15) if f"3.{m}" != python]
    probes += [(p, python) for p in DEFAULT_TARGETS if p != platform]

    def one(target: tuple[str, str]) -> bool:
        res = checker.compile(
            target[0], target[1], only_binary=True, requirements=req + "\n", no_deps=True
        )
        return res.ok

    with ThreadPoolExecutor(max_workers=4) as pool:
        return any(pool.map(one, probes))
