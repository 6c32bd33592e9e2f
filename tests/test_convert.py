"""envlens convert: notebook <-> percent script with jupytext, both ways: the declaration and the lock
come along (still fresh), cell tags and metadata are kept, magics are commented as jupytext writes
them (the script is valid Python and `uv run` runs it), and a jupytext-written script (YAML header)
comes back without an extra cell. Checked on real notebooks (copies of /work/shared/corpus) and
with jupytext itself."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jupytext
import pytest

from envlens.convert import convert
from envlens.errors import BadInputError
from envlens.locking.drift import lock_state
from envlens.locking.versions import lock_file
from envlens.resolve import resolve
from envlens.sources.lockfile import NOTEBOOK_LOCK_KEY
from test_lock import notebook_with_block

ENVLENS = [sys.executable, "-m", "envlens"]
UV = sys.executable.replace("python", "uv")
JUPYTEXT = str(Path(sys.executable).parent / "jupytext")
CORPUS = Path("/work/shared/corpus")
# Output-display state jupytext leaves out of a text file (jupytext.cell_metadata): a script has no
# outputs to scroll or collapse.
UI_STATE = {"autoscroll", "collapsed", "scrolled", "trusted", "execution", "ExecuteTime"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ENVLENS, *args], capture_output=True, text=True, check=False)


def cells_of(
    nb: Any, ignore: frozenset[str] = frozenset()
) -> list[tuple[str, str, dict[str, Any]]]:
    """What a conversion must keep of each cell: its type, source and metadata. (A cell's final
    line break is not part of it: a percent script cannot tell it from the blank lines between
    cells, jupytext included.)"""
    out = []
    for c in nb["cells"]:
        src = c["source"] if isinstance(c["source"], str) else "".join(c["source"])
        src = src.rstrip("\n")
        md = {k: v for k, v in c.get("metadata", {}).items() if k not in UI_STATE | ignore}
        if md.get("tags") == []:  # no tags
            del md["tags"]
        out.append((c["cell_type"], src, md))
    return out


def test_notebook_to_script_and_back(offline_index: Path, tmp_path: Path) -> None:
    nb = notebook_with_block(tmp_path / "n.ipynb", ["tinyalpha"])
    lock_file(nb)
    nb_resolution = resolve(nb)
    out = run_cli("convert", str(nb), "--to", "py")
    assert out.returncode == 0, out.stderr
    script = tmp_path / "n.py"
    text = script.read_text()
    # jupytext's header, then the declaration (the juv cell moved into the script's header).
    assert text.startswith("# ---\n# jupyter:\n")
    assert (
        '# ---\n\n# /// script\n# dependencies = ["tinyalpha==2.0"]\n# ///\n\n# %% [markdown]\n'
        in (text)
    )
    assert text.endswith("# %%\nimport tinyalpha\nprint(tinyalpha.__version__)\n")
    lock = tmp_path / "n.py.lock"
    assert lock.read_text() == json.loads(nb.read_text())["metadata"][NOTEBOOK_LOCK_KEY]
    s_res = resolve(script)
    assert lock_state(s_res) == "fresh"
    assert s_res.spec == nb_resolution.spec  # the same environment
    # uv itself accepts the lock for the script.
    run = subprocess.run(
        [UV, "run", "--locked", "--offline", str(script)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "2.0"

    back = convert(script, "ipynb", output=tmp_path / "back.ipynb")
    data = json.loads(back.output.read_text())
    assert [c["cell_type"] for c in data["cells"]] == ["code", "markdown", "code"]
    assert "".join(data["cells"][0]["source"]) == (
        '# /// script\n# dependencies = ["tinyalpha==2.0"]\n# ///'
    )
    assert data["cells"][0]["metadata"] == {"jupyter": {"source_hidden": True}}  # as juv hides it
    assert "".join(data["cells"][1]["source"]) == "# Title ü\n"
    assert data["metadata"][NOTEBOOK_LOCK_KEY] == lock.read_text()
    assert data["metadata"]["kernelspec"]["name"] == "python3"
    assert lock_state(resolve(back.output)) == "fresh"
    assert resolve(back.output).spec == s_res.spec


def _prepared(src: Path, folder: Path, *, declare: bool) -> Path:
    """A copy of a real notebook with what a researcher adds: a parameters cell, magics and `!pip`
    lines, and (for some) a juv declaration cell."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    code = [
        {"cell_type": "code", "execution_count": None, "metadata": {"tags": ["parameters"]},
         "outputs": [], "source": ["alpha = 0.1\n", "dataset = 'iris'"]},
        {"cell_type": "code", "execution_count": None,
         "metadata": {"tags": ["setup"], "scrolled": True, "custom": {"k": [1, 2]}},
         "outputs": [], "source": ["%matplotlib inline\n", "!pip install tinyalpha\n",
                                   "%pip install tinyalpha\n", "x = 1"]},
    ]  # fmt: skip
    if declare:
        code.insert(
            0,
            {"cell_type": "code", "execution_count": None,
             "metadata": {"jupyter": {"source_hidden": True}}, "outputs": [],
             "source": ["# /// script\n", '# dependencies = ["tinyalpha"]\n', "# ///"]},
        )  # fmt: skip
    minor = nb.get("nbformat_minor", 0)
    for i, cell in enumerate(code):
        if minor >= 5:
            cell["id"] = f"added{i}"
    nb["cells"] = code + nb["cells"]
    path = folder / src.name
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


