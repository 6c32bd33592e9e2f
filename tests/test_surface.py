"""Messages name the user's surface: CLI commands on the command line, editor actions in the editor
(issue 12, item 9). One mechanism (`envlens.surface`), not two copies of each message."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from envlens import surface
from envlens.errors import LockError, UntrustedError
from envlens.locking.read import parse_lock
from envlens.resolve import resolve
from envlens.trust import require_trusted

EDITOR_WORDS = ("Lock Versions", "Show Logs", "Install Script Dependencies", "Trust This File")


@pytest.fixture
def editor() -> Iterator[None]:
    surface.use("editor")
    try:
        yield
    finally:
        surface.use("cli")


def test_a_corrupt_lock_says_envlens_lock_on_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(LockError) as err:
        parse_lock("version = [", path=tmp_path / "s.py.lock")
    hint = err.value.hint or ""
    assert f"run `envlens lock {tmp_path / 's.py.lock'}` again" in hint
    assert not any(w in hint for w in EDITOR_WORDS)


def test_the_same_message_names_the_editor_action_in_the_editor(
    tmp_path: Path, editor: None
) -> None:
    with pytest.raises(LockError) as err:
        parse_lock("version = [", path=tmp_path / "s.py.lock")
    assert "run Lock Versions again" in (err.value.hint or "")
    assert "envlens lock" not in (err.value.hint or "")


def test_approval_hints_by_surface(tmp_path: Path, write_script: object) -> None:
    (tmp_path / ".git").mkdir()
    path = tmp_path / "s.py"
    path.write_text('# /// script\n# dependencies = ["numpy"]\n# ///\nimport numpy\n')
    env = {"ENVLENS_CONFIG_DIR": str(tmp_path / "cfg")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with pytest.raises(UntrustedError) as cli:
            require_trusted(resolve(path))
        surface.use("editor")
        try:
            with pytest.raises(UntrustedError) as ed:
                require_trusted(resolve(path))
        finally:
            surface.use("cli")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert f"`envlens trust {path}`" in (cli.value.hint or "") and "--trust" in (
        cli.value.hint or ""
    )
    assert "Trust This File's Dependencies" in (ed.value.hint or "")
    assert "--trust" not in (ed.value.hint or "") and "envlens trust" not in (ed.value.hint or "")


def test_no_editor_words_in_what_the_cli_prints(tmp_path: Path) -> None:
    """A failing build through the CLI: the log is reached with -v, not "Show Logs"."""
    script = tmp_path / "s.py"
    (tmp_path / ".git").mkdir()
    script.write_text('# /// script\n# dependencies = ["tinyalphx-no-such"]\n# ///\nprint(1)\n')
    env = {
        **os.environ,
        "ENVLENS_CONFIG_DIR": str(tmp_path / "cfg"),
        "ENVLENS_CACHE_DIR": str(tmp_path / "cache"),
        "UV_OFFLINE": "1",
        "ENVLENS_TRUST": "1",
    }
    r = subprocess.run(
        [sys.executable, "-m", "envlens", "install", str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode != 0
    assert not any(w in r.stderr for w in EDITOR_WORDS), r.stderr
