"""Quick fixes: add an undeclared import's distribution, move `!pip install` lines, declare all imports.

The edit of an action is computed when the editor resolves it (`codeAction/resolve`), not on every
cursor move. For a notebook whose change adds or removes cells or touches its metadata (which a
WorkspaceEdit cannot do), the action runs the matching command instead, which applies the change
through `envlens/applyNotebookEdit`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path

from envlens.analysis import Analysis, Finding, Snapshot
from envlens.edit import PlannedEdit, plan_edit
from envlens.errors import EnvlensError
from envlens.fileio import read_text
from envlens.lsp import protocol as P
from envlens.lsp.apply import notebook_edits, text_edit, workspace_edit
from envlens.lsp.context import file_text
from envlens.lsp.diagnostics import to_diagnostic
from envlens.lsp.server import EnvlensServer
from envlens.pipinstall import find_pip_installs, plan_move_notebook, plan_move_script, remove_lines
from envlens.sources.notebook import parse_notebook
from envlens.trust import question

QUICKFIX = types.CodeActionKind.QuickFix
SOURCE = types.CodeActionKind.Source


def _overlaps(f: Finding, cell: int | None, rng: types.Range) -> bool:
    if f.span.cell != cell:
        return False
    return not (f.span.end_line < rng.start.line or f.span.line > rng.end.line)


def _where(snap: Snapshot) -> str:
    return "the notebook's dependencies" if snap.is_notebook else "the script dependencies"


def _add_titles(f: Finding, where: str) -> list[tuple[str, str]]:
    """(distribution, title) of the quick fixes for an undeclared import, questioned as `envlens
    add` questions: each candidate of an ambiguous import, a warning on a name to check."""
    module = str(f.data["module"])
    source = f.data.get("source")
    candidates = [str(c) for c in f.data.get("candidates") or []]
    if source == "ambiguous" and candidates:
        return [
            (c, f"Add '{c}' to {where} (one of {len(candidates)} that provide '{module}')")
            for c in candidates
        ]
    dist = str(f.data["distribution"])
    flag = question(dist)
    if source == "unknown" or flag is not None:
        why = flag.detail if flag is not None else "no distribution on PyPI is known to provide it"
        return [(dist, f"Add '{dist}' to {where}? {why}")]
    return [(dist, f"Add '{dist}' to {where}")]


def needs_notebook_ops(a: Analysis, action: str, cells: list[int] | None = None) -> bool:
    """Whether a notebook change would add/remove cells or touch metadata (so: a command, not an edit)."""
    snap = a.snapshot
    if not snap.is_notebook or a.resolution is None:
        return False
    decl = a.resolution.declaration
    in_place = decl.kind == "pep723" or decl.python_project  # text edits, no cells or metadata
    if action == "remove":
        return not in_place
    if not in_place:
        return True
    if action == "move" and snap.cells:
        for idx in cells or []:
            text = snap.cells[idx].text
            if not remove_lines(text, find_pip_installs(text)).strip():
                return True
    return False


def plan(ls: EnvlensServer, key: str, snap: Snapshot, data: dict[str, Any]) -> list[PlannedEdit]:
    path = snap.path
    action = data.get("action")
    if action in ("add", "declare"):
        return [
            plan_edit(
                path, add=list(data["requirements"]), text=file_text(snap), settings=ls.settings
            )
        ]
    if action == "remove":
        return [
            plan_edit(path, remove=list(data["names"]), text=file_text(snap), settings=ls.settings)
        ]
    if action == "move":
        if snap.is_notebook:
            nb = parse_notebook(file_text(snap), path)
            return plan_move_notebook(
                nb, cells=set(data.get("cells") or []) or None, settings=ls.settings
            )
        return plan_move_script(
            path, snap.text or "", lines=set(data.get("lines") or []) or None, settings=ls.settings
        )
    return []


def to_workspace_edit(
    ls: EnvlensServer, key: str, snap: Snapshot, planned: list[PlannedEdit]
) -> types.WorkspaceEdit:
    changes: dict[str, list[types.TextEdit]] = {}
    for edit in planned:
        if not edit.changed:
            continue
        if edit.path == snap.path and snap.is_notebook:
            text_edits, _ops = notebook_edits(ls, key, snap, edit.new_text)
            changes.update(text_edits)
            continue
        uri = key if edit.path == snap.path else from_fs_path(str(edit.path)) or ""
        doc = ls.text_document(uri)
        old = (
            doc.source
            if doc is not None
            else edit.old_text
            if edit.path == snap.path
            else read_text(Path(edit.path))
        )
        te = text_edit(old, edit.new_text)
        if te is not None:
            changes[uri] = [te]
    return workspace_edit(ls, changes)


def _supports_resolve(ls: EnvlensServer) -> bool:
    support = getattr(
        getattr(getattr(ls.client_capabilities, "text_document", None), "code_action", None),
        "resolve_support",
        None,
    )
    return support is not None and "edit" in (support.properties or [])


def actions_for(ls: EnvlensServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    key = ls.doc_key(uri)
    a = ls.analysis(key)
    if a is None or a.resolution is None:
        return []
    snap = a.snapshot
    cell: int | None = None
    if snap.cells is not None:
        cell = next((i for i, c in enumerate(snap.cells) if c.uri == uri), None)
        if cell is None:
            return []
    only = params.context.only
    actions: list[types.CodeAction] = []

    def make(
        title: str,
        kind: str,
        data: dict[str, Any],
        finding: Finding | None,
        command: types.Command | None,
        ops_command: types.Command,
    ) -> None:
        if only and not any(kind.startswith(k) for k in only):
            return
        data = {**data, "uri": key, "title": title}
        cells = data.get("cells")
        if needs_notebook_ops(a, str(data["action"]), cells):
            actions.append(
                types.CodeAction(
                    title=title,
                    kind=kind,
                    command=ops_command,
                    diagnostics=[to_diagnostic(a, finding)] if finding else None,
                )
            )
            return
        action = types.CodeAction(
            title=title,
            kind=kind,
            data=data,
            command=command,
            diagnostics=[to_diagnostic(a, finding)] if finding else None,
            is_preferred=finding is not None
            and finding.kind == "undeclared-import"
            and finding.data.get("source") not in ("unknown", "ambiguous"),
        )
        actions.append(action)

    on_undeclared = False
    for f in a.findings:
        if not _overlaps(f, cell, params.range):
            continue
        if f.kind == "undeclared-import":
            on_undeclared = True
            for dist, title in _add_titles(f, _where(snap)):
                make(
                    title,
                    QUICKFIX,
                    {"action": "add", "requirements": [dist]},
                    f,
                    types.Command(title="Install", command=P.CMD_INSTALL, arguments=[key]),
                    types.Command(
                        title="Add and install",
                        command=P.CMD_INSTALL_AND_RERUN,
                        arguments=[key, str(f.data["module"])],
                    ),
                )
        elif f.kind == "pip-install" and f.data.get("movable"):
            where = (
                {"cells": [f.span.cell]} if f.span.cell is not None else {"lines": [f.span.line]}
            )
            make(
                "Move to declared dependencies",
                QUICKFIX,
                {"action": "move", **where},
                f,
                None,
                types.Command(
                    title="Move", command=P.CMD_MOVE_PIP_INSTALLS, arguments=[key, where]
                ),
            )
        elif f.kind == "stale-lock":
            relock = types.Command(
                title="Re-lock", command=P.CMD_LOCK, arguments=[key, {"upgrade": False}]
            )
            if not only or any(QUICKFIX.startswith(k) for k in only):
                actions.append(
                    types.CodeAction(
                        title="Re-lock: update the lock to the declared dependencies",
                        kind=QUICKFIX,
                        command=relock,
                        diagnostics=[to_diagnostic(a, f)],
                        is_preferred=True,
                    )
                )
        elif f.kind == "unused-dependency":
            name = str(f.data["name"])
            make(
                f"Remove '{f.data['requirement']}' from the dependencies",
                QUICKFIX,
                {"action": "remove", "names": [name]},
                f,
                None,
                types.Command(title="Remove", command=P.CMD_REMOVE, arguments=[key, [name]]),
            )
    dists = a.undeclared_distributions
    if dists and (
        on_undeclared or not only or any(SOURCE.startswith(k) or k.startswith(SOURCE) for k in only)
    ):
        make(
            "Declare all imports",
            QUICKFIX if on_undeclared else SOURCE,
            {"action": "declare", "requirements": dists},
            None,
            None,
            types.Command(title="Declare", command=P.CMD_DECLARE_FROM_IMPORTS, arguments=[key]),
        )
    if not _supports_resolve(ls):
        actions = [resolve_action(ls, act) for act in actions]
    return actions


def resolve_action(ls: EnvlensServer, action: types.CodeAction) -> types.CodeAction:
    data = action.data
    if not isinstance(data, dict) or "uri" not in data:
        return action
    key = str(data["uri"])
    a = ls.analysis(key)
    if a is None:
        return action
    try:
        planned = plan(ls, key, a.snapshot, data)
        action.edit = to_workspace_edit(ls, key, a.snapshot, planned)
    except EnvlensError as exc:
        # The file changed since the action was offered, or the declaration is broken: say so.
        action.disabled = types.CodeActionDisabled(reason=exc.one_line())
    return action


def register(server: EnvlensServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[QUICKFIX, SOURCE], resolve_provider=True),
    )
    def code_action(ls: EnvlensServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return actions_for(ls, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    def code_action_resolve(ls: EnvlensServer, action: types.CodeAction) -> types.CodeAction:
        return resolve_action(ls, action)
