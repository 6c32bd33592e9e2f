"""Declarations in notebooks: juv's PEP 723 cell, nteract's metadata, runtime, byte-exact writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envlens.edit import apply_edit, plan_edit
from envlens.envs.interpreters import new_declaration_python
from envlens.errors import DeclarationError, NotebookFormatError, UnknownRuntimeError
from envlens.resolve import resolve
from envlens.settings import Settings


def notebook(cells: list[dict[str, Any]], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "cells": cells,
        "metadata": metadata
        if metadata is not None
        else {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def code(src: str, cid: str = "c1") -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cid,
        "metadata": {},
        "outputs": [],
        "source": src.splitlines(keepends=True),
    }


def write_nb(tmp_path: Path, nb: dict[str, Any], name: str = "nb.ipynb", indent: int = 1) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(nb, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
    return p


JUV_CELL = '# /// script\n# requires-python = ">=3.11"\n# dependencies = [\n#     "numpy>=1.20",\n#     "Pandas",\n# ]\n# ///'


def test_pep723_in_first_code_cell(tmp_path: Path) -> None:
    md = {"cell_type": "markdown", "id": "m", "metadata": {}, "source": ["# Title"]}
    p = write_nb(tmp_path, notebook([md, code(JUV_CELL), code("import numpy", "c2")]))
    res = resolve(p)
    assert res.declaration.kind == "pep723"
    assert res.declaration.cell == 1
    assert res.spec.requirements == ("numpy>=1.20", "pandas")
    assert res.spec.requires_python == ">=3.11"


@pytest.mark.parametrize("keys", [("runt", "uv"), ("uv",)])
def test_nteract_uv_metadata(tmp_path: Path, keys: tuple[str, ...]) -> None:
    meta: dict[str, Any] = {"kernelspec": {"name": "python3", "language": "python"}}
    target = meta
    for k in keys[:-1]:
        target = target.setdefault(k, {})
    target[keys[-1]] = {"dependencies": ["Polars>=1", "numpy"], "requires-python": ">=3.10"}
    p = write_nb(tmp_path, notebook([code("import polars")], meta))
    res = resolve(p)
    assert res.declaration.kind == "notebook-uv"
    assert res.declaration.metadata_key == ".".join(keys)
    assert res.spec.requirements == ("numpy", "polars>=1")
    assert res.spec.backend == "uv"


def test_nteract_conda_metadata(tmp_path: Path) -> None:
    meta = {
        "kernelspec": {"name": "python3"},
        "runt": {
            "conda": {
                "dependencies": ["numpy", "gdal"],
                "channels": ["conda-forge"],
                "python": "3.11",
            }
        },
    }
    p = write_nb(tmp_path, notebook([code("import numpy")], meta))
    res = resolve(p)
    assert res.declaration.kind == "notebook-conda"
    assert res.spec.backend == "conda"
    assert res.spec.conda_packages == ("gdal", "numpy")
    assert res.spec.channels == ("conda-forge",)
    assert res.spec.requires_python == "==3.11.*"


def test_runtime_from_kernelspec(tmp_path: Path) -> None:
    deno = notebook(
        [code("console.log(1)")], {"kernelspec": {"name": "deno", "language": "typescript"}}
    )
    assert resolve(write_nb(tmp_path, deno, "d.ipynb")).runtime == "deno"
    ts = notebook([code("1")], {"language_info": {"name": "typescript"}})
    assert resolve(write_nb(tmp_path, ts, "t.ipynb")).spec.backend == "deno"
    none = notebook([code("1")], {})
    assert resolve(write_nb(tmp_path, none, "n.ipynb")).runtime == "python"


def test_unknown_kernelspec_is_a_clear_error(tmp_path: Path) -> None:
    p = write_nb(
        tmp_path, notebook([code("x <- 1")], {"kernelspec": {"name": "ir", "language": "R"}})
    )
    before = p.read_bytes()
    with pytest.raises(UnknownRuntimeError) as info:
        resolve(p)
    assert "'ir'" in info.value.message and info.value.path == p
    with pytest.raises(UnknownRuntimeError):
        apply_edit(plan_edit(p, add=["numpy"]))
    assert p.read_bytes() == before


def test_kernelspec_wins_over_project_files(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["numpy"]\n')
    nb = notebook([code("1")], {"kernelspec": {"name": "deno"}})
    assert resolve(write_nb(tmp_path, nb)).runtime == "deno"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{\n "cells": [\n  {"cell_type": "code",,}\n ]\n}\n', 3),
        ("", 1),
        ('{"cells": 3}', 1),
        ('{"cells": [], "nbformat": 3}', 1),
    ],
)
def test_malformed_notebooks(tmp_path: Path, text: str, line: int) -> None:
    p = tmp_path / "bad.ipynb"
    p.write_text(text)
    with pytest.raises(NotebookFormatError) as info:
        resolve(p)
    assert info.value.line == line
    assert info.value.path == p
    with pytest.raises(NotebookFormatError):
        plan_edit(p, add=["numpy"])
    assert p.read_text() == text


def test_bad_block_in_cell_names_the_cell(tmp_path: Path) -> None:
    p = write_nb(
        tmp_path, notebook([code("# /// script\n# dependencies = ['numpy', 'pan das']\n# ///")])
    )
    with pytest.raises(DeclarationError) as info:
        resolve(p)
    assert info.value.cell == 1
    assert "cell 1" in info.value.one_line()


def test_bad_metadata_requirement(tmp_path: Path) -> None:
    meta = {"kernelspec": {"name": "python3"}, "uv": {"dependencies": ["numpy", "pandas>>2"]}}
    p = write_nb(tmp_path, notebook([code("1")], meta), indent=2)
    with pytest.raises(DeclarationError) as info:
        resolve(p)
    assert "pandas>>2" in info.value.message
    assert (
        info.value.line is not None
        and '"pandas>>2"' in p.read_text().splitlines()[info.value.line - 1]
    )


# --- writes: byte-identical except the declaration -------------------------------------------------


def test_add_to_juv_cell_changes_only_that_cell(tmp_path: Path) -> None:
    nb = notebook([code(JUV_CELL), code("import numpy\nprint('ünïcode')", "c2")])
    nb["metadata"]["zzz"] = {"b": 1, "a": 2}  # key order must survive
    p = write_nb(tmp_path, nb)
    before = p.read_text()
    apply_edit(plan_edit(p, add=["scipy"]))
    after = p.read_text()
    expected = before.replace(
        '    "#     \\"Pandas\\",\\n",\n',
        '    "#     \\"Pandas\\",\\n",\n    "#     \\"scipy\\",\\n",\n',
    )
    assert after == expected
    assert resolve(p).spec.requirements == ("numpy>=1.20", "pandas", "scipy")


@pytest.mark.parametrize("indent", [1, 2, 4])
def test_metadata_edits_keep_indent_and_order(tmp_path: Path, indent: int) -> None:
    meta = {"kernelspec": {"name": "python3"}, "runt": {"uv": {"dependencies": ["numpy"]}}, "a": 1}
    p = write_nb(tmp_path, notebook([code("import numpy")], meta), indent=indent)
    before = json.loads(p.read_text())
    apply_edit(plan_edit(p, add=["pandas"]))
    text = p.read_text()
    after = json.loads(text)
    assert after["metadata"]["runt"]["uv"]["dependencies"] == ["numpy", "pandas"]
    before["metadata"]["runt"]["uv"]["dependencies"].append("pandas")
    assert text == json.dumps(before, indent=indent, ensure_ascii=False) + "\n"


def test_new_declaration_is_a_juv_style_first_cell(tmp_path: Path) -> None:
    p = write_nb(tmp_path, notebook([code("import numpy")]))
    apply_edit(plan_edit(p, add=["numpy", "pandas"]))
    data = json.loads(p.read_text())
    first = data["cells"][0]
    assert "".join(first["source"]).startswith("# /// script\n")
    assert first["metadata"] == {"jupyter": {"source_hidden": True}}
    assert data["cells"][1]["source"] == ["import numpy"]
    assert resolve(p).spec.requirements == ("numpy", "pandas")


def test_new_declaration_in_metadata_when_asked(tmp_path: Path) -> None:
    p = write_nb(tmp_path, notebook([code("import numpy")]))
    apply_edit(plan_edit(p, add=["numpy"], settings=Settings(new_notebook_declaration="metadata")))
    data = json.loads(p.read_text())
    # A new declaration names the Python it builds with, as `uv init --script` writes it.
    python = new_declaration_python()
    assert python is not None and python.startswith(">=3.")
    assert data["metadata"]["uv"] == {"dependencies": ["numpy"], "requires-python": python}
    assert len(data["cells"]) == 1


def test_remove_from_metadata(tmp_path: Path) -> None:
    meta = {"kernelspec": {"name": "python3"}, "uv": {"dependencies": ["numpy", "Pandas>=2"]}}
    p = write_nb(tmp_path, notebook([code("1")], meta))
    apply_edit(plan_edit(p, remove=["pandas"]))
    assert json.loads(p.read_text())["metadata"]["uv"]["dependencies"] == ["numpy"]


def test_write_is_atomic_and_keeps_permissions(tmp_path: Path) -> None:
    p = write_nb(tmp_path, notebook([code(JUV_CELL)]))
    p.chmod(0o640)
    apply_edit(plan_edit(p, add=["scipy"]))
    assert p.stat().st_mode & 0o777 == 0o640
    assert [x.name for x in tmp_path.iterdir()] == ["nb.ipynb"]


def test_new_files_get_the_usual_permissions(tmp_path: Path) -> None:
    import os

    from envlens.fileio import atomic_write_text

    target = tmp_path / "new.txt"
    atomic_write_text(target, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
