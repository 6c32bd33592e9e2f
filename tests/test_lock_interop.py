"""Interop with the real tools: juv builds from our notebook lock without re-resolving, and we build
from a lock that juv wrote; uv's own tools accept our script lock (see also tests/test_lock.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envlens.environment import ensure_environment
from envlens.envs.inventory import installed
from envlens.locking.drift import lock_state
from envlens.locking.read import parse_lock
from envlens.locking.versions import lock_file
from envlens.resolve import resolve
from envlens.sources.lockfile import NOTEBOOK_LOCK_KEY
from test_lock import notebook_with_block

pytestmark = pytest.mark.slow

JUV = Path(sys.executable).with_name("juv")


def juv(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(extra_env or {})}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run([str(JUV), *args], capture_output=True, text=True, env=env, check=False)


@pytest.fixture
def own_index(
    offline_index: Path,
    wheelhouse: Path,
    tiny_index: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    folder = tmp_path / "index"
    folder.mkdir()
    for wheel in ("tinyalpha-1.0-py3-none-any.whl", "tinybeta-1.0-py3-none-any.whl"):
        shutil.copy(tiny_index / wheel, folder)
    monkeypatch.setenv("UV_FIND_LINKS", f"{wheelhouse},{folder}")
    return folder


def test_juv_syncs_our_notebook_lock_without_relocking(
    own_index: Path, tiny_index: Path, tmp_path: Path
) -> None:
    nb = notebook_with_block(tmp_path / "n.ipynb", ["tinybeta"])
    lock_file(nb)
    shutil.copy(tiny_index / "tinyalpha-2.0-py3-none-any.whl", own_index)  # newer, not locked
    before = json.loads(nb.read_text())["metadata"][NOTEBOOK_LOCK_KEY]
    venv = tmp_path / "juv-venv"
    # UV_LOCKED makes uv fail rather than update a lock that does not match: juv must use ours.
    res = juv("sync", str(nb), "--target", str(venv), extra_env={"UV_LOCKED": "1"})
    assert res.returncode == 0, res.stderr
    # juv writes the notebook back (in its own JSON layout); the lock in it is ours, unchanged.
    assert json.loads(nb.read_text())["metadata"][NOTEBOOK_LOCK_KEY] == before
    got = {d.name: d.version for d in installed(venv)}
    assert got["tinyalpha"] == "1.0" and got["tinybeta"] == "1.0"
    # juv's export of the notebook (frozen: from the lock) lists our versions.
    exp = (
        juv("export", str(nb), "--frozen")
        if "--frozen" in juv("export", "--help").stdout
        else juv("export", str(nb))
    )
    assert exp.returncode == 0, exp.stderr
    assert "tinyalpha==1.0" in exp.stdout and "tinybeta==1.0" in exp.stdout
    assert json.loads(nb.read_text())["metadata"][NOTEBOOK_LOCK_KEY] == before


def test_we_build_from_a_lock_juv_wrote(own_index: Path, tiny_index: Path, tmp_path: Path) -> None:
    nb = notebook_with_block(tmp_path / "n.ipynb", ["tinybeta"])
    res = juv("lock", str(nb))
    assert res.returncode == 0, res.stderr
    data = json.loads(nb.read_text())
    assert parse_lock(data["metadata"][NOTEBOOK_LOCK_KEY]).versions()["tinyalpha"] == "1.0"
    shutil.copy(tiny_index / "tinyalpha-2.0-py3-none-any.whl", own_index)
    resolution = resolve(nb)
    assert resolution.spec.lock_hash is not None
    assert lock_state(resolution) == "fresh"
    env = ensure_environment(resolution).env_dir
    got = {d.name: d.version for d in installed(env)}
    # The declaration alone would now give tinyalpha 2.0; juv's lock says 1.0.
    assert got["tinyalpha"] == "1.0" and got["tinybeta"] == "1.0" and "ipykernel" in got


def test_juv_with_uv_locked_refuses_a_stale_lock(own_index: Path, tmp_path: Path) -> None:
    """The control for the test above: UV_LOCKED really fails when the lock does not match."""
    nb = notebook_with_block(tmp_path / "n.ipynb", ["tinybeta"])
    lock_file(nb)
    data = json.loads(nb.read_text())
    data["cells"][0]["source"] = [
        "# /// script\n",
        '# dependencies = ["tinybeta", "tinyalpha"]\n',
        "# ///",
    ]
    nb.write_text(json.dumps(data, indent=1))
    assert lock_state(resolve(nb)) == "stale"
    res = juv("sync", str(nb), "--target", str(tmp_path / "v"), extra_env={"UV_LOCKED": "1"})
    assert res.returncode != 0
