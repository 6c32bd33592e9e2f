"""Lock Versions with real uv and the tiny local index: pins, uv's lock, drift, --upgrade, frozen builds."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from envlens.environment import ensure_environment
from envlens.envs.inventory import installed
from envlens.envs.uv import find_uv
from envlens.errors import BadInputError, LockError
from envlens.locking.drift import drift, lock_state, require_fresh_lock
from envlens.locking.export import uv_export
from envlens.locking.read import parse_lock
from envlens.locking.versions import _pin_map, _released, lock_file
from envlens.resolve import resolve
from envlens.sources.lockfile import NOTEBOOK_LOCK_KEY

pytestmark = pytest.mark.slow


def versions_in(env: Path) -> dict[str, str]:
    return {d.name.lower(): d.version for d in installed(env)}


def notebook_with_block(path: Path, deps: list[str], *, indent: int = 1) -> Path:
    block = "# /// script\n# dependencies = [" + ", ".join(f'"{d}"' for d in deps) + "]\n# ///"
    nb: dict[str, Any] = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "meta",
                "metadata": {},
                "outputs": [],
                "source": block.splitlines(keepends=True),
            },
            {"cell_type": "markdown", "id": "md", "metadata": {}, "source": ["# Title ü\n"]},
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "c2",
                "metadata": {},
                "outputs": [],
                "source": ["import tinyalpha\n", "print(tinyalpha.__version__)"],
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def own_index(
    offline_index: Path,
    wheelhouse: Path,
    tiny_index: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """An index folder with tinyalpha 1.0 but not 2.0 yet (a test adds it), and tinybeta."""
    folder = tmp_path / "index"
    folder.mkdir()
    for wheel in ("tinyalpha-1.0-py3-none-any.whl", "tinybeta-1.0-py3-none-any.whl"):
        shutil.copy(tiny_index / wheel, folder)
    monkeypatch.setenv("UV_FIND_LINKS", f"{wheelhouse},{folder}")
    return folder


# --- unit: pins keep what was written -----------------------------------------------------------


def test_pins_keep_extras_and_markers_as_written() -> None:
    reqs = ("Tiny_Alpha[fast,Extra]>=1 ; python_version>='3.8'", "tinybeta", "x @ https://e/x.whl")
    pins = _pin_map(reqs, {"tiny-alpha": "2.0", "tinybeta": "1.0", "x": "1"})
    assert pins == {
        "Tiny_Alpha[fast,Extra]>=1 ; python_version>='3.8'": "Tiny_Alpha[fast,Extra]==2.0 ; python_version>='3.8'",
        "tinybeta": "tinybeta==1.0",
    }
    assert _released(("tinyalpha==1.0", "b>=2", "c==1.*")) == {"tinyalpha==1.0": "tinyalpha>=1.0"}


# --- scripts -----------------------------------------------------------------------------------


def test_lock_script_pins_and_uv_run_locked_accepts_it(
    offline_index: Path, tmp_path: Path, write_script
) -> None:
    script = write_script(
        tmp_path / "a.py",
        ["tinybeta", "tiny-gamma>=0.1"],
        body="import tinyalpha\nprint(tinyalpha.__version__)\n",
    )
    result = lock_file(script)
    text = script.read_text()
    assert '"tinybeta==1.0", "tiny-gamma==0.1"' in text
    assert text.endswith("# %%\nimport tinyalpha\nprint(tinyalpha.__version__)\n")
    lock = tmp_path / "a.py.lock"
    assert lock.exists() and result.lock_path == lock
    assert oct(lock.stat().st_mode & 0o777) == oct(script.stat().st_mode & 0o666)
    assert result.versions == {"tinyalpha": "2.0", "tinybeta": "1.0", "tiny-gamma": "0.1"}
    assert lock_state(resolve(script)) == "fresh"
    # No temporary files are left beside the script.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "a.py.lock"]

    uv = str(find_uv())
    subprocess.run(
        [uv, "lock", "--script", str(script), "--check", "--offline"],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [uv, "run", "--locked", "--offline", str(script)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "2.0"

    # Locking again changes nothing.
    again = lock_file(script)
    assert not again.lock_changed and not again.file_changed
    assert lock.read_text() == result.lock_text


def test_drift_is_detected_and_run_locked_refuses(
    offline_index: Path, tmp_path: Path, write_script
) -> None:
    script = write_script(tmp_path / "a.py", ["tinyalpha"])
    lock_file(script)
    assert lock_state(resolve(script)) == "fresh"

    # The same requirement written differently (marker spelling, spaces) is still fresh.
    script.write_text(
        script.read_text().replace(
            '"tinyalpha==2.0"', "\"tinyalpha == 2.0; python_version >= '3'\""
        )
    )
    lock_file(script)
    script.write_text(script.read_text().replace("python_version >= '3'", "python_version>='3'"))
    assert lock_state(resolve(script)) == "fresh"

    script.write_text(
        script.read_text().replace("# dependencies = [", '# dependencies = ["tinyimg", ')
    )
    res = resolve(script)
    d = drift(res)
    assert d.state == "stale"
    assert d.reasons == ("tinyimg is declared but not in the lock",)
    with pytest.raises(LockError) as err:
        require_fresh_lock(res)
    assert "out of date: tinyimg is declared but not in the lock" in err.value.one_line()
    assert "envlens lock a.py" in err.value.one_line()
    # uv agrees.
    check = subprocess.run(
        [str(find_uv()), "lock", "--script", str(script), "--check", "--offline"],
        capture_output=True,
    )
    assert check.returncode != 0

    lock_file(script)
    assert lock_state(resolve(script)) == "fresh"


def test_upgrade_moves_to_the_newest_allowed(
    own_index: Path, tiny_index: Path, tmp_path: Path, write_script
) -> None:
    script = write_script(tmp_path / "a.py", ["tinyalpha"])
    assert lock_file(script).versions == {"tinyalpha": "1.0"}
    assert '"tinyalpha==1.0"' in script.read_text()

    shutil.copy(tiny_index / "tinyalpha-2.0-py3-none-any.whl", own_index)
    plain = lock_file(script)  # a lock keeps its versions while the declaration is unchanged
    assert plain.versions == {"tinyalpha": "1.0"} and not plain.lock_changed

    up = lock_file(script, upgrade=True)
    assert up.versions == {"tinyalpha": "2.0"}
    assert up.changes == {"tinyalpha": ("1.0", "2.0")}
    assert '"tinyalpha==2.0"' in script.read_text()
    assert lock_state(resolve(script)) == "fresh"


def test_pins_are_the_installed_versions(
    own_index: Path, tiny_index: Path, tmp_path: Path, write_script
) -> None:
    script = write_script(tmp_path / "a.py", ["tinyalpha"])
    info = ensure_environment(resolve(script))  # built while the index had 1.0 only
    shutil.copy(tiny_index / "tinyalpha-2.0-py3-none-any.whl", own_index)
    result = lock_file(script)
    assert versions_in(info.env_dir)["tinyalpha"] == "1.0"
    assert result.pins == {"tinyalpha": "tinyalpha==1.0"}
    assert result.versions == {"tinyalpha": "1.0"}


def test_exclude_newer_is_written_into_the_declaration(
    offline_index: Path, tmp_path: Path, write_script
) -> None:
    script = write_script(tmp_path / "a.py", [])
    lock_file(script, exclude_newer="2030-01-01")
    assert '# [tool.uv]\n# exclude-newer = "2030-01-01"\n' in script.read_text()
    lock = parse_lock((tmp_path / "a.py.lock").read_text())
    assert lock.exclude_newer == "2030-01-02T00:00:00Z"
    assert lock_state(resolve(script)) == "fresh"

    before = script.read_text()
    with pytest.raises(BadInputError, match="not a date"):
        lock_file(script, exclude_newer="last tuesday")
    assert script.read_text() == before


def test_frozen_rebuild_gives_the_locked_versions(
    own_index: Path, tiny_index: Path, tmp_path: Path, write_script
) -> None:
    script = write_script(tmp_path / "a.py", ["tinybeta"])
    first = lock_file(script)
    assert first.versions == {"tinyalpha": "1.0", "tinybeta": "1.0"}
    # A newer tinyalpha appears; tinyalpha is not declared, so only the lock holds it at 1.0.
    shutil.copy(tiny_index / "tinyalpha-2.0-py3-none-any.whl", own_index)
    req = uv_export(resolve(script), hashes=False)
    # Local wheels carry no hashes in uv's lock; PyPI's do (tests/test_export.py checks those).
    assert req.splitlines()[0] == "tinyalpha==1.0"
    res = resolve(script)
    assert res.spec.lock_hash is not None
    env = ensure_environment(res).env_dir
    got = versions_in(env)
    assert got["tinyalpha"] == "1.0" and got["tinybeta"] == "1.0" and "ipykernel" in got

    # The same lock elsewhere (another folder, another cache) gives the same environment.
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(script, other / "a.py")
    shutil.copy(tmp_path / "a.py.lock", other / "a.py.lock")
    assert resolve(other / "a.py").key == res.key

    # Without the lock, the declaration resolves to the newest tinyalpha: the lock was what held it.
    (other / "a.py.lock").unlink()
    plain = ensure_environment(resolve(other / "a.py")).env_dir
    assert versions_in(plain)["tinyalpha"] == "2.0"


# --- notebooks ---------------------------------------------------------------------------------


def test_lock_notebook_as_juv_does(offline_index: Path, tmp_path: Path) -> None:
    nb_path = notebook_with_block(tmp_path / "n.ipynb", ["tinyalpha"])
    before = json.loads(nb_path.read_text())
    result = lock_file(nb_path)
    after_text = nb_path.read_text()
    after = json.loads(after_text)
    assert after_text.startswith('{\n "cells": [\n  {\n')  # the notebook's own indentation
    assert "# Title ü" in after_text  # no ASCII escaping added
    assert after["cells"][1:] == before["cells"][1:]
    assert "".join(after["cells"][0]["source"]) == (
        '# /// script\n# dependencies = ["tinyalpha==2.0"]\n# ///'
    )
    lock_text = after["metadata"][NOTEBOOK_LOCK_KEY]
    assert lock_text == result.lock_text
    assert '{ name = "tinyalpha", specifier = "==2.0" }' in lock_text
    assert after["metadata"]["kernelspec"] == before["metadata"]["kernelspec"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.ipynb"]
    assert lock_state(resolve(nb_path)) == "fresh"


# --- bad input ---------------------------------------------------------------------------------


def test_corrupt_lock_is_a_clear_error_and_nothing_is_written(
    offline_index: Path, tmp_path: Path, write_script
) -> None:
    script = write_script(tmp_path / "a.py", ["tinyalpha"])
    lock = tmp_path / "a.py.lock"
    lock.write_text('version = 1\nrequires-python = ">=3.10"\n[[package]\nname = "x"\n')
    before = script.read_text()
    with pytest.raises(LockError) as err:
        lock_file(script)
    line = err.value.one_line()
    assert line.startswith(f"{lock}:3: a.py.lock is not valid TOML")
    assert "Delete the lock" in line
    assert script.read_text() == before
    assert lock.read_text().startswith("version = 1\n")
    assert lock_state(resolve(script)) == "stale"
    with pytest.raises(LockError):
        require_fresh_lock(resolve(script))


def test_lock_for_another_declaration_is_refused(
    offline_index: Path, tmp_path: Path, write_script
) -> None:
    other = write_script(tmp_path / "other.py", ["tinyimg"])
    lock_file(other)
    script = write_script(tmp_path / "a.py", ["tinyalpha"])
    shutil.copy(tmp_path / "other.py.lock", tmp_path / "a.py.lock")
    res = resolve(script)
    d = drift(res)
    assert d.state == "stale"
    assert set(d.reasons) == {
        "tinyalpha is declared but not in the lock",
        "tinyimg is in the lock but no longer declared",
    }
    with pytest.raises(LockError, match="out of date"):
        require_fresh_lock(res)
    with pytest.raises(LockError, match="out of date"):
        require_fresh_lock(res)
    # Building still works, from the declaration (the editor shows "Lock is out of date").
    env = ensure_environment(res).env_dir
    assert "tinyalpha" in versions_in(env) and "tinyimg" not in versions_in(env)


def test_nothing_declared_cannot_be_locked(isolated_cache: Path, tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text("print(1)\n")
    with pytest.raises(BadInputError, match="nothing is declared"):
        lock_file(script)
    assert script.read_text() == "print(1)\n"
    assert not (tmp_path / "plain.py.lock").exists()
