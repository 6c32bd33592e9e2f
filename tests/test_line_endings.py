"""Files from other systems: CRLF (Windows), CR (old macOS) and a UTF-8 BOM are read like LF files,
every edit keeps the file's own line breaks, and a broken block is an error at its line, never
"nothing declared". Each case checks the bytes on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envlens.edit import apply_edit, plan_edit
from envlens.errors import DeclarationError
from envlens.resolve import resolve

LF_SCRIPT = (
    "#!/usr/bin/env python\n"
    "# /// script\n"
    '# requires-python = ">=3.10"\n'
    '# dependencies = ["tinyalpha"]\n'
    "# ///\n"
    "\n"
    "# %%\n"
    "import tinyalpha\n"
    "print('tinyalpha', tinyalpha.__version__)\n"
)

ENDINGS = {"crlf": "\r\n", "cr": "\r", "lf": "\n"}


def envlens(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "ENVLENS_TRUST": "1"},
        timeout=300,
    )


def _write(path: Path, text: str, newline: str, bom: bool = False) -> bytes:
    data = (("\ufeff" if bom else "") + text.replace("\n", newline)).encode()
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("ending", ["crlf", "cr"])
@pytest.mark.parametrize("bom", [False, True], ids=["nobom", "bom"])
def test_script_from_another_system_is_read_and_edited_in_its_own_line_breaks(
    isolated_cache: Path, tmp_path: Path, ending: str, bom: bool
) -> None:
    nl = ENDINGS[ending]
    script = tmp_path / "windows.py"
    original = _write(script, LF_SCRIPT, nl, bom)
    res = resolve(script)
    assert res.declaration.kind == "pep723"
    assert res.declaration.requirements == ("tinyalpha",)
    assert res.declaration.requires_python == ">=3.10"
    assert (res.declaration.start_line, res.declaration.end_line) == (1, 4)
    # The same declaration as the LF file: the same environment.
    lf = tmp_path / "unix.py"
    lf.write_text(LF_SCRIPT)
    assert resolve(lf).key == res.key

    apply_edit(plan_edit(script, add=["tinybeta"]))
    after = script.read_bytes()
    assert after.count(b"# /// script") == 1  # never a second block
    text = after.decode()
    assert text.startswith("\ufeff" if bom else "#!")
    expected_block = (
        f"# /// script{nl}"
        f'# requires-python = ">=3.10"{nl}'
        f'# dependencies = ["tinyalpha", "tinybeta"]{nl}'
        f"# ///{nl}"
    )
    assert expected_block in text
    if ending == "crlf":
        assert "\n" not in text.replace("\r\n", "")  # no bare LF anywhere
    else:
        assert "\n" not in text
    assert resolve(script).declaration.requirements == ("tinyalpha", "tinybeta")

    apply_edit(plan_edit(script, remove=["tinybeta"]))
    assert script.read_bytes() == original  # add then remove: the original bytes


def test_notebook_saved_with_crlf_keeps_its_line_breaks(
    isolated_cache: Path, tmp_path: Path
) -> None:
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "decl",
            "metadata": {},
            "outputs": [],
            # A cell typed on Windows: its lines end in CRLF inside the JSON strings too.
            "source": ["# /// script\r\n", '# dependencies = ["tinyalpha"]\r\n', "# ///"],
        },
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "body",
            "metadata": {},
            "outputs": [],
            "source": ["import tinyalpha"],
        },
    ]
    data = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    nb = tmp_path / "windows.ipynb"
    original = (json.dumps(data, indent=1) + "\n").replace("\n", "\r\n").encode()
    nb.write_bytes(original)
    assert resolve(nb).declaration.requirements == ("tinyalpha",)

    apply_edit(plan_edit(nb, add=["tinybeta"]))
    after = nb.read_bytes()
    assert b"\n" not in after.replace(b"\r\n", b"")  # the file's CRLF layout kept
    source = json.loads(after)["cells"][0]["source"]
    assert source == [
        "# /// script\r\n",
        '# dependencies = ["tinyalpha", "tinybeta"]\r\n',
        "# ///",
    ]
    apply_edit(plan_edit(nb, remove=["tinybeta"]))
    assert nb.read_bytes() == original


BROKEN = {
    "unterminated": (
        "import os\n# /// script\n# dependencies = ['tinyalpha']\n\nprint(1)\n",
        2,
        "no closing '# ///' line",
    ),
    "duplicated": (
        "# /// script\n# dependencies = ['tinyalpha']\n# ///\n"
        "x = 1\n"
        "# /// script\n# dependencies = ['tinybeta']\n# ///\n",
        5,
        "two '# /// script' blocks",
    ),
    "back-to-back": (
        "# /// script\n# dependencies = ['tinyalpha']\n# ///\n"
        "# /// script\n# dependencies = ['tinybeta']\n# ///\n",
        4,
        "two '# /// script' blocks",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("ending", ["lf", "crlf"])
def test_a_broken_block_is_an_error_at_its_line_and_nothing_is_written(
    isolated_cache: Path, tmp_path: Path, case: str, ending: str
) -> None:
    text, line, words = BROKEN[case]
    script = tmp_path / "broken.py"
    original = _write(script, text, ENDINGS[ending])
    with pytest.raises(DeclarationError) as err:
        resolve(script)
    assert err.value.line == line and words in err.value.message
    with pytest.raises(DeclarationError):
        plan_edit(script, add=["tinygamma"])
    # The command line: one line naming the file and the line, exit 2, the file untouched.
    proc = envlens("add", str(script), "tiny-gamma", cwd=tmp_path)
    assert proc.returncode == 2
    assert f"broken.py:{line}: " in proc.stderr and words in proc.stderr
    assert "Traceback" not in proc.stderr
    assert script.read_bytes() == original
    proc = envlens("run", str(script), cwd=tmp_path)
    assert proc.returncode == 2 and words in proc.stderr
    assert not (tmp_path / "broken.out.ipynb").exists()


@pytest.mark.slow
def test_a_crlf_script_runs_in_its_declared_environment(
    offline_index: Path, tmp_path: Path
) -> None:
    """The case from the field: a script saved on Windows ran without its dependencies."""
    script = tmp_path / "windows.py"
    _write(script, LF_SCRIPT, "\r\n")
    proc = envlens("run", str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads((tmp_path / "windows.out.ipynb").read_text())
    printed = "".join(
        "".join(o.get("text", "")) for c in out["cells"] for o in c.get("outputs", [])
    )
    assert "tinyalpha 2.0" in printed
