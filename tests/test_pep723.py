"""PEP 723 blocks in scripts: reading per the PEP, format-preserving edits, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from envlens.edit import apply_edit, plan_edit
from envlens.errors import DeclarationError, InvalidRequirementError
from envlens.resolve import resolve
from envlens.sources.pep723 import edit_script_text, find_script_block, read_metadata

SCRIPT = """\
#!/usr/bin/env python3
# /// script
# requires-python = ">=3.10"
# dependencies = [
#   "Requests<3",  # the HTTP one
#   "rich",
# ]
#
# [tool.uv]
# exclude-newer = "2025-01-01T00:00:00Z"
# ///
\"\"\"A script.\"\"\"

# %%
import requests
print(requests.__version__)
"""


def write(tmp_path: Path, text: str, name: str = "s.py") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode())
    return p


def test_reads_dependencies_and_settings() -> None:
    block = find_script_block(SCRIPT)
    assert block is not None
    assert (block.start_line, block.end_line) == (1, 10)
    meta = read_metadata(block)
    assert meta.dependencies == ("Requests<3", "rich")
    assert meta.requires_python == ">=3.10"
    assert meta.exclude_newer == "2025-01-01T00:00:00Z"


def test_resolve_normalises(tmp_path: Path) -> None:
    res = resolve(write(tmp_path, SCRIPT))
    assert res.spec.requirements == ("requests<3", "rich")
    assert res.declaration.kind == "pep723"
    assert len(res.key) == 16


def test_identical_declarations_share_a_key(tmp_path: Path) -> None:
    a = write(tmp_path, "# /// script\n# dependencies = ['rich', 'Requests<3']\n# ///\n", "a.py")
    b = write(
        tmp_path,
        '# /// script\n# dependencies = [\n#   "requests <3",\n#   "RICH",\n# ]\n# ///\n',
        "b.py",
    )
    c = write(tmp_path, "# /// script\n# dependencies = ['rich', 'requests<4']\n# ///\n", "c.py")
    assert resolve(a).key == resolve(b).key
    assert resolve(a).key != resolve(c).key


def test_other_block_types_are_ignored() -> None:
    text = "# /// pyproject\n# x = 1\n# ///\nprint(1)\n"
    assert find_script_block(text) is None


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("import os\n# /// script\n# dependencies = [\n# ///\n", 3, "not valid TOML"),
        (
            "# /// script\n# dependencies = []\n# ///\n\n# /// script\n# dependencies = []\n# ///\n",
            5,
            "two",
        ),
        (
            "# /// script\n# dependencies = [\n#   'numpy',\n#   'pandas >>= 2',\n# ]\n# ///\n",
            4,
            "invalid requirement",
        ),
        ("# /// script\n# requires-python = 'three'\n# ///\n", 2, "requires-python"),
        ("# /// script\n# dependencies = 'numpy'\n# ///\n", 2, "list of strings"),
    ],
)
def test_bad_blocks_name_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(DeclarationError) as info:
        resolve(p)
    err = info.value
    assert err.path == p
    assert err.line == line
    assert fragment in err.message
    assert str(p) in err.one_line()
    # Editing a broken file changes nothing.
    with pytest.raises(DeclarationError):
        plan_edit(p, add=["rich"])
    assert p.read_text() == text


def test_add_changes_only_the_block(tmp_path: Path) -> None:
    p = write(tmp_path, SCRIPT)
    assert apply_edit(plan_edit(p, add=["numpy>=2", "rich>=13"]))
    new = p.read_text()
    assert new == SCRIPT.replace('#   "rich",\n', '#   "rich>=13",\n#   "numpy>=2",\n')
    assert resolve(p).spec.requirements == ("numpy>=2", "requests<3", "rich>=13")


def test_remove_keeps_comments_and_other_lines(tmp_path: Path) -> None:
    p = write(tmp_path, SCRIPT)
    apply_edit(plan_edit(p, remove=["RICH"]))
    assert p.read_text() == SCRIPT.replace('#   "rich",\n', "")


def test_new_block_goes_after_shebang_and_keeps_the_rest(tmp_path: Path) -> None:
    body = "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\nimport numpy\n"
    p = write(tmp_path, body)
    apply_edit(plan_edit(p, add=["numpy"]))
    text = p.read_text()
    assert text.startswith("#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n# /// script\n")
    assert text.endswith("# ///\n\nimport numpy\n")
    assert resolve(p).spec.requirements == ("numpy",)


def test_crlf_files_keep_their_line_endings(tmp_path: Path) -> None:
    text = "# /// script\r\n# dependencies = []\r\n# ///\r\nprint('hi')\r\n"
    p = write(tmp_path, text)
    edit = plan_edit(p, add=["rich"])
    assert edit.new_text.endswith("print('hi')\r\n")


def test_invalid_requirement_on_add_changes_nothing(tmp_path: Path) -> None:
    p = write(tmp_path, SCRIPT)
    with pytest.raises(InvalidRequirementError) as info:
        plan_edit(p, add=["numpy>>2"])
    assert "numpy>>2" in info.value.message
    assert p.read_text() == SCRIPT


def test_set_requires_python() -> None:
    out = edit_script_text(SCRIPT, requires_python=">=3.12")
    assert out == SCRIPT.replace('">=3.10"', '">=3.12"')


def test_unterminated_list_says_what_is_missing(tmp_path: Path) -> None:
    p = write(tmp_path, '# /// script\n# dependencies = ["numpy",\n# ///\n')
    with pytest.raises(DeclarationError) as info:
        resolve(p)
    assert "missing ]" in info.value.message
    assert "\\x00" not in info.value.message
