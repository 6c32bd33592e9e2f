"""Add then remove on real notebooks that declared nothing gives back the original bytes: removing the
last dependency removes the hidden declaration cell (or the metadata) adding it made, and the
signature that only covered it. The notebooks are copies of /work/shared/corpus (real public ones)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from envlens import trust
from envlens.cli import main
from envlens.edit import apply_edit, plan_edit
from envlens.resolve import resolve
from envlens.settings import Settings

CORPUS = Path("/work/shared/corpus")
NOTEBOOKS = sorted(CORPUS.glob("*.ipynb")) if CORPUS.is_dir() else []

pytestmark = [
    pytest.mark.skipif(not NOTEBOOKS, reason=f"the notebook corpus is not at {CORPUS}"),
    pytest.mark.usefixtures("approved_tiny_names"),
]


def copies(tmp_path: Path) -> list[tuple[Path, Path]]:
    out = []
    for original in NOTEBOOKS:
        copy = tmp_path / original.name
        shutil.copyfile(original, copy)  # never edit the corpus in place
        out.append((original, copy))
    return out


def test_add_then_remove_on_the_command_line_is_byte_identical(
    isolated_cache: Path, tmp_path: Path
) -> None:
    pairs = copies(tmp_path)
    assert len(pairs) >= 30
    for original, nb in pairs:
        assert resolve(nb).declaration.kind == "none", nb.name  # they declare nothing
        assert main(["add", str(nb), "tinyalpha", "tiny-gamma>=0.1"]) == 0
        data = json.loads(nb.read_text(encoding="utf-8"))
        assert data["cells"][0]["metadata"] == {"jupyter": {"source_hidden": True}}, nb.name
        assert data["metadata"]["envlens"]["trust"].startswith("hmac-sha256:"), nb.name
        assert main(["remove", str(nb), "tiny_gamma"]) == 0  # one left: the cell stays
        cell = json.loads(nb.read_text(encoding="utf-8"))["cells"][0]
        assert '"tinyalpha"' in "".join(cell["source"]), nb.name
        assert main(["remove", str(nb), "tinyalpha"]) == 0
        assert nb.read_bytes() == original.read_bytes(), nb.name


def test_removing_something_not_declared_keeps_an_empty_declaration_someone_wrote(
    isolated_cache: Path, tmp_path: Path
) -> None:
    """Only what adding made goes: a `dependencies = []` cell the author wrote stays."""
    original, nb = copies(tmp_path)[0]
    data = json.loads(original.read_text(encoding="utf-8"))
    data["cells"].insert(
        0,
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": ["# /// script\n", "# dependencies = []\n", "# ///"],
        },
    )
    nb.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    before = nb.read_bytes()
    assert main(["remove", str(nb), "tinyalpha"]) == 0
    assert nb.read_bytes() == before


def test_a_requires_python_someone_wrote_stays_when_the_last_dependency_goes(
    isolated_cache: Path, tmp_path: Path
) -> None:
    original, nb = copies(tmp_path)[1]
    data = json.loads(original.read_text(encoding="utf-8"))
    data["cells"].insert(
        0,
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {"jupyter": {"source_hidden": True}},
            "outputs": [],
            "source": [
                "# /// script\n",
                '# requires-python = ">=3.10"\n',
                '# dependencies = ["tinyalpha"]\n',
                "# ///",
            ],
        },
    )
    nb.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert main(["remove", str(nb), "tinyalpha"]) == 0
    cell = json.loads(nb.read_text(encoding="utf-8"))["cells"][0]
    assert "".join(cell["source"]) == (
        '# /// script\n# requires-python = ">=3.10"\n# dependencies = []\n# ///'
    )


def test_add_then_remove_in_metadata_is_byte_identical(
    isolated_cache: Path, tmp_path: Path
) -> None:
    """The editor's setting `newNotebookDeclaration: metadata` (nteract's `metadata.uv`), applied
    to a closed file as the language server does: plan, write, keep it trusted."""
    settings = Settings(new_notebook_declaration="metadata")
    for original, nb in copies(tmp_path)[:8]:
        for change in ({"add": ["tinyalpha"]}, {"remove": ["tinyalpha"]}):
            before = trust.trust_state(resolve(nb))
            apply_edit(plan_edit(nb, settings=settings, **change))
            trust.resign_if_trusted(before, nb)
            if "add" in change:
                md = json.loads(nb.read_text(encoding="utf-8"))["metadata"]
                assert md["uv"]["dependencies"] == ["tinyalpha"], nb.name
                assert "trust" in md["envlens"]
        assert nb.read_bytes() == original.read_bytes(), nb.name