CORPUS_FILES = sorted(CORPUS.glob("*.ipynb"))


@pytest.mark.skipif(not CORPUS_FILES, reason="the shared corpus is not on this machine")
def test_real_notebooks_round_trip_with_jupytext(isolated_cache: Path, tmp_path: Path) -> None:
    invalid: dict[str, list[str]] = {}
    for n, src in enumerate(CORPUS_FILES):
        folder = tmp_path / f"nb{n}"
        folder.mkdir()
        declare = n % 2 == 0
        path = _prepared(src, folder, declare=declare)
        original = cells_of(json.loads(path.read_text()))
        expected = original[1:] if declare else original  # the declaration cell leaves the cells

        result = convert(path, "py")
        script, text = result.output, result.output.read_text()
        # (jupytext notes the script's blank-line layout in its own `lines_to_next_cell`)
        theirs = cells_of(jupytext.read(script), frozenset({"lines_to_next_cell"}))
        assert theirs[1 if declare else 0 :] == expected, src.name
        assert '# %% tags=["parameters"]\nalpha = 0.1\n' in text
        assert "# %matplotlib inline\n# !pip install tinyalpha\n# %pip install tinyalpha\n" in text
        bad_cells = [c for c in _script_cells(text) if not _parses(c)]
        if bad_cells:
            invalid[src.name] = bad_cells
            assert len(result.warnings) == 1 and "not valid Python" in result.warnings[0]
        else:
            ast.parse(text)  # valid Python: magics commented
            assert result.warnings == ()
        if declare:
            assert resolve(script).declaration.requirements == ("tinyalpha",)

        back = convert(script, "ipynb", output=folder / "back.ipynb").output
        back_cells = cells_of(json.loads(back.read_text()))
        if declare:  # the declaration comes back as the first cell, hidden as juv writes it
            assert back_cells[0] == original[0], src.name
            assert resolve(back).declaration.requirements == ("tinyalpha",)
        assert back_cells[1 if declare else 0 :] == expected, src.name
    # A script that is not valid Python is the notebook's own code, said as a warning: three
    # notebooks hold code that is not Python in the notebook either (an unterminated string, a
    # `<YOUR-KEY>` placeholder), one an `if` whose only line is `%pip install` (commented, the
    # block has no body). Every other real notebook becomes a valid script.
    assert len(invalid) <= 4, sorted(invalid)
    for name, cells in invalid.items():
        for cell in cells:
            assert _invalid_in_notebook(cell) or _magic_only_block(cell), (name, cell)


def _script_cells(text: str) -> list[str]:
    """The script's cells as text (marker line included), split at the `# %%` markers."""
    cells: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.startswith("# %%"):
            cells.append([])
        cells[-1].append(line)
    return ["\n".join(c) for c in cells if c]


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _invalid_in_notebook(cell: str) -> bool:
    """The cell is not valid (I)Python in the notebook either."""
    from IPython.core.inputtransformer2 import TransformerManager

    source = jupytext.reads(cell, fmt="py:percent").cells[0].source
    try:
        ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return True
    return False


