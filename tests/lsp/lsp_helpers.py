"""Helpers for the LSP tests: a real `envlens serve` driven by pytest-lsp's client with VS Code's capabilities (plus notebooks).

`client` (module scope, so one server per test module): environments go to a fresh cache, and uv
installs only from the test wheelhouse and the tiny index (no PyPI). The client records what the
server asks of it: `applied_edits` (workspace/applyEdit, applied to `Editor` buffers), `notebook_edits`
(envlens/applyNotebookEdit), `lens_refreshes`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

NOTEBOOK_CAPS = types.NotebookDocumentClientCapabilities(
    synchronization=types.NotebookDocumentSyncClientCapabilities(
        dynamic_registration=True, execution_summary_support=True
    )
)


def capabilities() -> types.ClientCapabilities:
    caps = client_capabilities("visual-studio-code")
    caps.notebook_document = NOTEBOOK_CAPS
    return caps


class Recorder:
    def __init__(self) -> None:
        self.applied_edits: list[types.WorkspaceEdit] = []
        self.notebook_edits: list[dict[str, Any]] = []
        self.lens_refreshes = 0
        self.declaration_changes: list[dict[str, Any]] = []
        self.editors: dict[str, Editor] = {}
        self.notebooks: dict[str, Notebook] = {}


async def start_client(
    env: dict[str, str], settings: dict[str, Any] | None = None
) -> tuple[LanguageClient, Recorder]:
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "envlens", "serve"], server_env=env
    )
    client = await config.start()
    assert isinstance(client, LanguageClient)
    rec = Recorder()
    # lsprotocol 2025.0.0 reads any code action that has a `command` as a bare Command; VS Code does not.
    conv = client.protocol._converter

    def code_action_or_command(obj: Any, _: Any) -> Any:
        if isinstance(obj.get("command"), str):
            return conv.structure(obj, types.Command)
        return conv.structure(obj, types.CodeAction)

    conv.register_structure_hook(Union[types.Command, types.CodeAction], code_action_or_command)  # noqa: UP007
    client.set_configuration(settings or {}, section="envlens")

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        rec.applied_edits.append(params.edit)
        for change in params.edit.document_changes or []:
            assert isinstance(change, types.TextDocumentEdit)
            uri = change.text_document.uri
            if uri in rec.editors:
                rec.editors[uri].apply(change.edits)
            else:
                for nb in rec.notebooks.values():
                    if uri in nb.cell_uris:
                        nb.apply_cell_edits(uri, change.edits)
        return types.ApplyWorkspaceEditResult(applied=True)

    @client.feature("envlens/applyNotebookEdit")
    def apply_notebook_edit(params: Any) -> dict[str, Any]:
        data = plain(params)
        rec.notebook_edits.append(data)
        nb = rec.notebooks.get(data["uri"])
        if nb is not None:
            nb.apply_operations(data["edits"])
        return {"applied": True}

    @client.feature("envlens/declarationChanged")
    def declaration_changed(params: Any) -> None:
        rec.declaration_changes.append(plain(params))

    @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def refresh(params: Any) -> None:
        rec.lens_refreshes += 1

    await client.initialize_session(
        types.InitializeParams(capabilities=capabilities(), process_id=os.getpid())
    )
    return client, rec


# --- a minimal editor: buffers that follow the server's edits and send didChange -------------------


def offset(text: str, pos: types.Position) -> int:
    lines = text.split("\n")
    return sum(len(line) + 1 for line in lines[: pos.line]) + pos.character


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    for e in sorted(
        edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True
    ):
        text = text[: offset(text, e.range.start)] + e.new_text + text[offset(text, e.range.end) :]
    return text


class Editor:
    """One open `.py` file."""

    def __init__(self, client: LanguageClient, rec: Recorder, path: Path, text: str) -> None:
        self.client, self.rec, self.path, self.text = client, rec, path, text
        self.uri = path.as_uri()
        self.version = 1
        rec.editors[self.uri] = self
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=self.uri, language_id="python", version=1, text=text)
            )
        )

    def set_text(self, text: str) -> None:
        self.text = text
        self.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def apply(self, edits: list[Any]) -> None:
        self.set_text(apply_text_edits(self.text, edits))

    def close(self) -> None:
        self.rec.editors.pop(self.uri, None)
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(self.uri))
        )


class Notebook:
    """One open notebook: cells (kind, text) and Jupyter metadata, synced as VS Code does."""

    def __init__(
        self,
        client: LanguageClient,
        rec: Recorder,
        path: Path,
        cells: list[tuple[str, str]],
        metadata: dict[str, Any] | None = None,
        uri: str
        | None = None,  # an untitled notebook's ("untitled:Untitled-1.ipynb?jupyter-notebook")
    ) -> None:
        self.client, self.rec, self.path = client, rec, path
        self.uri = uri or path.as_uri()
        self.version = 1
        self.metadata = metadata or {}
        self._n = 0
        self.cells: list[dict[str, Any]] = [self._cell(kind, text) for kind, text in cells]
        rec.notebooks[self.uri] = self
        client.notebook_document_did_open(
            types.DidOpenNotebookDocumentParams(
                notebook_document=types.NotebookDocument(
                    uri=self.uri,
                    notebook_type="jupyter-notebook",
                    version=1,
                    metadata={"metadata": self.metadata, "nbformat": 4, "nbformat_minor": 5},
                    cells=[self._lsp_cell(c) for c in self.cells],
                ),
                cell_text_documents=[self._item(c) for c in self.cells],
            )
        )

    def _cell(self, kind: str, text: str) -> dict[str, Any]:
        self._n += 1
        # As VS Code sends them: the fragment is quoted (base64 padding as %3D), and pygls keys its
        # documents by the unquoted URI, so the server must look cells up either way.
        uri = f"vscode-notebook-cell:{self.path}#W{self._n}sZmlsZQ%3D%3D"
        return {"kind": kind, "text": text, "uri": uri, "version": 1}

    @staticmethod
    def _lsp_cell(c: dict[str, Any]) -> types.NotebookCell:
        kind = types.NotebookCellKind.Code if c["kind"] == "code" else types.NotebookCellKind.Markup
        return types.NotebookCell(kind=kind, document=c["uri"])

    @staticmethod
    def _item(c: dict[str, Any]) -> types.TextDocumentItem:
        return types.TextDocumentItem(
            uri=c["uri"],
            language_id="python" if c["kind"] == "code" else "markdown",
            version=c["version"],
            text=c["text"],
        )

    @property
    def cell_uris(self) -> list[str]:
        return [c["uri"] for c in self.cells]

    def texts(self) -> list[str]:
        return [c["text"] for c in self.cells]

    def set_cell(self, index: int, text: str) -> None:
        c = self.cells[index]
        c["text"] = text
        c["version"] += 1
        self.version += 1
        self.client.notebook_document_did_change(
            types.DidChangeNotebookDocumentParams(
                notebook_document=types.VersionedNotebookDocumentIdentifier(
                    uri=self.uri, version=self.version
                ),
                change=types.NotebookDocumentChangeEvent(
                    cells=types.NotebookDocumentCellChanges(
                        text_content=[
                            types.NotebookDocumentCellContentChanges(
                                document=types.VersionedTextDocumentIdentifier(
                                    uri=c["uri"], version=c["version"]
                                ),
                                changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
                            )
                        ]
                    )
                ),
            )
        )

    def apply_cell_edits(self, uri: str, edits: list[Any]) -> None:
        idx = self.cell_uris.index(uri)
        self.set_cell(idx, apply_text_edits(self.cells[idx]["text"], edits))

    def apply_operations(self, ops: list[dict[str, Any]]) -> None:
        for op in ops:
            self.version += 1
            if op["kind"] == "metadata":
                self.metadata = op["metadata"]
                self.client.notebook_document_did_change(
                    types.DidChangeNotebookDocumentParams(
                        notebook_document=types.VersionedNotebookDocumentIdentifier(
                            uri=self.uri, version=self.version
                        ),
                        change=types.NotebookDocumentChangeEvent(
                            metadata={"metadata": self.metadata, "nbformat": 4, "nbformat_minor": 5}
                        ),
                    )
                )
                continue
            start, count = op["start"], op["deleteCount"]
            new = [self._cell(c["kind"], c["source"]) for c in op["cells"]]
            removed = self.cells[start : start + count]
            self.cells[start : start + count] = new
            self.client.notebook_document_did_change(
                types.DidChangeNotebookDocumentParams(
                    notebook_document=types.VersionedNotebookDocumentIdentifier(
                        uri=self.uri, version=self.version
                    ),
                    change=types.NotebookDocumentChangeEvent(
                        cells=types.NotebookDocumentCellChanges(
                            structure=types.NotebookDocumentCellChangeStructure(
                                array=types.NotebookCellArrayChange(
                                    start=start,
                                    delete_count=count,
                                    cells=[self._lsp_cell(c) for c in new],
                                ),
                                did_open=[self._item(c) for c in new],
                                did_close=[types.TextDocumentIdentifier(c["uri"]) for c in removed],
                            )
                        )
                    ),
                )
            )

    def close(self) -> None:
        self.rec.notebooks.pop(self.uri, None)
        self.client.notebook_document_did_close(
            types.DidCloseNotebookDocumentParams(
                notebook_document=types.NotebookDocumentIdentifier(self.uri),
                cell_text_documents=[types.TextDocumentIdentifier(u) for u in self.cell_uris],
            )
        )


async def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll until `check()` is truthy (diagnostics and notifications arrive asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def by_code(diags: Any, code: str) -> list[types.Diagnostic]:
    return [d for d in diags or [] if d.code == code]


def rng(d: types.Diagnostic) -> tuple[int, int, int, int]:
    r = d.range
    return (r.start.line, r.start.character, r.end.line, r.end.character)


def plain(value: Any) -> Any:
    """A custom request's result as JSON-like dicts and lists (pygls hands back named tuples)."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


async def request(client: Any, method: str, params: Any) -> Any:
    return plain(await client.protocol.send_request_async(method, params))
