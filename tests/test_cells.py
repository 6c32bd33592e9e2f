"""Percent scripts split into cells, and converted to notebooks that resolve like the script."""

from __future__ import annotations

import json
from pathlib import Path

from envlens.kernels.cells import script_to_notebook, split_cells
from envlens.resolve import resolve
from envlens.sources.notebook import load_notebook

SCRIPT = """\
# /// script
# requires-python = ">=3.10"
# dependencies = ["tabulate"]
# ///

# %% Load
x = 1


# %% [markdown]
# # Title
# Some *text*.
#
# more

#%% jupytext also accepts this form
print(x)
"""


def test_header_is_first_code_cell_and_not_executed() -> None:
    cells = split_cells(SCRIPT)
    assert [c.cell_type for c in cells] == ["code", "code", "markdown", "code"]
    header = cells[0]
    assert header.header and header.source.startswith("# /// script")
    assert header.line == 1
    assert not header.executable  # only comments: nothing to run


def test_cells_trim_blank_lines_and_know_their_lines() -> None:
    cells = split_cells(SCRIPT)
    assert cells[1].source == "x = 1"
    assert cells[1].line == 7
    assert cells[1].executable


def test_markdown_lines_are_uncommented() -> None:
    md = split_cells(SCRIPT)[2]
    assert md.source == "# Title\nSome *text*.\n\nmore"
    assert not md.executable


def test_hash_percent_without_space_is_a_marker() -> None:
    assert split_cells(SCRIPT)[-1].source == "print(x)"


def test_empty_cells_are_kept_but_have_nothing_to_run() -> None:
    cells = split_cells("# %%\n\n# %%\nx = 1\n")
    assert [c.source for c in cells] == ["", "x = 1"]


def test_header_with_code_runs() -> None:
    cells = split_cells("import os\n\n# %%\nprint(os.sep)\n")
    assert cells[0].header and cells[0].executable
    assert cells[0].source == "import os"


def test_script_without_markers_is_one_cell() -> None:
    cells = split_cells("print(1)\nprint(2)\n")
    assert len(cells) == 1 and cells[0].source == "print(1)\nprint(2)"
    assert cells[0].executable


def test_magic_percent_lines_are_not_markers() -> None:
    cells = split_cells("# %%\n# %%%time is not a marker\nx = 1\n")
    assert len(cells) == 1
    assert cells[0].source == "# %%%time is not a marker\nx = 1"


def test_raw_cells() -> None:
    cells = split_cells("# %% [raw]\n# raw text\n")
    assert cells[0].cell_type == "raw" and cells[0].source == "raw text"


def test_notebook_keeps_the_declaration_and_resolves_to_the_same_environment(
    tmp_path: Path,
) -> None:
    script = tmp_path / "analysis.py"
    script.write_text(SCRIPT)
    out = tmp_path / "analysis.out.ipynb"
    nb = script_to_notebook(SCRIPT, script, out)
    nb.save()
    data = json.loads(out.read_text())
    assert data["nbformat"] == 4 and data["nbformat_minor"] == 5
    assert "".join(data["cells"][0]["source"]).startswith("# /// script")
    assert all("id" in c for c in data["cells"])
    assert load_notebook(out).cells[2]["cell_type"] == "markdown"
    assert resolve(out).key == resolve(script).key