def _magic_only_block(cell: str) -> bool:
    lines = cell.splitlines()
    return any(
        ln.rstrip().endswith(":")
        and i + 1 < len(lines)
        and lines[i + 1].lstrip().startswith("# %")
        and (i + 2 >= len(lines) or not lines[i + 2].startswith(" "))
        for i, ln in enumerate(lines)
    )


def test_magics_are_commented_so_uv_runs_the_script(offline_index: Path, tmp_path: Path) -> None:
    nb = notebook_with_block(tmp_path / "m.ipynb", ["tinyalpha"])
    data = json.loads(nb.read_text())
    data["cells"].insert(
        1,
        {"cell_type": "code", "execution_count": None, "id": "p", "metadata": {"tags": ["parameters"]},
         "outputs": [], "source": ["%matplotlib inline\n", "!pip install tinyalpha\n", "alpha = 3"]},
    )  # fmt: skip
    data["cells"][-1]["source"] = ["import tinyalpha\n", "print('alpha', alpha)"]
    nb.write_text(json.dumps(data, indent=1))
    script = convert(nb, "py").output
    run = subprocess.run([UV, "run", "--offline", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "alpha 3"
    # ...and `envlens run -p` still finds the parameters cell in the script.
    proc = subprocess.run(
        [*ENVLENS, "run", str(script), "--trust", "-p", "alpha=7", "-o", str(tmp_path / "o.ipynb")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "alpha 7" in json.dumps(json.loads((tmp_path / "o.ipynb").read_text()))


def test_a_jupytext_written_script_keeps_its_declaration(
    isolated_cache: Path, tmp_path: Path
) -> None:
    """jupytext's own `--to py:percent` output (YAML header, the juv cell as a `# %%` cell)."""
    nb = _prepared(CORPUS_FILES[0], tmp_path, declare=True) if CORPUS_FILES else None
    if nb is None:
        nb = notebook_with_block(tmp_path / "x.ipynb", ["tinyalpha"])
    made = subprocess.run(
        [JUPYTEXT, "--to", "py:percent", str(nb)], capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    script = nb.with_suffix(".py")
    assert script.read_text().startswith("# ---\n# jupyter:\n")
    back = convert(script, "ipynb", output=tmp_path / "back.ipynb").output
    assert cells_of(json.loads(back.read_text())) == cells_of(json.loads(nb.read_text()))
    assert resolve(back).declaration.requirements == resolve(nb).declaration.requirements

    # A hand-written one: jupytext's header, then the PEP 723 block, then cells.
    hand = tmp_path / "hand.py"
    hand.write_text(
        "# ---\n# jupyter:\n#   kernelspec:\n#     display_name: Python 3\n#     language: python\n"
        '#     name: python3\n# ---\n\n# /// script\n# dependencies = ["tinyalpha"]\n# ///\n\n'
        '# %% tags=["parameters"]\nalpha = 1\n\n# %%\nprint(alpha)\n'
    )
    data = json.loads(convert(hand, "ipynb").output.read_text())
    assert [c["cell_type"] for c in data["cells"]] == ["code", "code", "code"]
    assert "".join(data["cells"][0]["source"]).startswith("# /// script\n")
    assert data["cells"][1]["metadata"] == {"tags": ["parameters"]}
    assert resolve(hand.with_suffix(".ipynb")).declaration.requirements == ("tinyalpha",)


def test_convert_refuses_what_it_cannot_keep(isolated_cache: Path, tmp_path: Path) -> None:
    nb = notebook_with_block(tmp_path / "n.ipynb", ["tinyalpha"])
    (tmp_path / "n.py").write_text("keep me\n")
    with pytest.raises(BadInputError, match=r"n\.py already exists"):
        convert(nb, "py")
    assert (tmp_path / "n.py").read_text() == "keep me\n"
    with pytest.raises(BadInputError, match="converts a percent script"):
        convert(nb, "ipynb")
    conda = tmp_path / "c.ipynb"
    data = json.loads(nb.read_text())
    data["cells"] = data["cells"][1:]
    data["metadata"]["conda"] = {"dependencies": ["numpy"]}
    conda.write_text(json.dumps(data))
    proc = run_cli("convert", str(conda), "--to", "py")
    assert proc.returncode == 2
    assert "conda packages (metadata.conda), which a percent script cannot hold" in proc.stderr
    assert not (tmp_path / "c.py").exists()
