"""Project files found by walking up: which one wins, where the walk stops, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from envlens.edit import apply_edit, plan_edit
from envlens.errors import DeclarationError
from envlens.resolve import resolve
from envlens.sources.project import find_project_file


def script(folder: Path, text: str = "import numpy\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "analysis.py"
    p.write_text(text)
    return p


def test_closest_folder_wins(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "outer"\ndependencies = ["numpy"]\n'
    )
    inner = tmp_path / "sub"
    inner.mkdir()
    (inner / "environment.yml").write_text("dependencies:\n  - python=3.11\n  - pip:\n    - rich\n")
    p = script(inner / "deeper")
    res = resolve(p)
    assert res.declaration.kind == "environment-yml"
    assert res.declaration.path == inner / "environment.yml"
    assert res.spec.requirements == ("rich",)
    assert res.spec.requires_python == "==3.11.*"


def test_order_within_one_folder(tmp_path: Path) -> None:
    (tmp_path / "environment.yml").write_text("dependencies:\n  - numpy\n")
    (tmp_path / "pixi.toml").write_text(
        '[workspace]\nchannels = ["conda-forge"]\n[dependencies]\nnumpy = ">=2"\n'
    )
    p = script(tmp_path)
    assert resolve(p).declaration.kind == "pixi"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["numpy"]\n')
    assert resolve(p).declaration.kind == "pyproject"


def test_inline_declaration_wins_over_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["numpy"]\n')
    p = script(tmp_path, "# /// script\n# dependencies = ['rich']\n# ///\n")
    assert resolve(p).spec.requirements == ("rich",)


def test_walk_stops_at_git_root_and_home(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["numpy"]\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    p = script(repo / "nb")
    assert find_project_file(p.parent) is None
    assert resolve(p).declaration.kind == "none"
    home = tmp_path / "home"
    p2 = script(home / "work")
    assert find_project_file(p2.parent, home=home) is None
    assert find_project_file(p2.parent, home=tmp_path / "elsewhere") == tmp_path / "pyproject.toml"


def test_uv_project_uses_its_own_venv(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nrequires-python = ">=3.10"\ndependencies = ["numpy"]\n\n[tool.uv]\npackage = false\n'
    )
    res = resolve(script(tmp_path))
    assert res.declaration.kind == "uv-project"
    assert res.spec.backend == "project"
    assert res.env_dir == tmp_path / ".venv"


def test_uv_lock_makes_a_uv_project(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = []\n')
    (tmp_path / "uv.lock").write_text("version = 1\n")
    assert resolve(script(tmp_path)).spec.backend == "project"


def test_pixi_reads_pypi_and_conda(tmp_path: Path) -> None:
    (tmp_path / "pixi.toml").write_text(
        '[workspace]\nchannels = ["conda-forge"]\nplatforms = ["linux-64"]\n'
        '[dependencies]\npython = "3.12.*"\nnumpy = ">=2"\n[pypi-dependencies]\nrich = "*"\nhttpx = ">=0.27"\n'
    )
    res = resolve(script(tmp_path))
    assert res.spec.requirements == ("httpx>=0.27", "rich")
    assert res.spec.conda_packages == ("numpy >=2",)  # a conda match spec, as rattler reads it
    assert res.spec.requires_python == "3.12.*" or res.spec.requires_python == "==3.12.*"
    assert res.spec.channels == ("conda-forge",)


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("pyproject.toml", '[project]\nname = "x"\ndependencies = ["numpy"\n', 3),
        ("pyproject.toml", '[project]\nname = "x"\ndependencies = ["numpy", "pan das"]\n', 3),
        ("pixi.toml", "[dependencies\nnumpy = 1\n", 1),
        ("environment.yml", "dependencies:\n  - numpy\n - pip: [\n", 3),
    ],
)
def test_broken_project_files(tmp_path: Path, name: str, text: str, line: int) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(DeclarationError) as info:
        resolve(script(tmp_path))
    assert info.value.path == tmp_path / name
    assert info.value.line == line


def test_add_to_pyproject_keeps_comments(tmp_path: Path) -> None:
    text = '[project]\nname = "x"  # the name\ndependencies = [\n    "numpy",  # arrays\n]\n\n[tool.other]\nx = 1\n'
    (tmp_path / "pyproject.toml").write_text(text)
    edit = plan_edit(script(tmp_path), add=["pandas"])
    assert edit.path == tmp_path / "pyproject.toml"
    apply_edit(edit)
    assert (tmp_path / "pyproject.toml").read_text() == text.replace(
        '    "numpy",  # arrays\n', '    "numpy",  # arrays\n    "pandas",\n'
    )


def test_nothing_declared(tmp_path: Path) -> None:
    res = resolve(script(tmp_path))
    assert res.declaration.kind == "none"
    assert res.spec.requirements == ()
    assert res.to_json()["source"]["label"] == "nothing declared"


def test_missing_and_binary_files(tmp_path: Path) -> None:
    from envlens.errors import BadInputError

    with pytest.raises(BadInputError, match="no such file"):
        resolve(tmp_path / "nope.py")
    binary = tmp_path / "garbage.py"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(BadInputError, match="not UTF-8"):
        resolve(binary)
    nb = tmp_path / "garbage.ipynb"
    nb.write_bytes(b"\x89PNG\r\n")
    with pytest.raises(BadInputError):
        resolve(nb)
