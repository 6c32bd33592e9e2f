"""A percent script in the editor: diagnostics, lenses, quick fixes, commands (real server, real uv)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lsp_helpers import Editor, Recorder, by_code, rng, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT = """# /// script
# requires-python = ">=3.10"
# dependencies = [
#     "matplotlib",
#     "tinyalpha",
# ]
# ///

# %%
import os
import helpers
import matplotlib.pyplot as plt
from skimage import data, exposure

# %%
# !pip install -q "numpy>=2" pandas
print(os.getcwd(), plt, data, exposure, helpers)
"""


def lines(text: str) -> list[str]:
    return text.split("\n")


async def open_script(
    client: LanguageClient, rec: Recorder, tmp_path: Path, text: str, name: str = "s.py"
) -> Editor:
    return Editor(client, rec, tmp_path / name, text)


async def diags(
    client: LanguageClient, ed: Editor, code: str | None = None, n: int = 1
) -> list[types.Diagnostic]:
    def ready() -> list[types.Diagnostic] | None:
        d = client.diagnostics.get(ed.uri)
        if d is None:
            return None
        found = list(d) if code is None else by_code(d, code)
        return found if len(found) >= n else None

    return list(await wait_for(ready, what=f"{code} diagnostics"))


async def test_diagnostics_on_a_script(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    (tmp_path / "helpers.py").write_text("X = 1\n")
    ed = await open_script(client, rec, tmp_path, SCRIPT)
    undeclared = await diags(client, ed, "undeclared-import")
    assert len(undeclared) == 1, "os (stdlib), helpers (local) and matplotlib (declared) are fine"
    d = undeclared[0]
    assert d.severity == types.DiagnosticSeverity.Warning
    assert "scikit-image" in d.message and "'skimage'" in d.message
    assert rng(d) == (12, 5, 12, 12)
    assert lines(SCRIPT)[12][5:12] == "skimage"
    pip = by_code(client.diagnostics[ed.uri], "pip-install")
    assert len(pip) == 1 and pip[0].severity == types.DiagnosticSeverity.Information
    assert rng(pip[0])[0] == 15 and "numpy>=2, pandas" in pip[0].message
    unused = by_code(client.diagnostics[ed.uri], "unused-dependency")
    assert [u.message.split("'")[1] for u in unused] == ["tinyalpha"]
    assert unused[0].severity == types.DiagnosticSeverity.Hint
    assert lines(SCRIPT)[unused[0].range.start.line].strip() == '#     "tinyalpha",'
    ed.close()


async def test_broken_toml_and_bad_requirement_are_errors_at_their_place(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    ed = await open_script(client, rec, tmp_path, SCRIPT)
    await diags(client, ed, "undeclared-import")
    bad_req = SCRIPT.replace('"tinyalpha"', '"tiny alpha>>1"')
    ed.set_text(bad_req)
    [err] = await diags(client, ed, "declaration-error")
    assert err.severity == types.DiagnosticSeverity.Error
    line = lines(bad_req)[err.range.start.line]
    assert line[err.range.start.character : err.range.end.character] == "tiny alpha>>1"
    assert "invalid requirement" in err.message
    # Mid-typing: an unclosed list.
    broken = SCRIPT.replace('#     "tinyalpha",\n# ]', '#     "tinyalpha",')
    ed.set_text(broken)

    def toml_error() -> Any:
        d = by_code(client.diagnostics.get(ed.uri), "declaration-error")
        return d if d and "TOML" in d[0].message else None

    [err] = await wait_for(toml_error, what="TOML error")
    assert 0 < err.range.start.line <= 6
    ed.set_text(SCRIPT)
    await wait_for(
        lambda: not by_code(client.diagnostics.get(ed.uri), "declaration-error"), what="error gone"
    )
    ed.close()


async def lens_titles(client: LanguageClient, uri: str) -> list[str]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri))
    )
    return [lens.command.title for lens in lenses or [] if lens.command]


async def test_lenses_on_a_script(session: tuple[LanguageClient, Recorder], tmp_path: Path) -> None:
    client, rec = session
    ed = await open_script(client, rec, tmp_path, SCRIPT)
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(ed.uri))
    )
    assert [x.command.title for x in lenses if x.command] == [
        "Install Script Dependencies",
        "Lock Versions",
        "Check Portability",
    ]
    assert all(x.range.start.line == 0 for x in lenses)
    assert lenses[0].command and lenses[0].command.command == "envlens.install"
    ed.close()
    plain = await open_script(client, rec, tmp_path, "import numpy\nimport os\n", name="plain.py")
    assert await lens_titles(client, plain.uri) == ["Declare Dependencies from Imports"]
    plain.close()
    nothing = await open_script(client, rec, tmp_path, "import os\n", name="nothing.py")
    assert await lens_titles(client, nothing.uri) == []
    nothing.close()


async def actions(client: LanguageClient, uri: str, line: int) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(line, 0), types.Position(line, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """Lines only in `before`, lines only in `after` (a unified diff's - and +)."""
    import difflib

    minus, plus = [], []
    for line in difflib.unified_diff(before.split("\n"), after.split("\n"), lineterm="", n=0):
        if line.startswith("-") and not line.startswith("---"):
            minus.append(line[1:])
        elif line.startswith("+") and not line.startswith("+++"):
            plus.append(line[1:])
    return minus, plus


async def apply_action(client: LanguageClient, ed: Editor, action: types.CodeAction) -> str:
    resolved = await client.code_action_resolve_async(action)
    assert resolved.edit is not None, resolved
    changes = resolved.edit.document_changes or []
    assert [c.text_document.uri for c in changes if isinstance(c, types.TextDocumentEdit)] == [
        ed.uri
    ]
    from lsp_helpers import apply_text_edits

    edits = [e for c in changes if isinstance(c, types.TextDocumentEdit) for e in c.edits]
    return apply_text_edits(ed.text, edits)


async def test_quick_fix_adds_the_distribution(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    ed = await open_script(client, rec, tmp_path, SCRIPT)
    await diags(client, ed, "undeclared-import")
    found = await actions(client, ed.uri, 12)
    titles = [a.title for a in found]
    assert "Add 'scikit-image' to the script dependencies" in titles
    assert "Declare all imports" in titles
    fix = found[titles.index("Add 'scikit-image' to the script dependencies")]
    assert fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred
    assert fix.command is not None and fix.command.command == "envlens.install"
    after = await apply_action(client, ed, fix)
    minus, plus = changed_lines(SCRIPT, after)
    assert minus == [] and plus == ['#     "scikit-image",']
    ed.close()


async def test_move_pip_install_line(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    ed = await open_script(client, rec, tmp_path, SCRIPT)
    await diags(client, ed, "pip-install")
    found = await actions(client, ed.uri, 15)
    [move] = [a for a in found if a.title == "Move to declared dependencies"]
    after = await apply_action(client, ed, move)
    minus, plus = changed_lines(SCRIPT, after)
    assert minus == ['# !pip install -q "numpy>=2" pandas']
    assert sorted(plus) == ['#     "numpy>=2",', '#     "pandas",']
    ed.close()


async def test_declare_all_imports_command(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    text = "# %%\nimport os\nimport yaml\nfrom sklearn import svm\nimport cv2\n"
    ed = await open_script(client, rec, tmp_path, text, name="declare.py")
    await diags(client, ed, "undeclared-import", n=3)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="envlens.declareFromImports", arguments=[ed.uri])
    )
    assert result["ok"] and result["added"] == ["pyyaml", "scikit-learn", "opencv-python"]
    await wait_for(lambda: "# /// script" in ed.text, what="the edit")
    minus, plus = changed_lines(text, ed.text)
    assert minus == []
    assert ed.text.endswith(text), "only a block was added at the top"
    assert '#     "pyyaml",' in plus and '#     "opencv-python",' in plus
    await wait_for(
        lambda: not by_code(client.diagnostics.get(ed.uri), "undeclared-import"),
        what="warnings gone",
    )
    ed.close()
