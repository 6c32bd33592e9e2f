"""Versions of a file's environment, as a user walks them on the command line: add, add, an add
that fails, revert to the first. History lists each version with its status and what changed, the
failed build keeps its log, and the revert builds nothing (its key is version 1's)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from envlens.envs import history, jobs

pytestmark = pytest.mark.slow


def envlens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args], capture_output=True, text=True, timeout=300
    )


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    proc = envlens(*args)
    assert proc.returncode == 0, proc.stderr
    return proc


def built_envs(cache: Path) -> set[str]:
    envs = cache / "envs"
    return {p.name for p in envs.iterdir() if (p / "ready").exists()} if envs.exists() else set()


def walk_versions(path: Path, cache: Path) -> tuple[str, dict[str, object], str]:
    """add, add, a failing add, revert to 1; returns (the file after version 1, history JSON,
    the file at the end)."""
    ok("add", str(path), "tinyalpha")
    ok("trust", "--yes", str(path))
    ok("install", str(path))  # version 1
    after_v1 = path.read_text(encoding="utf-8")
    ok("add", "--sync", str(path), "tinybeta")  # version 2 (approval kept: envlens's own edit)
    # A name PyPI does not have is added as written (--yes) and not approved along with it:
    # the user looks, approves, installs, and the build fails (version 3).
    # Without a terminal to ask on, nothing changes and the message names the command to type.
    text = path.read_text(encoding="utf-8")
    refused = envlens("add", str(path), "nosuchpkg")
    assert refused.returncode != 0
    typed = f"`envlens add --yes {shlex.quote(str(path))} nosuchpkg` to add nosuchpkg as written"
    assert typed in refused.stderr
    assert path.read_text(encoding="utf-8") == text
    held = ok("add", "--yes", str(path), "nosuchpkg")
    assert "Not approved: nosuchpkg needs a look first" in held.stderr
    ok("trust", "--yes", str(path))
    failing = envlens("install", str(path))  # version 3: fails to build
    assert failing.returncode == 1
    assert "No version of 'nosuchpkg' is available" in failing.stderr
    assert f"its last good version is 2 (`envlens revert {path} 2`" in failing.stderr

    before = built_envs(cache)
    reverted = ok("revert", "--json", str(path), "1")  # version 4
    result = json.loads(reverted.stdout)
    assert result["revertedTo"] == 1 and result["version"] == 4
    assert result["built"] is False  # its environment was still in the cache
    assert built_envs(cache) == before
    data = json.loads(ok("history", "--json", str(path)).stdout)
    return after_v1, data, path.read_text(encoding="utf-8")


def check_versions(path: Path, data: dict[str, object]) -> None:
    versions = data["versions"]
    assert isinstance(versions, list)
    assert [v["n"] for v in versions] == [1, 2, 3, 4]
    assert [v["status"] for v in versions] == ["ready", "ready", "failed", "ready"]
    assert [v["action"] for v in versions] == ["build", "build", "build", "revert"]
    assert data["inUse"] == 4
    v1, v2, v3, v4 = versions
    assert v4["key"] == v1["key"] and v4["reverted_from"] == 1
    assert v4["packages"] == v1["packages"] and v4["requirements"] == v1["requirements"]
    assert ["tinyalpha", "2.0"] in v1["packages"]
    c2 = v2["changes"]
    assert c2["declared"]["added"] == ["tinybeta"] and c2["packages"]["added"] == ["tinybeta 1.0"]
    c3 = v3["changes"]
    assert c3["declared"]["added"] == ["nosuchpkg"] and c3["packages"]["added"] == []
    assert "nosuchpkg" in v3["error"]
    c4 = v4["changes"]
    assert sorted(c4["declared"]["removed"]) == ["nosuchpkg", "tinybeta"]
    assert c4["packages"]["removed"] == ["tinybeta 1.0"]  # against version 2, the last built

    log3 = ok("history", str(path), "--log", "3").stdout
    assert "nosuchpkg" in log3 and "$ " in log3  # uv's own output, command lines and all
    log1 = ok("history", str(path), "--log", "1").stdout
    assert "Installing 1 package and ipykernel" in log1 and "ready in" in log1

    text = ok("history", str(path)).stdout
    lines = text.splitlines()
    assert lines[0] == f"{path}: 4 versions, newest last (* in use)"
    (v4_line,) = [line for line in lines if line.startswith("*  4 ")]  # the one in use
    assert "ready" in v4_line and "reverted to 1, nothing built" in v4_line
    assert "declared +tinybeta; packages +tinybeta 1.0" in text
    assert "failed" in text and f"log: envlens history {path} --log 3" in text

    kinds = [(j.kind, j.status) for j in jobs.list_jobs(path)]
    assert kinds == [
        ("add", "succeeded"),
        ("sync", "succeeded"),
        ("add", "succeeded"),
        ("add", "succeeded"),
        ("sync", "failed"),
        ("revert", "succeeded"),
    ]
    assert [j.version for j in jobs.list_jobs(path)] == [None, 1, 2, None, 3, 4]


def test_script_versions(offline_index: Path, approved_tiny_names: None, tmp_path: Path) -> None:
    script = tmp_path / "analysis.py"
    script.write_text("import sys\n\n# %%\nprint(sys.version)\n", encoding="utf-8")
    after_v1, data, end = walk_versions(script, offline_index)
    check_versions(script, data)
    assert end == after_v1  # byte for byte: the block version 1 had


def test_notebook_versions(offline_index: Path, approved_tiny_names: None, tmp_path: Path) -> None:
    nb = tmp_path / "analysis.ipynb"
    cell = {"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
            "outputs": [], "source": ["import sys\n", "print(sys.version)"]}  # fmt: skip
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    data = {"cells": [cell], "metadata": {"kernelspec": kernelspec}, "nbformat": 4,
            "nbformat_minor": 5}  # fmt: skip
    nb.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    after_v1, data, end = walk_versions(nb, offline_index)
    check_versions(nb, data)
    v1, end_nb = json.loads(after_v1), json.loads(end)
    assert end_nb["cells"] == v1["cells"]  # the declaration cell as version 1 had it
    # Still approved after the revert (envlens's own edit re-signs a trusted notebook).
    ok("trust", "--check", str(nb))
    assert end_nb["metadata"]["envlens"]["trust"].startswith("hmac-sha256:")


def test_revert_errors(offline_index: Path, tmp_path: Path, write_script) -> None:
    script = write_script(tmp_path / "s.py", ["tinyalpha"])
    none = envlens("revert", str(script), "1")
    assert none.returncode == 2 and "envlens has no history for this file yet" in none.stderr
    ok("install", "--trust", str(script))
    missing = envlens("revert", str(script), "7")
    assert missing.returncode == 2 and "there is no version 7 (versions 1 to 1)" in missing.stderr
    nolog = envlens("history", str(script), "--log", "9")
    assert nolog.returncode == 2 and "there is no version 9" in nolog.stderr


def test_history_keeps_the_lock(offline_index: Path, tmp_path: Path, write_script) -> None:
    """A version built from a lock comes back with its lock; a lock the version did not have goes
    (kept in the history's lock store, so the locked version can come back too)."""
    script = write_script(tmp_path / "locked.py", ["tinyalpha"], requires_python=">=3.10")
    ok("trust", "--yes", str(script))
    ok("install", str(script))  # 1: no lock
    ok("lock", str(script))
    lock = script.with_name("locked.py.lock")
    lock_text, locked_script = lock.read_text(), script.read_text()
    ok("install", str(script))  # 2: from the lock
    h = history.load(script)
    assert [v.lock_hash is not None for v in h.versions] == [False, True]
    ok("revert", str(script), "1")  # 3
    assert not lock.exists()
    ok("revert", str(script), "2")  # 4
    assert lock.read_text() == lock_text and script.read_text() == locked_script
    h = history.load(script)
    assert h.versions[3].key == h.versions[1].key
