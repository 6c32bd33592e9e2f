"""Conda environments built in process with py-rattler from a local channel the tests write
(tests/condachannel.py), the PyPI part and ipykernel with real uv (offline index), real kernels.

The public conda channels cannot be reached from these machines; every path here runs against
`file://` channels.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from condachannel import index_channel, make_channel, tool_package, write_package
from envlens import paths
from envlens.environment import ensure_environment
from envlens.envs.interpreters import find_interpreter
from envlens.envs.inventory import installed
from envlens.envs.uv import find_uv
from envlens.errors import ChannelUnreachableError, CondaPackageNotFoundError
from envlens.resolve import resolve
from notebooks import code_cells

pytestmark = pytest.mark.slow

PYTHON_MINOR = "3.12"


@pytest.fixture(scope="session")
def channel_python() -> tuple[Path, str]:
    """The machine interpreter the channel's `python` package wraps."""
    interp = find_interpreter(f"=={PYTHON_MINOR}.*", uv=find_uv())
    return interp.path, str(interp.version)


@pytest.fixture(scope="session")
def conda_channel(
    tmp_path_factory: pytest.TempPathFactory, channel_python: tuple[Path, str]
) -> Path:
    return make_channel(tmp_path_factory.mktemp("conda-channel"), *channel_python)


@pytest.fixture(autouse=True)
def rattler_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """rattler's package cache per test: the tests' packages never meet a user's cache."""
    cache = tmp_path_factory.mktemp("rattler-cache")
    monkeypatch.setenv("RATTLER_CACHE_DIR", str(cache))
    yield cache


@pytest.fixture
def project(tmp_path: Path, conda_channel: Path) -> Path:
    """A project folder (a git root) with its own copy of the channel in ./channel."""
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / ".git").mkdir()
    shutil.copytree(conda_channel, folder / "channel")
    return folder


def envlens(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ},
        timeout=300,
    )


