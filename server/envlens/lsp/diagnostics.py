"""Findings -> `textDocument/publishDiagnostics`, per script or per notebook cell.

A notebook with 300 cells must not get 300 notifications per keystroke: a cell's diagnostics are sent
when its text changed or its diagnostics did.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from envlens.analysis import Analysis, Finding, Span
from envlens.lsp.edits import utf16_col
from envlens.lsp.server import EnvlensServer

SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}
SOURCE = "envlens"


def text_of(a: Analysis, cell: int | None) -> str:
    snap = a.snapshot
    if cell is None:
        return snap.text or ""
    return snap.cells[cell].text if snap.cells and 0 <= cell < len(snap.cells) else ""


def uri_of(a: Analysis, key: str, cell: int | None) -> str:
    if cell is None or a.snapshot.cells is None:
        return key
    return a.snapshot.cells[cell].uri


def lsp_range(a: Analysis, span: Span) -> types.Range:
    text = text_of(a, span.cell)
    if text.isascii():
        return types.Range(
            types.Position(span.line, span.start), types.Position(span.end_line, span.end)
        )
    lines = text.split("\n")

    def pos(line: int, col: int) -> types.Position:
        return types.Position(line, utf16_col(lines[line], col) if line < len(lines) else col)

    return types.Range(pos(span.line, span.start), pos(span.end_line, span.end))


def to_diagnostic(a: Analysis, f: Finding) -> types.Diagnostic:
    return types.Diagnostic(
        range=lsp_range(a, f.span),
        message=f.message,
        severity=SEVERITY[f.severity],
        source=SOURCE,
        code=f.kind,
        data=f.data or None,
        tags=[types.DiagnosticTag.Unnecessary] if f.kind == "unused-dependency" else None,
    )


def by_uri(a: Analysis, key: str) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in a.findings:
        out.setdefault(uri_of(a, key, f.span.cell), []).append(f)
    return out


def publish(ls: EnvlensServer, key: str, touched: set[str] | None) -> None:
    a = ls.analysis(key)
    grouped = by_uri(a, key) if a is not None else {}
    nb = ls.workspace.get_notebook_document(notebook_uri=key)
    targets = [c.document for c in nb.cells] if nb is not None else [key]
    for uri in targets:
        findings = grouped.get(uri, [])
        sig: tuple[Any, ...] = tuple((f.kind, f.message, f.span) for f in findings)
        if (
            nb is not None
            and touched is not None
            and uri not in touched
            and ls.published.get(uri, ()) == sig
        ):
            continue
        ls.published[uri] = sig
        doc = ls.text_document(uri)
        assert a is not None or not findings
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri,
                version=doc.version if doc is not None else None,
                diagnostics=[to_diagnostic(a, f) for f in findings] if a is not None else [],
            )
        )


def register(server: EnvlensServer) -> None:
    """Diagnostics are pushed (see EnvlensServer.touch): the server calls `publish` for each
    document whose findings may have changed."""
    server.publish_diagnostics = publish
