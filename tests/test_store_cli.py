"""`envlens install`, `envlens envs list|remove`: what a user sees, and the exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def envlens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args], capture_output=True, text=True, timeout=300
    )


def test_install_then_already_built(offline_index: Path, tmp_path: Path, write_script) -> None:
    script = write_script(tmp_path / "analysis.py", ["tinybeta"])
    first = envlens("install", "--trust", str(script))
    assert first.returncode == 0, first.stderr
    assert (
        "Creating Python 3." in first.stderr
        and "Installing 1 package and ipykernel" in first.stderr
    )
    env_dir = offline_index / "envs"
    (key,) = [p.name for p in env_dir.iterdir() if not p.name.startswith(".")]
    last = first.stdout.strip().splitlines()[-1]
    assert last.startswith(str(env_dir / key) + ": Python 3.")
    assert "packages (built in" in last
    count = int(last.split(", ")[1].split()[0])
    assert count > 10  # ipykernel and its dependencies, tinybeta, tinyalpha

    second = envlens("install", "--trust", str(script))
    assert second.returncode == 0
    assert second.stdout.strip().endswith(f"{count} packages (already built)")
    assert "Creating" not in second.stderr

    listed = envlens("envs", "list")
    assert listed.returncode == 0 and listed.stdout.startswith(key) and "tinybeta" in listed.stdout
    removed = envlens("envs", "remove", key)
    assert removed.returncode == 0 and not (env_dir / key).exists()
    again = envlens("envs", "remove", key)
    assert again.returncode == 2 and f"no environment with key {key}" in again.stderr


def test_install_errors(offline_index: Path, tmp_path: Path, write_script) -> None:
    script = write_script(tmp_path / "typo.py", ["tinyalphx"])
    bad = envlens("install", "--trust", str(script))
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        f"envlens: error: {script}:2: No version of 'tinyalphx' is available on the package index. "
        "Check the spelling in typo.py."
    )
    old = write_script(tmp_path / "old.py", ["tinyalpha"], requires_python=">=3.99")
    py = envlens("install", "--trust", str(old))
    assert py.returncode == 1
    assert (
        "no Python on this machine satisfies the declared version (requires-python '>=3.99'"
        in py.stderr
    )
    missing = envlens("install", "--trust", str(tmp_path / "nope.py"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert envlens("envs", "list").stderr.strip() == "no environments built yet"
