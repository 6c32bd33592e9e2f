"""Files made by juv and uv resolve to the requirements those tools themselves would install."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envlens.resolve import resolve

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.pypi


def uv_direct_pins(script: Path) -> dict[str, str]:
    """Direct dependencies of a PEP 723 script as uv itself reads and resolves them: name -> version."""
    out = subprocess.run(
        [str(BIN / "uv"), "export", "--script", str(script), "--no-hashes", "--no-header"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pins: dict[str, str] = {}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if not m:
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if "# via" not in following:  # no "via": required by the script itself
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def assert_same_as_uv(ours: tuple[str, ...], pins: dict[str, str]) -> None:
    reqs = [Requirement(r) for r in ours]
    assert {canonicalize_name(r.name) for r in reqs} == set(pins)
    for r in reqs:
        assert r.specifier.contains(pins[canonicalize_name(r.name)], prereleases=True)


def test_script_requirements_match_uv_export(tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text(
        '# /// script\n# requires-python = ">=3.10"\n# dependencies = [\n'
        '#   "Six>=1.16",  # old but tiny\n#   "tabulate[widechars]",\n#   "idna; python_version >= \'3\'",\n# ]\n# ///\n'
    )
    res = resolve(script)
    assert res.spec.requirements == (
        'idna; python_version >= "3"',
        "six>=1.16",
        "tabulate[widechars]",
    )
    assert_same_as_uv(res.spec.requirements, uv_direct_pins(script))


def test_juv_notebook_resolves_like_juv(tmp_path: Path) -> None:
    nb = tmp_path / "made-by-juv.ipynb"
    subprocess.run([str(BIN / "juv"), "init", str(nb)], check=True, capture_output=True)
    subprocess.run(
        [str(BIN / "juv"), "add", str(nb), "Six>=1.16", "tabulate"], check=True, capture_output=True
    )
    res = resolve(nb)
    assert res.declaration.kind == "pep723"
    # juv's own view of the notebook as a script, resolved by uv.
    script = tmp_path / "as-script.py"
    script.write_text(
        subprocess.run(
            [str(BIN / "juv"), "cat", str(nb), "--script"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert_same_as_uv(res.spec.requirements, uv_direct_pins(script))
    # A notebook we edit stays readable by juv: juv sees our addition.
    subprocess.run([str(BIN / "envlens"), "add", str(nb), "idna"], check=True, capture_output=True)
    text = subprocess.run(
        [str(BIN / "juv"), "cat", str(nb), "--script"], check=True, capture_output=True, text=True
    ).stdout
    assert '"idna"' in text
    assert json.loads(nb.read_text())["nbformat"] == 4
