"""Export (requirements with hashes, pylock.toml, Apptainer) and import with a preview."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envlens.errors import BadInputError, LockError
from envlens.export import export
from envlens.importer import preview_import
from envlens.locking.versions import lock_file
from envlens.resolve import resolve

ENVLENS = [sys.executable, "-m", "envlens"]


def envlens(*args: str) -> subprocess.CompletedProcess[str]:
    # Approval is tested in test_trust_cli and test_fidelity; exports of approved files here.
    return subprocess.run(
        [*ENVLENS, *args],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "ENVLENS_TRUST": "1"},
    )


@pytest.mark.pypi
def test_exports_from_the_lock(isolated_cache: Path, tmp_path: Path, write_script) -> None:
    script = write_script(tmp_path / "a.py", ["six"], requires_python=">=3.10")
    result = lock_file(script)
    six = result.versions["six"]
    res = resolve(script)

    reqs = export(res, "requirements")
    assert f"six=={six} \\\n    --hash=sha256:" in reqs
    assert reqs.startswith("# Pinned requirements with hashes of a.py, exported by envlens")

    pylock = export(res, "pylock")
    assert 'lock-version = "1.0"' in pylock and 'name = "six"' in pylock
    assert f'version = "{six}"' in pylock

    out = envlens("export", str(script), "--format", "apptainer")
    assert out.returncode == 0, out.stderr
    definition = (tmp_path / "a.def").read_text()
    assert "Bootstrap: docker\nFrom: python:3." in definition
    assert "--require-hashes" in definition and "python -m pip install" in definition
    body = definition.split("<<'ENVLENS_REQUIREMENTS'\n")[1].split("ENVLENS_REQUIREMENTS\n")[0]
    assert f"six=={six} \\\n    --hash=sha256:" in body
    # ipykernel is locked with hashes too, and every entry carries at least one hash.
    assert "\nipykernel==" in body
    entries = [e for e in body.split("\n") if e and not e.startswith(" ")]
    assert all(e.endswith("\\") for e in entries), entries


def test_export_needs_a_fresh_lock(offline_index: Path, tmp_path: Path, write_script) -> None:
    script = write_script(tmp_path / "a.py", ["tinyalpha"])
    out = envlens("export", str(script), "--format", "requirements")
    assert out.returncode == 1
    assert "a.py has no lock" in out.stderr and "envlens lock a.py" in out.stderr
    lock_file(script)
    script.write_text(script.read_text().replace('"tinyalpha==2.0"', '"tinyalpha", "tinyimg"'))
    with pytest.raises(LockError, match="out of date: tinyimg"):
        export(resolve(script), "pylock")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "a.py.lock"]


def test_import_environment_yml_previews_then_applies(
    offline_index: Path, tmp_path: Path, write_script
) -> None:
    script = write_script(tmp_path / "a.py", ["tinyalpha", "tiny-gamma"])
    yml = tmp_path / "environment.yml"
    yml.write_text(
        "name: analysis\nchannels: [conda-forge]\ndependencies:\n"
        "  - python=3.11\n  - tinyalpha=1.0\n  - conda-forge::tinyimg\n  - gdal\n  - pip\n"
        "  - pip:\n    - tinybeta>=1\n"
    )
    preview = preview_import(script, yml)
    assert preview.added == ["tinybeta>=1", "tinyimg"]
    assert preview.changed == [("tinyalpha", "tinyalpha==1.0.*")]
    assert preview.removed == ["tiny-gamma"]
    assert preview.unchanged == []
    assert preview.skipped == [
        "python=3.11: provided by the environment itself, skipped",
        "pip: provided by the environment itself, skipped",
        "gdal: not on PyPI under that name, skipped",
    ]
    before = script.read_text()

    dry = envlens("import", str(script), str(yml), "--dry-run")
    assert dry.returncode == 0
    assert (
        "  + tinybeta>=1" in dry.stdout
        and "  ! gdal: not on PyPI under that name, skipped" in dry.stdout
    )
    assert script.read_text() == before

    no_tty = envlens("import", str(script), str(yml))
    assert no_tty.returncode == 0 and "run again with --yes" in no_tty.stderr
    assert "  - tiny-gamma" in no_tty.stdout
    assert script.read_text() == before

    yes = envlens("import", str(script), str(yml), "--yes")
    assert yes.returncode == 0, yes.stderr
    declared = resolve(script).declaration.requirements
    assert sorted(declared) == ["tinyalpha==1.0.*", "tinybeta>=1", "tinyimg"]


def test_import_requirements_txt(offline_index: Path, tmp_path: Path, write_script) -> None:
    script = write_script(tmp_path / "a.py", ["tinyalpha==2.0"])
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\ntinyalpha==2.0 \\\n    --hash=sha256:abc\n-e ./local\ntinyimg\n")
    preview = preview_import(script, req)
    assert preview.added == ["tinyimg"]
    assert preview.unchanged == ["tinyalpha==2.0"]
    assert preview.skipped == ["line 4: -e options are not imported, skipped"]
    bad = tmp_path / "bad.txt"
    bad.write_text("tinyalpha\nnot a requirement!!\n")
    with pytest.raises(BadInputError) as err:
        preview_import(script, bad)
    assert err.value.one_line().startswith(f"{bad}:2: invalid requirement")