def notebook(cells: list[str], metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "cells": code_cells(cells),
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            **metadata,
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def outputs_text(nb_path: Path) -> str:
    data = json.loads(nb_path.read_text())
    text = ""
    for cell in data["cells"]:
        for out in cell.get("outputs", []):
            text += "".join(out.get("text", "")) + "".join(
                out.get("data", {}).get("text/plain", "")
            )
    return text


def versions(env: Path) -> dict[str, str]:
    return {d.name: d.version for d in installed(env)}


def conda_meta(env: Path) -> dict[str, str]:
    out = {}
    for f in (env / "conda-meta").glob("*.json"):
        rec = json.loads(f.read_text())
        out[rec["name"]] = rec["version"]
    return out


TOOL_CELL = (
    "import subprocess, sys, tinyalpha\n"
    "print(subprocess.run(['tinytool'], capture_output=True, text=True).stdout.strip())\n"
    "print('prefix', sys.prefix)\n"
    "print('alpha', tinyalpha.__version__)\n"
)


def test_environment_yml_conda_packages_with_pip_part_and_a_machine_python(
    offline_index: Path, project: Path
) -> None:
    """environment.yml: conda packages from a local channel (a relative path), a `pip:` section;
    no conda Python, so the environment's Python is this machine's, with the conda packages linked
    beside it. `envlens run` runs a cell that uses both."""
    (project / "environment.yml").write_text(
        "name: demo\nchannels:\n  - ./channel\ndependencies:\n  - tinylib\n  - pip:\n"
        "    - tinyalpha==1.0\n"
    )
    nb = project / "analysis.py"
    nb.write_text("# %%\n" + TOOL_CELL)
    res = resolve(nb)
    assert res.spec.backend == "conda"
    assert res.spec.channels == ((project / "channel").as_uri(),)
    lines: list[str] = []
    info = ensure_environment(res, progress=lines.append)
    assert conda_meta(info.env_dir) == {"tinylib": "1.0", "tinytool": "2.0"}
    assert versions(info.env_dir)["tinyalpha"] == "1.0" and "ipykernel" in versions(info.env_dir)
    assert any("rattler" in line for line in lines)
    assert (paths.ready_file(info.env_dir)).exists()

    again = ensure_environment(resolve(nb))
    assert again.reused and again.env_dir == info.env_dir

    out = project / "analysis.out.ipynb"
    proc = envlens("run", str(nb), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = outputs_text(out)
    # The conda package's script, its prefix placeholder replaced by the environment's folder.
    assert f"tinytool 2.0 in {info.env_dir}" in text
    assert f"prefix {info.env_dir}" in text and "alpha 1.0" in text


def test_notebook_conda_metadata_with_python_from_the_channel_runs_a_real_kernel(
    offline_index: Path, project: Path, channel_python: tuple[Path, str]
) -> None:
    """nteract's metadata.conda with `python`: the environment's Python is the channel's `python`
    package, ipykernel goes in with uv, and the kernel runs in it."""
    nb_path = project / "conda.ipynb"
    cells = [
        "import sys, subprocess\n"
        "print('exe', sys.executable)\n"
        "print('prefix', sys.prefix)\n"
        "print(subprocess.run(['tinytool'], capture_output=True, text=True).stdout.strip())",
        "import platform; platform.python_version()",
    ]
    meta = {
        "conda": {"dependencies": ["tinytool 1.*"], "channels": ["./channel"], "python": "3.12"}
    }
    nb_path.write_text(json.dumps(notebook(cells, meta), indent=1) + "\n")
    assert envlens("trust", str(nb_path), "--yes").returncode == 0
    res = resolve(nb_path)
    assert res.declaration.kind == "notebook-conda"
    out = project / "conda.out.ipynb"
    proc = envlens("run", str(nb_path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    env = res.env_dir
    meta_pkgs = conda_meta(env)
    assert meta_pkgs["python"] == channel_python[1] and meta_pkgs["tinytool"] == "1.0"
    assert "ipykernel" in versions(env)
    text = outputs_text(out)
    assert f"exe {env}/bin/python" in text and f"prefix {env}" in text
    assert f"tinytool 1.0 in {env}" in text
    assert repr(channel_python[1]) in text
    record = json.loads(paths.ready_file(env).read_text())
    assert record["base_python"] == "conda package python"


def test_pixi_toml_dependencies_and_pypi_dependencies(
    offline_index: Path, project: Path, channel_python: tuple[Path, str]
) -> None:
    (project / "pixi.toml").write_text(
        '[workspace]\nname = "demo"\nchannels = ["./channel"]\nplatforms = ["linux-64"]\n\n'
        f'[dependencies]\npython = "{PYTHON_MINOR}.*"\ntinytool = "<2"\n\n'
        '[pypi-dependencies]\ntinyalpha = ">=2"\n'
    )
    (project / "nb.py").write_text("# %%\nimport tinyalpha\n")
    res = resolve(project / "nb.py")
    info = ensure_environment(res)
    assert conda_meta(info.env_dir) == {"python": channel_python[1], "tinytool": "1.0"}
    assert versions(info.env_dir)["tinyalpha"] == "2.0"
    assert info.python_version == channel_python[1]


def test_conda_package_missing_for_this_platform_is_one_line_and_builds_nothing(
    offline_index: Path, project: Path
) -> None:
    env_yml = project / "environment.yml"
    env_yml.write_text("channels:\n  - ./channel\ndependencies:\n  - tinytool\n  - tinylinux\n")
    (project / "nb.py").write_text("# %%\n1\n")
    with pytest.raises(CondaPackageNotFoundError) as exc:
        ensure_environment(resolve(project / "nb.py"))
    err = exc.value
    assert err.path == env_yml and err.line == 5
    assert "no conda package 'tinylinux'" in err.message and "linux" in err.message
    assert "\n" not in err.one_line()
    assert not [p for p in (offline_index / "envs").iterdir() if not p.name.startswith(".")]

    proc = envlens("install", str(project / "nb.py"))
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1, proc.stderr
    assert "tinylinux" in errors[0] and "environment.yml:5" in errors[0]


def test_unreachable_channel_is_one_line_and_builds_nothing(
    offline_index: Path, project: Path
) -> None:
    env_yml = project / "environment.yml"
    env_yml.write_text("channels:\n  - ./no-such-channel\ndependencies:\n  - tinytool\n")
    (project / "nb.py").write_text("# %%\n1\n")
    with pytest.raises(ChannelUnreachableError) as exc:
        ensure_environment(resolve(project / "nb.py"))
    err = exc.value
    assert "no-such-channel" in err.message and "cannot be read" in err.message
    assert err.path == env_yml and err.line == 1
    assert not [p for p in (offline_index / "envs").iterdir() if not p.name.startswith(".")]
    # An unreachable network channel says the same kind of thing.
    env_yml.write_text("channels:\n  - https://127.0.0.1:9/nothing\ndependencies:\n  - tinytool\n")
    with pytest.raises(ChannelUnreachableError) as exc2:
        ensure_environment(resolve(project / "nb.py"))
    assert "127.0.0.1:9" in exc2.value.message


def test_new_version_in_the_channel_is_a_new_solve_only_without_a_lock(
    offline_index: Path, project: Path
) -> None:
    """Helper check for the lock tests: the channel can gain a version between two solves."""
    channel = project / "channel"
    write_package(channel, tool_package("3.0"))
    index_channel(channel, ())
    (project / "environment.yml").write_text(
        "channels:\n  - ./channel\ndependencies:\n  - tinytool\n"
    )
    (project / "nb.py").write_text("# %%\n1\n")
    info = ensure_environment(resolve(project / "nb.py"))
    assert conda_meta(info.env_dir)["tinytool"] == "3.0"


def test_check_portability_solves_the_conda_packages_for_each_platform(
    offline_index: Path, project: Path
) -> None:
    from condachannel import current_subdir

    # tinylinux exists for one platform only: the one that is not this machine's.
    only = "linux-aarch64" if current_subdir() != "linux-aarch64" else "linux-64"
    friendly = {"linux-aarch64": "linux-aarch64", "linux-64": "linux-x86_64"}[only]
    (project / "environment.yml").write_text(
        "channels:\n  - ./channel\ndependencies:\n  - tinylib\n  - tinylinux\n"
    )
    (project / "nb.py").write_text("# %%\n1\n")
    proc = envlens(
        "check", str(project / "nb.py"), "--platform", friendly, "--platform", "windows-x86_64"
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{friendly}, Python -: works (3 conda packages, solved from the channels)"
    assert lines[1] == "windows-x86_64, Python -: fails"
    assert "no conda package 'tinylinux' for win-64" in lines[2]


def test_invalid_conda_spec_names_its_line(offline_index: Path, project: Path) -> None:
    from envlens.errors import DeclarationError

    env_yml = project / "environment.yml"
    env_yml.write_text("channels:\n  - ./channel\ndependencies:\n  - tinytool\n  - pan das\n")
    (project / "nb.py").write_text("# %%\n1\n")
    with pytest.raises(DeclarationError) as exc:
        ensure_environment(resolve(project / "nb.py"))
    assert exc.value.path == env_yml and exc.value.line == 5
    assert "invalid conda package spec 'pan das'" in exc.value.message
