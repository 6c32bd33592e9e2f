"""`envlens trust` and the gates of `envlens install` / `envlens run`, as a user runs them."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from envlens import trust
from envlens.resolve import resolve

ENVLENS = [sys.executable, "-m", "envlens"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["ENVLENS_CONFIG_DIR"] = str(tmp_path / "config")
    e["ENVLENS_CACHE_DIR"] = str(tmp_path / "cache")
    e.pop("ENVLENS_TRUST", None)
    return e


def envlens(
    *args: str, env: dict[str, str], stdin: Any = subprocess.DEVNULL
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENVLENS, *args], env=env, stdin=stdin, capture_output=True, text=True, timeout=300
    )


def notebook(folder: Path, deps: list[str], name: str = "nb.ipynb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".git").mkdir(exist_ok=True)
    cells: list[dict[str, Any]] = []
    if deps:
        block = "# /// script\n# dependencies = [\n"
        block += "".join(f'#     "{d}",\n' for d in deps) + "# ]\n# ///"
        cells.append(
            {"cell_type": "code", "execution_count": None, "id": "decl", "metadata": {},
             "outputs": [], "source": block.splitlines(keepends=True)}
        )  # fmt: skip
    cells.append(
        {"cell_type": "code", "execution_count": None, "id": "work", "metadata": {},
         "outputs": [], "source": ["print(6 * 7)"]}
    )  # fmt: skip
    data = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    p = folder / name
    p.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return p


def test_trust_without_tty_refuses_and_changes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    p = notebook(tmp_path / "w", ["reqeusts", "numpy>=2"])
    before = p.read_bytes()
    r = envlens("trust", str(p), env=env)
    assert r.returncode == 3
    assert (
        "reqeusts" in r.stderr and "looks like a typo of the popular package 'requests'" in r.stderr
    )
    assert "numpy>=2" in r.stderr and "new to you" in r.stderr
    assert f"envlens trust {p} --yes" in r.stderr
    assert p.read_bytes() == before
    assert not (tmp_path / "config" / "trusted.json").exists()


def test_trust_yes_signs_and_check_reports(tmp_path: Path, env: dict[str, str]) -> None:
    p = notebook(tmp_path / "w", ["numpy>=2"])
    assert envlens("trust", "--check", str(p), env=env).returncode == 3
    r = envlens("trust", "--yes", str(p), env=env)
    assert r.returncode == 0, r.stderr
    assert "Approved (signed the notebook)" in r.stderr
    assert json.loads(p.read_text())["metadata"]["envlens"]["trust"].startswith("hmac-sha256:")
    r = envlens("trust", "--check", str(p), env=env)
    assert r.returncode == 0 and "signed on this machine" in r.stderr


def _answer_on_tty(args: list[str], answer: str, env: dict[str, str]) -> tuple[int, str]:
    """Run envlens with a pseudo-terminal as stdin and stdout, type `answer` at the prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*ENVLENS, *args], env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True
    )
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        if not answered and b"[y/N]" in out:
            os.write(master, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    code = proc.wait(timeout=30)
    os.close(master)
    return code, out.decode(errors="replace")


def test_trust_on_tty_asks(tmp_path: Path, env: dict[str, str]) -> None:
    p = notebook(tmp_path / "w", ["pandsa"])
    code, out = _answer_on_tty(["trust", str(p)], "n", env)
    assert code == 3 and "Not approved" in out
    assert "looks like a typo of the popular package 'pandas'" in out
    assert "trust" not in json.loads(p.read_text())["metadata"].get("envlens", {})
    code, out = _answer_on_tty(["trust", str(p)], "y", env)
    assert code == 0 and "Approved" in out, out
    env_before = os.environ.get("ENVLENS_CONFIG_DIR")
    os.environ["ENVLENS_CONFIG_DIR"] = env["ENVLENS_CONFIG_DIR"]
    try:
        assert trust.trust_state(resolve(p)).trusted
    finally:
        if env_before is None:
            del os.environ["ENVLENS_CONFIG_DIR"]
        else:
            os.environ["ENVLENS_CONFIG_DIR"] = env_before


def test_trust_nothing_declared(tmp_path: Path, env: dict[str, str]) -> None:
    p = notebook(tmp_path / "w", [])
    r = envlens("trust", str(p), env=env)
    assert r.returncode == 0 and "nothing declared" in r.stderr


def test_trust_bad_file_names_it(tmp_path: Path, env: dict[str, str]) -> None:
    p = tmp_path / "broken.ipynb"
    p.write_text("{not json", encoding="utf-8")
    r = envlens("trust", str(p), env=env)
    assert r.returncode == 2
    assert str(p) in r.stderr and "not valid JSON" in r.stderr
    assert p.read_text() == "{not json"


def test_wrong_key_permissions_stop_the_cli(tmp_path: Path, env: dict[str, str]) -> None:
    p = notebook(tmp_path / "w", ["numpy"])
    assert envlens("trust", "--yes", str(p), env=env).returncode == 0
    key = tmp_path / "config" / "trust.key"
    key.chmod(0o644)
    r = envlens("trust", "--check", str(p), env=env)
    assert r.returncode == 1
    assert f"chmod 600 {key}" in r.stderr


# --- the gates: `envlens install` and `envlens run` ---


@pytest.fixture
def offline_env(offline_index: Path) -> dict[str, str]:
    """The offline index (tiny wheels, ipykernel wheelhouse) and fresh cache/config, for children."""
    e = dict(os.environ)
    e.pop("ENVLENS_TRUST", None)
    return e


def built_envs(cache: Path) -> list[str]:
    envs = cache / "envs"
    if not envs.exists():
        return []
    return sorted(p.name for p in envs.iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("command", ["install", "run"])
def test_untrusted_file_is_refused_and_nothing_installed(
    tmp_path: Path, offline_index: Path, offline_env: dict[str, str], command: str
) -> None:
    p = notebook(tmp_path / "w", ["tinyalpha"])
    before = p.read_bytes()
    r = envlens(command, str(p), env=offline_env)
    assert r.returncode == 3, r.stderr
    assert "not approved" in r.stderr and "tinyalpha" in r.stderr
    assert (
        f"envlens trust {p}" in r.stderr and "--trust" in r.stderr and "ENVLENS_TRUST=1" in r.stderr
    )
    assert built_envs(offline_index) == []
    assert p.read_bytes() == before
    assert not (tmp_path / "w" / "nb.out.ipynb").exists()


def test_install_with_trust_flag_proceeds(
    tmp_path: Path, offline_index: Path, offline_env: dict[str, str]
) -> None:
    p = notebook(tmp_path / "w", ["tinyalpha"])
    r = envlens("install", "--trust", str(p), env=offline_env)
    assert r.returncode == 0, r.stderr
    assert len(built_envs(offline_index)) == 1
    # --trust is for this run only: the file is still not approved.
    assert envlens("trust", "--check", str(p), env=offline_env).returncode == 3


def test_run_with_env_variable_then_approved(
    tmp_path: Path, offline_index: Path, offline_env: dict[str, str]
) -> None:
    p = notebook(tmp_path / "w", ["tinyalpha"])
    r = envlens("run", str(p), env={**offline_env, "ENVLENS_TRUST": "1"})
    assert r.returncode == 0, r.stderr
    out = json.loads((tmp_path / "w" / "nb.out.ipynb").read_text())
    assert out["cells"][1]["outputs"][0]["text"] == "42\n"
    # After `envlens trust --yes`, a plain run proceeds; a changed declaration is refused again.
    assert envlens("trust", "--yes", str(p), env=offline_env).returncode == 0
    assert envlens("install", str(p), env=offline_env).returncode == 0
    data = json.loads(p.read_text())
    data["cells"][0]["source"] = [
        s.replace("tinyalpha", "tinybeta") for s in data["cells"][0]["source"]
    ]
    p.write_text(json.dumps(data, indent=1) + "\n")
    r = envlens("install", str(p), env=offline_env)
    assert r.returncode == 3 and "tinybeta" in r.stderr


def test_nothing_declared_runs_without_approval(
    tmp_path: Path, offline_index: Path, offline_env: dict[str, str]
) -> None:
    p = notebook(tmp_path / "w", [])
    r = envlens("run", str(p), env=offline_env)
    assert r.returncode == 0, r.stderr


def test_envlens_add_and_remove_keep_a_trusted_notebook_trusted(
    tmp_path: Path, env: dict[str, str]
) -> None:
    p = notebook(tmp_path / "w", ["numpy"])
    assert envlens("trust", "--yes", str(p), env=env).returncode == 0
    assert envlens("add", str(p), "scipy", env=env).returncode == 0
    r = envlens("trust", "--check", str(p), env=env)
    assert r.returncode == 0, r.stderr
    assert "scipy" in r.stderr
    assert envlens("remove", str(p), "numpy", env=env).returncode == 0
    assert envlens("trust", "--check", str(p), env=env).returncode == 0
    # A foreign notebook stays unapproved when envlens edits it.
    q = notebook(tmp_path / "x", ["numpy"])
    assert envlens("add", str(q), "scipy", env=env).returncode == 0
    assert envlens("trust", "--check", str(q), env=env).returncode == 3


def test_locking_a_trusted_script_keeps_it_trusted(
    offline_index: Path, tmp_path: Path, write_script: Any
) -> None:
    envlens = str(Path(sys.executable).parent / "envlens")
    script = write_script(tmp_path / "t.py", ["tinyalpha"])
    env = {k: v for k, v in os.environ.items() if k != "ENVLENS_TRUST"}
    run = lambda *a: subprocess.run([envlens, *a], env=env, capture_output=True, text=True)  # noqa: E731
    assert run("trust", "--yes", str(script)).returncode == 0
    assert run("lock", str(script)).returncode == 0
    assert (tmp_path / "t.py.lock").is_file()
    assert run("trust", "--check", str(script)).returncode == 0
    # A lock swapped behind envlens's back is not trusted.
    (tmp_path / "t.py.lock").write_text((tmp_path / "t.py.lock").read_text() + "\n# edited\n")
    assert run("trust", "--check", str(script)).returncode == 3


def test_lock_and_check_refuse_an_unapproved_file(
    offline_index: Path, tmp_path: Path, write_script: Any
) -> None:
    envlens = str(Path(sys.executable).parent / "envlens")
    script = write_script(tmp_path / "u.py", ["tinyalpha"])
    before = script.read_text()
    env = {k: v for k, v in os.environ.items() if k != "ENVLENS_TRUST"}
    for command in (["lock"], ["check", "--platform", "linux-x86_64"]):
        r = subprocess.run(
            [envlens, *command, str(script)], env=env, capture_output=True, text=True
        )
        assert r.returncode == 3, r.stderr
        assert f"envlens trust {script}" in r.stderr or "envlens trust" in r.stderr
    assert script.read_text() == before
    assert not (tmp_path / "u.py.lock").exists()
