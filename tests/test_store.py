"""The environment store with real uv, from the tiny offline index: build, reuse, errors, inventory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from envlens import paths
from envlens.environment import ensure_environment
from envlens.envs.interpreters import discover
from envlens.envs.inventory import installed, packages_distributions, python_version
from envlens.envs.store import list_environments, remove_environment
from envlens.envs.uv import find_uv
from envlens.envs.uv_backend import wait_for_bytecode
from envlens.errors import BadInputError, PythonNotFoundError, ResolutionError
from envlens.paths import site_packages_dirs
from envlens.resolve import resolve

pytestmark = pytest.mark.slow


def run_in(env_python: Path, code: str) -> str:
    return subprocess.run(
        [str(env_python), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def leftovers(cache: Path) -> list[str]:
    envs = cache / "envs"
    return sorted(p.name for p in envs.iterdir() if p.name != ".locks") if envs.exists() else []


def test_build_then_reuse_without_calling_uv(
    offline_index: Path, tmp_path: Path, write_script, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = write_script(tmp_path / "analysis.py", ["tinybeta", "tiny-gamma", "tinyimg"])
    res = resolve(script)
    lines: list[str] = []
    info = ensure_environment(res, progress=lines.append)
    assert not info.reused
    assert info.env_dir == paths.env_dir(res.key) == res.env_dir
    assert res.built
    assert info.python_version == str(discover(find_uv())[0].version)  # the newest here
    assert (
        run_in(
            info.python,
            "import tinybeta, tinyalpha, tiny_gamma, timg, ipykernel; "
            "print(tinyalpha.__version__, timg.__version__)",
        )
        == "2.0 1.0"
    )
    assert lines[0].startswith("Creating Python 3.")
    assert any(line.startswith("Installing 3 packages and ipykernel") for line in lines)

    ready = paths.ready_file(info.env_dir)
    record = json.loads(ready.read_text())
    assert record["key"] == res.key
    assert record["spec"] == json.loads(res.spec.canonical_json())
    assert record["python_version"] == info.python_version
    mtime = ready.stat().st_mtime_ns

    # A cache hit never runs uv: with no uv at all it still succeeds.
    monkeypatch.setenv("ENVLENS_UV", "/nonexistent/uv")
    again = ensure_environment(resolve(script))
    assert again.reused and again.env_dir == info.env_dir
    assert again.seconds < info.seconds
    assert ready.stat().st_mtime_ns == mtime
    assert leftovers(offline_index) == [res.key]


def test_pins_give_their_own_environment(offline_index: Path, tmp_path: Path, write_script) -> None:
    old = ensure_environment(resolve(write_script(tmp_path / "old.py", ["tinyalpha==1.0"])))
    new = ensure_environment(resolve(write_script(tmp_path / "new.py", ["tinyalpha"])))
    assert old.key != new.key
    assert run_in(old.python, "import tinyalpha; print(tinyalpha.__version__)") == "1.0"
    assert run_in(new.python, "import tinyalpha; print(tinyalpha.__version__)") == "2.0"
    assert {r.key for r in list_environments()} == {old.key, new.key}


def test_unknown_package_names_it_and_leaves_nothing(
    offline_index: Path, tmp_path: Path, write_script
) -> None:
    script = write_script(
        tmp_path / "typo.py", ["tinyalpha", "tinyalphx"], requires_python=">=3.10"
    )
    with pytest.raises(ResolutionError) as exc:
        ensure_environment(resolve(script))
    err = exc.value
    assert "'tinyalphx'" in err.message
    assert err.path == script and err.line == 3  # the dependencies line of the block
    assert "Check the spelling in typo.py" in (err.hint or "")
    assert "tinyalphx" in (err.log or "")  # uv's own output, for Show Logs
    assert leftovers(offline_index) == []


def test_no_matching_version_names_the_dependency(
    offline_index: Path, tmp_path: Path, write_script
) -> None:
    script = write_script(tmp_path / "new.py", ["tinyalpha>=3"])
    with pytest.raises(ResolutionError) as exc:
        ensure_environment(resolve(script))
    assert "tinyalpha" in exc.value.message and ">=3" in exc.value.message
    assert "new.py" in (exc.value.hint or "")
    assert leftovers(offline_index) == []


def test_conflicting_requirements(offline_index: Path, tmp_path: Path, write_script) -> None:
    script = write_script(tmp_path / "c.py", ["tinybeta", "tinyalpha<1"])
    with pytest.raises(ResolutionError) as exc:
        ensure_environment(resolve(script))
    assert "tinyalpha" in exc.value.message
    assert leftovers(offline_index) == []


@pytest.mark.parametrize("requires", [">=3.99", "==3.4.*"])
def test_missing_python_lists_available_versions(
    offline_index: Path, tmp_path: Path, write_script, requires: str
) -> None:
    script = write_script(tmp_path / "old.py", ["tinyalpha"], requires_python=requires)
    with pytest.raises(PythonNotFoundError) as exc:
        ensure_environment(resolve(script))
    err = exc.value
    available = [str(i.version) for i in discover(find_uv())]
    assert err.available == available and available
    assert requires in err.message and "old.py" in err.message
    for version in available:
        assert version in err.message
    assert err.path == script and err.line == 2  # the requires-python line
    assert "install" in (err.hint or "")
    assert leftovers(offline_index) == []


def test_bytecode_is_compiled_after_the_environment_is_usable(
    offline_index: Path, tmp_path: Path, write_script
) -> None:
    info = ensure_environment(resolve(write_script(tmp_path / "b.py", ["tinyalpha"])))
    assert wait_for_bytecode(info.env_dir)
    (sp,) = site_packages_dirs(info.env_dir)
    assert list((sp / "ipykernel" / "__pycache__").glob("kernelapp.*.pyc"))
    assert list((sp / "__pycache__").glob("tinyalpha.*.pyc"))


def test_inventory(offline_index: Path, tmp_path: Path, write_script) -> None:
    info = ensure_environment(resolve(write_script(tmp_path / "i.py", ["tiny-gamma", "tinyimg"])))
    dists = {d.name: d.version for d in installed(info.env_dir)}
    assert dists["tinyimg"] == "1.0" and dists["tiny-gamma"] == "0.1" and "ipykernel" in dists
    names = [d.name.lower() for d in installed(info.env_dir)]
    assert names == sorted(names, key=lambda n: n.replace("_", "-"))
    assert python_version(info.env_dir) == info.python_version
    mapping = packages_distributions(info.env_dir)
    assert mapping["timg"] == ["tinyimg"]
    assert mapping["tiny_gamma"] == ["tiny-gamma"]
    assert mapping["ipykernel"] == ["ipykernel"]


def test_remove_environment(offline_index: Path, tmp_path: Path, write_script) -> None:
    info = ensure_environment(resolve(write_script(tmp_path / "r.py", ["tinyalpha"])))
    assert remove_environment(info.key)
    assert not info.env_dir.exists() and list_environments() == []
    assert not remove_environment(info.key)
    with pytest.raises(BadInputError):
        remove_environment("../etc")


def test_error_in_a_notebook_names_the_cell_and_line(offline_index: Path, tmp_path: Path) -> None:
    nb = tmp_path / "analysis.ipynb"
    block = '# /// script\n# requires-python = ">=3.10"\n# dependencies = ["tinyalphx"]\n# ///\n'
    nb.write_text(
        json.dumps(
            {
                "cells": [
                    {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
                    {
                        "cell_type": "code",
                        "metadata": {},
                        "execution_count": None,
                        "outputs": [],
                        "source": block,
                    },
                ],
                "metadata": {
                    "kernelspec": {
                        "name": "python3",
                        "display_name": "Python 3",
                        "language": "python",
                    }
                },
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    with pytest.raises(ResolutionError) as exc:
        ensure_environment(resolve(nb))
    assert exc.value.location() == f"{nb}, cell 2, line 3"
    assert "Check the spelling in analysis.ipynb" in exc.value.one_line()
