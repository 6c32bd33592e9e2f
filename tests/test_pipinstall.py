"""`!pip install` lines: found with their requirements, and moved into the declaration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envlens.errors import BadInputError
from envlens.pipinstall import find_pip_installs, plan_move_notebook, plan_move_script, remove_lines
from envlens.sources.notebook import parse_notebook


def test_finds_every_form_with_options_and_quotes() -> None:
    text = (
        'import x\n!pip install -U -q "numpy>=2" pandas --index-url https://example.org\n'
        "%pip install scikit-image==0.22\n!conda install -c conda-forge xarray=2024.1 scipy=1.11.4\n"
        "!python -m pip install requests \\\n    httpx\n!uv pip install rich\n%pip list\n!echo install\n"
    )
    found = find_pip_installs(text)
    assert [(f.tool, f.line, f.end_line, f.requirements) for f in found] == [
        ("pip", 1, 1, ["numpy>=2", "pandas"]),
        ("pip", 2, 2, ["scikit-image==0.22"]),
        ("conda", 3, 3, ["xarray==2024.1.*", "scipy==1.11.4"]),
        ("pip", 4, 5, ["requests", "httpx"]),
        ("pip", 6, 6, ["rich"]),
    ]
    first = found[0].items[0]
    assert text.split("\n")[1][first.start : first.end] == '"numpy>=2"'


def test_commented_forms_only_in_scripts() -> None:
    assert find_pip_installs("# !pip install numpy\n") == []
    [f] = find_pip_installs("# %pip install numpy\n", commented=True)
    assert f.requirements == ["numpy"]


def test_what_cannot_be_declared_is_reported() -> None:
    [f] = find_pip_installs("!pip install -r requirements.txt numpy ./local $PKG\n")
    assert f.requirements == ["numpy"] and not f.movable
    assert len(f.problems) == 3


def test_remove_lines_keeps_the_rest() -> None:
    text = "a = 1\n!pip install x \\\n  y\nb = 2\n"
    assert remove_lines(text, find_pip_installs(text)) == "a = 1\nb = 2\n"


def test_move_in_a_script_changes_only_the_block_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.py"
    text = '# /// script\n# dependencies = ["pandas"]\n# ///\n\n# %%\n# !pip install "numpy>=2"\nimport numpy\n'
    [edit] = plan_move_script(path, text)
    assert edit.new_text == (
        '# /// script\n# dependencies = ["pandas", "numpy>=2"]\n# ///\n\n# %%\nimport numpy\n'
    )


def test_move_in_a_notebook_removes_an_emptied_cell(tmp_path: Path) -> None:
    nb_json = {
        "cells": [
            {
                "cell_type": "code",
                "source": ["!pip install requests\n"],
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            },
            {
                "cell_type": "code",
                "source": ["import requests"],
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "n.ipynb"
    nb = parse_notebook(json.dumps(nb_json, indent=1) + "\n", path)
    [edit] = plan_move_notebook(nb)
    new = json.loads(edit.new_text)
    assert [c["source"] for c in new["cells"]][1:] == [["import requests"]]
    assert '"requests"' in "".join(new["cells"][0]["source"])


def test_unmovable_line_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"requirements\.txt") as err:
        plan_move_script(tmp_path / "s.py", "!pip install -r requirements.txt\n")
    assert err.value.line == 1


def test_lines_of_a_crlf_file_are_found_and_removed_whole() -> None:
    text = "a = 1\r\n!pip install numpy pandas==2.2.2\r\nb = 2\r\n"
    [f] = find_pip_installs(text)
    assert f.requirements == ["numpy", "pandas==2.2.2"]
    assert remove_lines(text, [f]) == "a = 1\r\nb = 2\r\n"


def test_declared_requirements_satisfy_install_lines() -> None:
    from envlens.pipinstall import check_source

    cell = "!pip install -q numpy>=2 'pandas[excel]'\n%pip install tinyalpha\n!pip install -r req.txt\n"
    first, second, third = check_source(
        cell, ["numpy", "pandas", "tinyalpha==1.0"], {"numpy": "2.1.0", "tinyalpha": "1.0"}
    )
    assert first.satisfied == ("numpy>=2",) and first.missing == ("pandas[excel]",)
    assert second.ok and second.satisfied == ("tinyalpha",)
    assert not third.ok and third.unmovable and not third.missing
    # An environment with an older numpy than the line asks for does not satisfy it.
    [old] = check_source("!pip install numpy>=2\n", ["numpy"], {"numpy": "1.26.4"})
    assert old.missing == ("numpy>=2",)
