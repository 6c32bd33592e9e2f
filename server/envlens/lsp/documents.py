"""Document and notebook sync: every change bumps the document's generation and queues diagnostics."""

from __future__ import annotations

from lsprotocol import types

from envlens.lsp.server import EnvlensServer


def register(server: EnvlensServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: EnvlensServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.touch(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: EnvlensServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.touch(ls.doc_key(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: EnvlensServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.forget(uri)
        clear_diagnostics(ls, [uri])

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def nb_open(ls: EnvlensServer, params: types.DidOpenNotebookDocumentParams) -> None:
        ls.touch(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def nb_change(ls: EnvlensServer, params: types.DidChangeNotebookDocumentParams) -> None:
        change = params.change
        touched: set[str] | None = set()
        if change.metadata is not None or (change.cells is not None and change.cells.structure):
            touched = None  # cells moved or metadata changed: every cell may need new diagnostics
        elif change.cells is not None and touched is not None:
            for tc in change.cells.text_content or []:
                touched.add(tc.document.uri)
        ls.touch(params.notebook_document.uri, touched)
        if change.cells is not None and change.cells.structure and change.cells.structure.did_close:
            clear_diagnostics(ls, [d.uri for d in change.cells.structure.did_close])

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def nb_close(ls: EnvlensServer, params: types.DidCloseNotebookDocumentParams) -> None:
        ls.forget(params.notebook_document.uri)
        clear_diagnostics(ls, [d.uri for d in params.cell_text_documents])


def clear_diagnostics(ls: EnvlensServer, uris: list[str]) -> None:
    for uri in uris:
        if ls.published.pop(uri, None):
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )
