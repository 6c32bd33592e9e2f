"""Project files found by walking up from a file: pyproject.toml, pixi.toml, environment.yml.

The closest folder wins; within one folder pyproject.toml beats pixi.toml beats environment.yml. The
walk stops at a folder holding `.git` (the repository's root is still looked at) and at the home folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
import yaml

from envlens.errors import DeclarationError
from envlens.fileio import read_text
from envlens.requirements import (
    check_requirement,
    is_valid,
    parse_requirement,
    toml_reason,
    validate_requires_python,
)
from envlens.sources import toml_read
from envlens.sources.declaration import Declaration

PROJECT_FILES = ("pyproject.toml", "pixi.toml", "environment.yml", "environment.yaml")


def find_project_file(start: Path, home: Path | None = None) -> Path | None:
    # os.path on strings: this runs on every keystroke, and pathlib objects cost ~5x more here.
    home_s = os.path.realpath(home if home is not None else os.path.expanduser("~"))
    folder = os.path.realpath(start)
    while True:
        for name in PROJECT_FILES:
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                return Path(candidate)
        parent = os.path.dirname(folder)
        if folder == home_s or parent == folder or os.path.exists(os.path.join(folder, ".git")):
            return None
        folder = parent


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        return toml_read.loads(read_text(path))
    except tomlkit.exceptions.ParseError as exc:
        raise DeclarationError(
            f"{path.name} is not valid TOML: {toml_reason(exc)}",
            path=path,
            line=exc.line,
            column=exc.col,
            hint=f"Fix the TOML in {path.name}",
        ) from None


def _line_of(path: Path, needle: str) -> int | None:
    text = read_text(path)
    idx = text.find(needle)
    return text.count("\n", 0, idx) + 1 if idx >= 0 else None


def _checked(path: Path, reqs: Any, where: str) -> tuple[str, ...]:
    if reqs is None:
        return ()
    if not isinstance(reqs, list) or not all(isinstance(r, str) for r in reqs):
        raise DeclarationError(
            f"{where} in {path.name} must be a list of strings",
            path=path,
            line=_line_of(path, where.split(".")[-1]),
            hint="Write it as a list of requirement strings",
        )
    for r in reqs:
        if not is_valid(r):  # the file is read for the line only when there is an error
            check_requirement(r, path=path, line=_line_of(path, r))
    return tuple(reqs)


def read_pyproject(path: Path) -> Declaration:
    data = _load_toml(path)
    project = data.get("project", {})
    tool_uv = data.get("tool", {}).get("uv") if isinstance(data.get("tool"), dict) else None
    rp = project.get("requires-python") if isinstance(project, dict) else None
    if rp is not None:
        rp = validate_requires_python(str(rp), path=path, line=_line_of(path, "requires-python"))
    reqs = _checked(
        path,
        project.get("dependencies") if isinstance(project, dict) else None,
        "project.dependencies",
    )
    is_uv_project = tool_uv is not None or (path.parent / "uv.lock").is_file()
    return Declaration(
        kind="uv-project" if is_uv_project else "pyproject",
        path=path,
        requirements=reqs,
        requires_python=rp,
    )


def _pixi_spec(name: str, value: Any) -> str:
    """A pixi dependency table entry as a requirement: `numpy = ">=1.2"` -> `numpy>=1.2`."""
    if isinstance(value, str):
        return (
            name
            if value in ("*", "")
            else f"{name}{value}"
            if value[0] in "<>=!~"
            else f"{name}=={value}"
        )
    if isinstance(value, dict) and isinstance(value.get("version"), str):
        return _pixi_spec(name, value["version"])
    return name


def _pixi_conda_spec(name: str, value: Any) -> str:
    """A pixi `[dependencies]` entry as a conda match spec, which rattler (pixi's own parser) reads:
    `numpy = ">=2"` -> `numpy >=2`; `{ version = "1.*", channel = "x", build = "py*" }` ->
    `x::numpy 1.* py*`."""
    if isinstance(value, str):
        return name if value in ("*", "") else f"{name} {value}"
    if isinstance(value, dict):
        version = str(value.get("version") or "*")
        spec = f"{value['channel']}::{name}" if isinstance(value.get("channel"), str) else name
        if version != "*" or isinstance(value.get("build"), str):
            spec += f" {version}"
        if isinstance(value.get("build"), str):
            spec += f" {value['build']}"
        return spec
    return name


def channel_spec(channel: str, base: Path) -> str:
    """A channel as the spec keeps it: a name or URL as written; a local folder (`./channel`,
    `/srv/conda`, `~/channel`) as an absolute file:// URL, relative to the declaring file's folder,
    so the same text in two folders is two different channels."""
    if "://" in channel or not channel.startswith((".", "/", "~")):
        return channel
    return (base / os.path.expanduser(channel)).resolve().as_uri()


def _channels(value: Any, path: Path, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise DeclarationError(
            f"{where} in {path.name} must be a list of channel names or URLs",
            path=path,
            line=_line_of(path, "channels"),
            hint='Write it as a list, for example ["conda-forge"]',
        )
    return tuple(channel_spec(c, path.parent) for c in value)


def read_pixi(path: Path) -> Declaration:
    data = _load_toml(path)
    pypi = data.get("pypi-dependencies", {})
    conda = data.get("dependencies", {})
    python = conda.get("python") if isinstance(conda, dict) else None
    reqs = [_pixi_spec(n, v) for n, v in pypi.items()] if isinstance(pypi, dict) else []
    for r in reqs:
        parse_requirement(r, path=path, line=_line_of(path, r.split("=")[0]))
    conda_pkgs = (
        tuple(_pixi_conda_spec(n, v) for n, v in conda.items() if n != "python")
        if isinstance(conda, dict)
        else ()
    )
    ws = data.get("workspace") or data.get("project") or {}
    channels = _channels(ws.get("channels"), path, "channels") if isinstance(ws, dict) else ()
    rp = None
    if isinstance(python, str) and python not in ("*", ""):
        rp = (
            python
            if python[0] in "<>=!~"
            else f"=={python}.*"
            if python.count(".") < 2
            else f"=={python}"
        )
    return Declaration(
        kind="pixi",
        path=path,
        requirements=tuple(reqs),
        requires_python=rp,
        conda_packages=conda_pkgs,
        channels=channels,
    )


def read_environment_yml(path: Path) -> Declaration:
    try:
        data = yaml.safe_load(read_text(path)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise DeclarationError(
            f"{path.name} is not valid YAML: {getattr(exc, 'problem', exc)}",
            path=path,
            line=mark.line + 1 if mark else None,
            hint=f"Fix the YAML in {path.name}",
        ) from None
    if not isinstance(data, dict):
        raise DeclarationError(
            f"{path.name} must be a mapping with 'dependencies'", path=path, line=1
        )
    deps = data.get("dependencies") or []
    pip: list[str] = []
    conda: list[str] = []
    python: str | None = None
    for d in deps:
        if isinstance(d, dict) and isinstance(d.get("pip"), list):
            pip.extend(str(p) for p in d["pip"])
        elif isinstance(d, str):
            name = d.split("=")[0].split("<")[0].split(">")[0].strip()
            if name == "python":
                python = d[len("python") :].strip() or None
            elif name != "pip":
                conda.append(d)
    for r in pip:
        parse_requirement(r, path=path, line=_line_of(path, r))
    rp = None
    if python:
        rp = (
            python
            if python[0] in "<>!~" or python.startswith("==")
            else f"=={python.lstrip('=')}.*"
            if python.lstrip("=").count(".") < 2
            else f"=={python.lstrip('=')}"
        )
    channels = _channels(data.get("channels"), path, "channels")
    return Declaration(
        kind="environment-yml",
        path=path,
        requirements=tuple(pip),
        requires_python=rp,
        conda_packages=tuple(conda),
        channels=channels,
    )


def read_project_file(path: Path) -> Declaration:
    if path.name == "pyproject.toml":
        return read_pyproject(path)
    if path.name == "pixi.toml":
        return read_pixi(path)
    return read_environment_yml(path)
