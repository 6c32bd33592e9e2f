"""Conda locks (rattler's lock format, pixi's `pixi.lock`): `envlens lock`, `run --locked` rebuilding
exactly what was locked while the channel moved on, stale locks refused, the notebook's
metadata["conda.lock"], trust over channels, and Slurm's lock check. Local `file://` channels only.
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
from envlens import trust
from envlens.environment import ensure_environment
from envlens.envs.conda_lock import drift, parse
from envlens.envs.interpreters import find_interpreter
from envlens.envs.inventory import installed
from envlens.envs.uv import find_uv
from envlens.errors import LockError
from envlens.resolve import resolve
from envlens.slurm import check_locked

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def lock_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    interp = find_interpreter("==3.12.*", uv=find_uv())
    return make_channel(tmp_path_factory.mktemp("lock-channel"), interp.path, str(interp.version))


@pytest.fixture(autouse=True)
def rattler_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    cache = tmp_path_factory.mktemp("rattler-cache")
    monkeypatch.setenv("RATTLER_CACHE_DIR", str(cache))
    yield cache


@pytest.fixture
def project(tmp_path: Path, lock_channel: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / ".git").mkdir()
    shutil.copytree(lock_channel, folder / "channel")
    return folder


def envlens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )


def conda_meta(env: Path) -> dict[str, str]:
    out = {}
    for f in (env / "conda-meta").glob("*.json"):
        rec = json.loads(f.read_text())
        out[rec["name"]] = rec["version"]
    return out


def add_tool_version(project: Path, version: str) -> None:
    write_package(project / "channel", tool_package(version))
    index_channel(project / "channel", ())


ENV_YML = "channels:\n  - ./channel\ndependencies:\n  - tinytool\n  - pip:\n    - tinyalpha\n"


def test_lock_then_run_locked_rebuilds_exactly_while_the_channel_moves_on(
    offline_index: Path, project: Path
) -> None:
    (project / "environment.yml").write_text(ENV_YML)
    script = project / "analysis.py"
    script.write_text(
        "# %%\nimport subprocess, tinyalpha\n"
        "print(subprocess.run(['tinytool'], capture_output=True, text=True).stdout)\n"
    )
    proc = envlens("lock", str(script))
    assert proc.returncode == 0, proc.stderr
    lock_file = project / "environment.yml.lock"
    assert lock_file.exists() and "environment.yml.lock" in proc.stderr
    text = lock_file.read_text()
    env = parse(text, "the lock").environment("default")
    assert env is not None and [str(c).rstrip("/") for c in env.channels()] == [
        (project / "channel").as_uri()
    ]
    assert "tinytool-2.0-0.tar.bz2" in text and "tinyalpha-2.0-py3-none-any.whl" in text
    res = resolve(script)
    assert res.lock_text == text and res.spec.lock_hash is not None
    assert drift(res) == ("fresh", ())

    # The channel gains tinytool 3.0: a fresh solve would take it, the lock keeps 2.0.
    add_tool_version(project, "3.0")
    out = project / "analysis.out.ipynb"
    proc = envlens("run", "--locked", str(script), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "exactly as locked" in proc.stderr
    built = resolve(script).env_dir
    assert conda_meta(built)["tinytool"] == "2.0"
    assert {d.name: d.version for d in installed(built)}["tinyalpha"] == "2.0"
    outputs = json.loads(out.read_text())["cells"][0]["outputs"]
    assert f"tinytool 2.0 in {built}" in outputs[0]["text"]

    # Slurm's check accepts the lock (each task rebuilds from it with --locked).
    key, lock_text = check_locked(script)
    assert key == res.key and lock_text == text

    # Re-locking prefers what was locked; --upgrade takes the channel's newest.
    assert envlens("lock", str(script)).returncode == 0
    assert "tinytool-2.0-0.tar.bz2" in lock_file.read_text()
    proc = envlens("lock", "--upgrade", str(script))
    assert proc.returncode == 0, proc.stderr
    assert "tinytool-3.0-0.tar.bz2" in lock_file.read_text()
    assert "tinytool: 2.0 -> 3.0" in proc.stderr


def test_a_stale_conda_lock_is_refused_by_run_locked_and_slurm(
    offline_index: Path, project: Path
) -> None:
    env_yml = project / "environment.yml"
    env_yml.write_text(ENV_YML)
    script = project / "analysis.py"
    script.write_text("# %%\n1\n")
    assert envlens("lock", str(script)).returncode == 0
    env_yml.write_text(ENV_YML.replace("  - tinytool\n", "  - tinytool\n  - tinylib\n"))
    state, reasons = drift(resolve(script))
    assert state == "stale" and reasons == ("tinylib is declared but not in the lock",)
    proc = envlens("run", "--locked", str(script))
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1, proc.stderr
    assert "conda lock is out of date: tinylib is declared but not in the lock" in errors[0]
    assert "envlens lock analysis.py" in errors[0]
    with pytest.raises(LockError, match="out of date"):
        check_locked(script)
    # A changed channel is stale too.
    env_yml.write_text(ENV_YML.replace("./channel", str(project / "channel2")))
    shutil.copytree(project / "channel", project / "channel2")
    state, reasons = drift(resolve(script))
    assert state == "stale" and "the channels changed" in reasons[0]
    # Not locked at all.
    (project / "environment.yml.lock").unlink()
    with pytest.raises(LockError, match="has no lock"):
        check_locked(script)


def notebook(metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "c0",
                "metadata": {},
                "outputs": [],
                "source": "import sys\nprint(sys.prefix)",
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            **metadata,
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_notebook_conda_lock_lives_in_its_metadata_and_trust_covers_channels(
    offline_index: Path, project: Path
) -> None:
    nb_path = project / "nb.ipynb"
    meta = {"conda": {"dependencies": ["tinytool <2"], "channels": ["./channel"], "python": "3.12"}}
    nb_path.write_text(json.dumps(notebook(meta), indent=1) + "\n")

    # The trust listing names the channel; approval is needed before anything is solved.
    proc = envlens("trust", str(nb_path), "--check")
    assert proc.returncode == 3
    assert f"channels:    {(project / 'channel').as_uri()}" in proc.stderr
    assert "tinytool <2" in proc.stderr
    assert envlens("lock", str(nb_path)).returncode == 3
    assert envlens("trust", str(nb_path), "--yes").returncode == 0

    proc = envlens("lock", str(nb_path))
    assert proc.returncode == 0, proc.stderr
    assert 'metadata["conda.lock"]' in proc.stderr
    data = json.loads(nb_path.read_text())
    assert "tinytool-1.0-0.tar.bz2" in data["metadata"]["conda.lock"]
    assert "python-3.12" in data["metadata"]["conda.lock"]
    assert data["metadata"]["conda"] == meta["conda"]  # the declaration is untouched
    res = resolve(nb_path)
    assert trust.trust_state(res).trusted  # envlens's own lock keeps it approved
    assert drift(res) == ("fresh", ())

    out = project / "nb.out.ipynb"
    proc = envlens("run", "--locked", str(nb_path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert conda_meta(res.env_dir)["tinytool"] == "1.0"

    # Another channel is another declaration: approval is asked again.
    data["metadata"]["conda"]["channels"] = ["conda-forge"]
    nb_path.write_text(json.dumps(data, indent=1) + "\n")
    state = trust.trust_state(resolve(nb_path))
    assert not state.trusted and state.status == "changed"


def test_pixi_lock_is_pixi_lock_beside_pixi_toml_for_its_platforms(
    offline_index: Path, project: Path
) -> None:
    from envlens.envs.conda_rattler import current_subdir

    here = current_subdir()
    other = "linux-aarch64" if here != "linux-aarch64" else "linux-64"
    (project / "pixi.toml").write_text(
        '[workspace]\nname = "demo"\nchannels = ["./channel"]\n'
        f'platforms = ["{here}", "{other}"]\n\n[dependencies]\ntinylib = "*"\n'
    )
    (project / "nb.py").write_text("# %%\n1\n")
    proc = envlens("lock", str(project / "nb.py"))
    assert proc.returncode == 0, proc.stderr
    lock = parse((project / "pixi.lock").read_text(), "pixi.lock")
    env = lock.environment("default")
    assert env is not None
    assert sorted(p.name for p in env.platforms()) == sorted([here, other])
    for platform in env.platforms():  # rattler takes the lock's own platform objects
        names = sorted(p.name for p in env.packages(platform) or [])
        assert names == ["tinylib", "tinytool"]
    info = ensure_environment(resolve(project / "nb.py"))
    assert conda_meta(info.env_dir) == {"tinylib": "1.0", "tinytool": "2.0"}
    # Check Portability reads the locked platforms from the lock.
    friendly = {"linux-64": "linux-x86_64", "linux-aarch64": "linux-aarch64"}
    proc = envlens("check", str(project / "nb.py"), "--platform", friendly[other], "--json")
    assert proc.returncode == 0, proc.stderr
    (verdict,) = json.loads(proc.stdout)
    assert verdict["status"] == "works"
    assert verdict["packages"] == {"tinylib": "1.0", "tinytool": "2.0"}


def test_export_of_a_conda_declaration_names_the_conda_lock_instead(
    offline_index: Path, project: Path
) -> None:
    (project / "environment.yml").write_text(ENV_YML)
    (project / "nb.py").write_text("# %%\n1\n")
    proc = envlens("export", str(project / "nb.py"), "--format", "requirements")
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and "environment.yml.lock" in errors[0], proc.stderr
    assert not list(project.glob("*.txt"))
