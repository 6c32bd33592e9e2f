"""envlens convert: notebook <-> percent script keeps the declaration and the lock (still fresh)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from envlens.convert import convert
from envlens.errors import BadInputError
from envlens.locking.drift import lock_state
from envlens.locking.versions import lock_file
from envlens.resolve import resolve
from envlens.sources.lockfile import NOTEBOOK_LOCK_KEY
from test_lock import notebook_with_block

ENVLENS = [sys.executable, "-m", "envlens"]


def test_notebook_to_script_and_back(offline_index: Path, tmp_path: Path) -> None:
    nb = notebook_with_block(tmp_path / "n.ipynb", ["tinyalpha"])
    lock_file(nb)
    nb_resolution = resolve(nb)
    out = subprocess.run(
        [*ENVLENS, "convert", str(nb), "--to", "py"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    script = tmp_path / "n.py"
    assert script.read_text() == (
        '# /// script\n# dependencies = ["tinyalpha==2.0"]\n# ///\n\n'
        "# %% [markdown]\n# # Title ü\n\n"
        "# %%\nimport tinyalpha\nprint(tinyalpha.__version__)\n"
    )
    lock = tmp_path / "n.py.lock"
    assert lock.read_text() == json.loads(nb.read_text())["metadata"][NOTEBOOK_LOCK_KEY]
    s_res = resolve(script)
    assert lock_state(s_res) == "fresh"
    assert s_res.spec == nb_resolution.spec  # the same environment
    # uv itself accepts the lock for the script.
    run = subprocess.run(
        [sys.executable.replace("python", "uv"), "run", "--locked", "--offline", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "2.0"

    back = convert(script, "ipynb", output=tmp_path / "back.ipynb")
    data = json.loads(back.output.read_text())
    assert [c["cell_type"] for c in data["cells"]] == ["code", "markdown", "code"]
    assert "".join(data["cells"][0]["source"]) == (
        '# /// script\n# dependencies = ["tinyalpha==2.0"]\n# ///'
    )
    assert "".join(data["cells"][1]["source"]) == "# Title ü"
    assert data["metadata"][NOTEBOOK_LOCK_KEY] == lock.read_text()
    assert lock_state(resolve(back.output)) == "fresh"
    assert resolve(back.output).spec == s_res.spec


def test_convert_refuses_to_overwrite(isolated_cache: Path, tmp_path: Path) -> None:
    nb = notebook_with_block(tmp_path / "n.ipynb", ["tinyalpha"])
    (tmp_path / "n.py").write_text("keep me\n")
    with pytest.raises(BadInputError, match=r"n\.py already exists"):
        convert(nb, "py")
    assert (tmp_path / "n.py").read_text() == "keep me\n"
    with pytest.raises(BadInputError, match="converts a percent script"):
        convert(nb, "ipynb")
