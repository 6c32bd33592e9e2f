"""Interpreter discovery and choice, and which uv is run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from packaging.version import Version

from envlens.envs import interpreters
from envlens.envs.interpreters import Interpreter, choose, discover
from envlens.envs.uv import find_uv
from envlens.errors import PythonNotFoundError, UvNotFoundError
from envlens.settings import Settings


def fake(*versions: str) -> list[Interpreter]:
    return [Interpreter(Version(v), Path(f"/opt/py{v}/bin/python3")) for v in versions]


def test_discovery_finds_real_interpreters_once_each() -> None:
    found = discover(find_uv())
    assert found, "this machine has Pythons"
    reals = [os.path.realpath(i.path) for i in found]
    assert len(reals) == len(set(reals))  # deduplicated by real path
    assert all(i.path.parent.name != "shims" for i in found)  # pyenv shims are skipped
    assert all(i.version.major == 3 for i in found)
    assert [i.version for i in found] == sorted((i.version for i in found), reverse=True)
    assert all(i.path.exists() for i in found)
    assert discover(find_uv()) == found  # cached for the process


def test_pyenv_versions_are_read_from_pyenv_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = discover(find_uv())[0]
    (tmp_path / "versions" / "3.99.1" / "bin").mkdir(parents=True)
    (tmp_path / "versions" / "3.99.1" / "bin" / "python3").symlink_to(real.path)  # same binary
    (tmp_path / "versions" / "3.98.0" / "bin").mkdir(parents=True)
    (tmp_path / "versions" / "3.98.0" / "bin" / "python3").write_text("")  # another one
    (tmp_path / "versions" / "miniconda3-latest").mkdir()
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    interpreters.clear_cache()
    try:
        found = discover(find_uv())
        versions = [str(i.version) for i in found]
        assert "3.98.0" in versions
        # Same real interpreter as one already known: listed once (under the pyenv path, found first).
        assert "3.99.1" in versions and str(real.version) not in versions
    finally:
        interpreters.clear_cache()


def test_choose_newest_satisfying() -> None:
    pythons = fake("3.13.0", "3.12.1", "3.11.7", "3.10.13")
    assert str(choose(None, pythons).version) == "3.13.0"
    assert str(choose(">=3.10,<3.13", pythons).version) == "3.12.1"
    assert str(choose("==3.11.*", pythons).version) == "3.11.7"
    assert str(choose(None, pythons, default_version="3.11").version) == "3.11.7"
    # The default version yields to requires-python.
    assert str(choose(">=3.12", pythons, default_version="3.11").version) == "3.13.0"


def test_none_satisfies_names_the_declaration_and_what_exists() -> None:
    pythons = fake("3.13.0", "3.12.1")
    with pytest.raises(PythonNotFoundError) as exc:
        choose(
            "==3.9.*", pythons, where="analysis.ipynb", path=Path("analysis.ipynb"), cell=1, line=2
        )
    err = exc.value
    assert err.message == (
        "no Python on this machine satisfies the declared version (requires-python '==3.9.*' in "
        "analysis.ipynb); available: 3.13.0, 3.12.1"
    )
    assert err.available == ["3.13.0", "3.12.1"]
    assert err.location() == "analysis.ipynb, cell 1, line 2"
    assert "requires-python" in (err.hint or "") and "install" in (err.hint or "")


def test_uv_binary_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVLENS_UV", raising=False)
    bundled = find_uv()
    assert bundled.name.startswith("uv") and bundled.exists()
    other = tmp_path / "my-uv"
    other.symlink_to(bundled)
    monkeypatch.setenv("ENVLENS_UV", str(other))
    assert find_uv() == other
    assert find_uv(Settings(uv_path=str(bundled))) == bundled  # the setting beats the env var
    with pytest.raises(UvNotFoundError) as exc:
        find_uv(Settings(uv_path=str(tmp_path / "missing-uv")))
    assert "envlens.uvPath" in exc.value.message and "envlens.uvPath" in (exc.value.hint or "")
    monkeypatch.setenv("ENVLENS_UV", str(tmp_path / "missing-uv"))
    with pytest.raises(UvNotFoundError) as exc:
        find_uv()
    assert "ENVLENS_UV" in exc.value.message
