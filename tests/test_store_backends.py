"""The project backend (a uv project's own .venv), and conda declarations uv builds, with real uv.

Conda packages (py-rattler) are tested in test_conda_build.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from envlens.environment import ensure_environment
from envlens.envs.inventory import installed
from envlens.envs.uv import find_uv
from envlens.resolve import resolve

pytestmark = pytest.mark.slow

PYPROJECT = """\
[project]
name = "proj"
version = "0.1"
requires-python = ">=3.11"
dependencies = ["tinyalpha==1.0"]

[tool.uv]
package = false
"""


def versions(env: Path) -> dict[str, str]:
    return {d.name: d.version for d in installed(env)}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / ".git").mkdir()  # the walk up stops here
    (folder / "pyproject.toml").write_text(PYPROJECT)
    (folder / "analysis.py").write_text("# %%\nimport tinyalpha\n")
    return folder


def test_uv_project_syncs_its_own_venv_and_adds_ipykernel(
    offline_index: Path, project: Path
) -> None:
    res = resolve(project / "analysis.py")
    assert res.spec.backend == "project"
    lines: list[str] = []
    info = ensure_environment(res, progress=lines.append)
    assert not info.reused and info.backend == "project"
    assert info.env_dir == project / ".venv" == res.env_dir
    found = versions(info.env_dir)
    assert found["tinyalpha"] == "1.0" and "ipykernel" in found
    assert info.python_version.startswith("3.")
    assert (project / "uv.lock").exists()
    assert "ipykernel" not in (project / "pyproject.toml").read_text()  # never touched
    assert any("uv sync" in line for line in lines)

    again = ensure_environment(resolve(project / "analysis.py"))
    assert again.reused and again.env_dir == info.env_dir

    # The user runs `uv sync` (exact: it removes ipykernel); envlens puts ipykernel back.
    synced = subprocess.run(
        [str(find_uv()), "sync", "--offline", "--project", str(project)],
        capture_output=True,
        text=True,
    )
    assert synced.returncode == 0, synced.stderr  # failed once (exit 2) in a full run under load
    assert "ipykernel" not in versions(info.env_dir)
    fixed = ensure_environment(resolve(project / "analysis.py"))
    assert not fixed.reused and "ipykernel" in versions(info.env_dir)

    # A changed declaration is synced.
    (project / "pyproject.toml").write_text(PYPROJECT.replace("tinyalpha==1.0", "tinyalpha==2.0"))
    changed = ensure_environment(resolve(project / "analysis.py"))
    assert not changed.reused and versions(changed.env_dir)["tinyalpha"] == "2.0"


def test_uv_project_with_unknown_dependency(offline_index: Path, project: Path) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT.replace("tinyalpha==1.0", "tinyalphx"))
    with pytest.raises(Exception) as exc:
        ensure_environment(resolve(project / "analysis.py"))
    assert "tinyalphx" in str(exc.value)
    assert getattr(exc.value, "path", None) == project / "pyproject.toml"


def test_conda_declaration_with_only_pip_packages_is_built_by_uv(
    offline_index: Path, tmp_path: Path
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "environment.yml").write_text(
        "dependencies:\n  - python=3.12\n  - pip\n  - pip:\n    - tinyalpha==1.0\n"
    )
    (tmp_path / "nb.py").write_text("# %%\nimport tinyalpha\n")
    res = resolve(tmp_path / "nb.py")
    assert res.spec.backend == "conda" and res.spec.conda_packages == ()
    info = ensure_environment(res)
    assert info.python_version.startswith("3.12.")
    assert versions(info.env_dir)["tinyalpha"] == "1.0"
