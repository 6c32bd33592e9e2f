"""Edits envlens makes to a user's file, applied where the user sees them: through the editor for an
open document (its buffer, undo and dirty state: `workspace/applyEdit`, and envlens's own
`envlens/applyNotebookEdit` for notebook cells and metadata), on disk for a closed one. An edit of a
trusted declaration keeps it trusted (docs/trust.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from envlens.analysis import Snapshot
from envlens.edit import PlannedEdit, apply_edit, plan_edit
from envlens.errors import BadInputError, EnvlensError
from envlens.lsp import protocol as P
from envlens.lsp import trust as lsp_trust
from envlens.lsp.context import file_text
from envlens.lsp.edits import notebook_change, text_change
from envlens.lsp.server import EnvlensServer, client_answer


async def apply_planned(
    ls: EnvlensServer, key: str, snap: Snapshot, planned: list[PlannedEdit]
) -> bool:
    """Apply edits through the editor for open files (buffer, undo, dirty state), else on disk."""
    changed = False
    for edit in planned:
        if not edit.changed:
            continue
        changed = True
        uri = from_fs_path(str(edit.path)) or ""
        # envlens's own edit of a trusted declaration keeps it trusted (docs/trust.md).
        before = lsp_trust.state_before(ls, key) if edit.path == snap.path else None
        if edit.path == snap.path and ls.is_open(key) and snap.is_notebook:
            await _apply_notebook(ls, key, snap, edit)
        elif edit.path == snap.path and ls.is_open(key):
            await _apply_text(
                ls, key, edit.old_text, edit.new_text, label="envlens: edit dependencies"
            )
        elif (doc := ls.text_document(uri)) is not None:
            await _apply_text(
                ls, uri, doc.source, _rebase(doc.source, edit), label="envlens: edit dependencies"
            )
        else:
            await asyncio.to_thread(apply_edit, edit)
        if before is not None:
            lsp_trust.keep_trusted_after_edit(ls, key, before, edit.new_text)
    return changed


async def edit_declaration(
    ls: EnvlensServer,
    key: str,
    path: Path,
    snap: Snapshot,
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
) -> tuple[PlannedEdit, bool]:
    """Add/remove on the editor's (maybe unsaved) text, applied through the editor when open."""
    planned = plan_edit(path, add=add, remove=remove, text=file_text(snap), settings=ls.settings)
    return planned, await apply_planned(ls, key, snap, [planned])


def _rebase(current_text: str, edit: PlannedEdit) -> str:
    """A project file open in the editor: apply the planned change to the editor's text."""
    if current_text == edit.old_text:
        return edit.new_text
    raise BadInputError(
        f"{edit.path.name} has unsaved changes",
        path=edit.path,
        hint=f"Save {edit.path.name} and try again",
    )


def text_edit(old: str, new: str) -> types.TextEdit | None:
    tc = text_change(old, new)
    if tc is None:
        return None
    return types.TextEdit(
        range=types.Range(types.Position(*tc.start), types.Position(*tc.end)), new_text=tc.new_text
    )


def workspace_edit(
    ls: EnvlensServer, changes: dict[str, list[types.TextEdit]]
) -> types.WorkspaceEdit:
    if ls.supports("workspace", "workspace_edit", "document_changes"):
        doc_changes: list[Any] = []
        for uri, edits in changes.items():
            doc = ls.text_document(uri)
            doc_changes.append(
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=doc.version if doc is not None else None
                    ),
                    edits=list(edits),
                )
            )
        return types.WorkspaceEdit(document_changes=doc_changes)
    return types.WorkspaceEdit(changes=changes)


async def _send_workspace_edit(ls: EnvlensServer, edit: types.WorkspaceEdit, label: str) -> None:
    result = await client_answer(
        ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=label))
    )
    if not result.applied:
        raise EnvlensError(
            f"the editor did not apply the edit: {result.failure_reason or 'no reason given'}",
            hint="Save the file and try again",
        )


async def _apply_text(ls: EnvlensServer, uri: str, old: str, new: str, *, label: str) -> None:
    te = text_edit(old, new)
    if te is not None:
        await _send_workspace_edit(ls, workspace_edit(ls, {uri: [te]}), label)


def notebook_edits(
    ls: EnvlensServer, key: str, snap: Snapshot, new_text: str
) -> tuple[dict[str, list[types.TextEdit]], list[dict[str, Any]]]:
    """Cell text edits (by cell URI) and the notebook operations the client applies itself."""
    cells = snap.cells or ()
    change = notebook_change([c.text for c in cells], dict(snap.metadata or {}), new_text)
    text_edits: dict[str, list[types.TextEdit]] = {}
    for idx, tc in change.cell_edits.items():
        text_edits[cells[idx].uri] = [
            types.TextEdit(
                range=types.Range(types.Position(*tc.start), types.Position(*tc.end)),
                new_text=tc.new_text,
            )
        ]
    return text_edits, change.operations


async def apply_notebook_operations(ls: EnvlensServer, key: str, ops: list[dict[str, Any]]) -> None:
    try:
        result = await ls.ask_client(P.APPLY_NOTEBOOK_EDIT, {"uri": key, "edits": ops})
    except Exception as exc:
        raise EnvlensError(
            f"the editor could not add, remove or re-describe notebook cells ({exc})",
            path=to_fs_path(key),
            hint="Save and close the notebook, run the command again, and reopen it",
        ) from None
    applied = (
        result.get("applied") if isinstance(result, dict) else getattr(result, "applied", None)
    )
    if not applied:
        raise EnvlensError(
            "the editor did not apply the notebook edit",
            path=to_fs_path(key),
            hint="Save the notebook and try again",
        )


async def _apply_notebook(ls: EnvlensServer, key: str, snap: Snapshot, edit: PlannedEdit) -> None:
    text_edits, ops = notebook_edits(ls, key, snap, edit.new_text)
    if text_edits:
        await _send_workspace_edit(ls, workspace_edit(ls, text_edits), "envlens: edit dependencies")
    if ops:
        await apply_notebook_operations(ls, key, ops)
