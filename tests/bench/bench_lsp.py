"""Latency of the language server: code lenses, and diagnostics after a change.

    .venv/bin/python tests/bench/bench_lsp.py [--n 100]

On a 5,000-line percent script and a 300-cell notebook, each round changes one line (one cell) and
then measures (a) the time from sending the change to receiving its publishDiagnostics and (b) a
textDocument/codeLens request. The baseline is a trivial pygls server (one lens, empty diagnostics)
driven by the same client in the same run, so the ratios say what envlens itself costs.
Goal: p95 at most 5 ms for the script and 10 ms for the notebook.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

TRIVIAL_SERVER = textwrap.dedent("""
    from lsprotocol import types
    from pygls.lsp.server import LanguageServer

    server = LanguageServer("trivial", "1", notebook_document_sync=types.NotebookDocumentSyncOptions(
        notebook_selector=[types.NotebookDocumentFilterWithNotebook(
            notebook="jupyter-notebook", cells=[types.NotebookCellLanguage(language="python")])]))

    def publish(uri, version):
        server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def opened(ls, params):
        publish(params.text_document.uri, params.text_document.version)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def nb_opened(ls, params):
        for doc in params.cell_text_documents:
            publish(doc.uri, doc.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def changed(ls, params):
        publish(params.text_document.uri, params.text_document.version)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def nb_changed(ls, params):
        for tc in params.change.cells.text_content or []:
            publish(tc.document.uri, tc.document.version)

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    def lens(ls, params):
        return [types.CodeLens(range=types.Range(types.Position(0, 0), types.Position(0, 0)),
                               command=types.Command(title="Hello", command="noop"))]

    server.start_io()
""")


def make_script(lines: int) -> str:
    head = [
        "# /// script",
        '# requires-python = ">=3.10"',
        '# dependencies = ["numpy", "pandas", "matplotlib"]',
        "# ///",
        "",
    ]
    body: list[str] = []
    i = 0
    while len(head) + len(body) < lines - 1:
        body += [
            "# %%",
            "import os",
            "import numpy as np",
            "from pandas import DataFrame",
            f"def f{i}(x):",
            f"    return np.sum(x) + {i}",
            "",
        ]
        i += 1
    return "\n".join(head + body) + "\nimport yaml\n"


def make_cells(n: int) -> list[str]:
    cells = ['# /// script\n# dependencies = ["numpy", "pandas"]\n# ///']
    for i in range(n - 1):
        cells.append(f"import numpy as np\nimport os\nx{i} = np.arange({i})\nprint(x{i}.sum())")
    return cells


class Bench:
    def __init__(self, name: str, cmd: list[str]) -> None:
        self.name, self.cmd = name, cmd
        self.client = LanguageClient("bench", "1")
        self.waiting: dict[tuple[str, int | None], asyncio.Future[float]] = {}

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diags(params: types.PublishDiagnosticsParams) -> None:
            fut = self.waiting.pop((params.uri, params.version), None)
            if fut is not None and not fut.done():
                fut.set_result(time.perf_counter())

        for method in (types.WORKSPACE_CODE_LENS_REFRESH, types.WINDOW_WORK_DONE_PROGRESS_CREATE):
            self.client.feature(method)(lambda params: None)

        @self.client.feature(types.WORKSPACE_CONFIGURATION)
        def config(params: Any) -> list[Any]:
            return [{} for _ in params.items]

    async def start(self) -> None:
        await self.client.start_io(*self.cmd)
        caps = types.ClientCapabilities(
            workspace=types.WorkspaceClientCapabilities(configuration=True),
            notebook_document=types.NotebookDocumentClientCapabilities(
                synchronization=types.NotebookDocumentSyncClientCapabilities()
            ),
        )
        await self.client.initialize_async(types.InitializeParams(capabilities=caps))
        self.client.initialized(types.InitializedParams())

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()

    def expect(self, uri: str, version: int) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[(uri, version)] = fut
        return fut

    async def lens(self, uri: str) -> float:
        t = time.perf_counter()
        await self.client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri))
        )
        return time.perf_counter() - t

    async def script(self, path: Path, text: str, n: int) -> tuple[list[float], list[float]]:
        uri = path.as_uri()
        fut = self.expect(uri, 1)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
            )
        )
        await asyncio.wait_for(fut, 60)
        line = text.count("\n") - 1  # the last line: `import yaml` / `import yam`
        diag_t, lens_t = [], []
        for i in range(n):
            version = i + 2
            new = "import yam" if i % 2 == 0 else "import yaml"
            fut = self.expect(uri, version)
            t = time.perf_counter()
            self.client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[
                        types.TextDocumentContentChangePartial(
                            range=types.Range(types.Position(line, 0), types.Position(line, 20)),
                            text=new,
                        )
                    ],
                )
            )
            diag_t.append(await asyncio.wait_for(fut, 30) - t)
            lens_t.append(await self.lens(uri))
        return diag_t, lens_t

    async def notebook(
        self, path: Path, cells: list[str], n: int
    ) -> tuple[list[float], list[float]]:
        uri = path.as_uri()
        cell_uris = [f"vscode-notebook-cell:{path}#C{i}" for i in range(len(cells))]
        target = len(cells) // 2
        fut = self.expect(cell_uris[target], 1)
        self.client.notebook_document_did_open(
            types.DidOpenNotebookDocumentParams(
                notebook_document=types.NotebookDocument(
                    uri=uri,
                    notebook_type="jupyter-notebook",
                    version=1,
                    metadata={},
                    cells=[
                        types.NotebookCell(kind=types.NotebookCellKind.Code, document=u)
                        for u in cell_uris
                    ],
                ),
                cell_text_documents=[
                    types.TextDocumentItem(uri=u, language_id="python", version=1, text=t)
                    for u, t in zip(cell_uris, cells, strict=True)
                ],
            )
        )
        await asyncio.wait_for(fut, 60)
        diag_t, lens_t = [], []
        for i in range(n):
            version = i + 2
            text = cells[target] + ("\nimport yaml" if i % 2 == 0 else "")
            fut = self.expect(cell_uris[target], version)
            t = time.perf_counter()
            self.client.notebook_document_did_change(
                types.DidChangeNotebookDocumentParams(
                    notebook_document=types.VersionedNotebookDocumentIdentifier(
                        uri=uri, version=version
                    ),
                    change=types.NotebookDocumentChangeEvent(
                        cells=types.NotebookDocumentCellChanges(
                            text_content=[
                                types.NotebookDocumentCellContentChanges(
                                    document=types.VersionedTextDocumentIdentifier(
                                        uri=cell_uris[target], version=version
                                    ),
                                    changes=[
                                        types.TextDocumentContentChangeWholeDocument(text=text)
                                    ],
                                )
                            ]
                        )
                    ),
                )
            )
            diag_t.append(await asyncio.wait_for(fut, 30) - t)
            lens_t.append(await self.lens(cell_uris[0]))
        return diag_t, lens_t


def cpu_per_change(script: str, cells: list[str], n: int) -> dict[str, float]:
    """The server's own CPU per change, in this process (insensitive to other load on the machine):
    pygls applying the change plus envlens's analysis of the document."""
    from pygls.workspace import TextDocument

    from envlens.analysis import CellText, Snapshot, analyse

    tmp = Path(tempfile.mkdtemp(prefix="envlens-bench-cpu-"))
    doc = TextDocument((tmp / "s.py").as_uri(), script)
    line = script.count("\n") - 1
    analyse(Snapshot(tmp / "s.py", text=doc.source))
    t = time.process_time()
    for i in range(n):
        doc.apply_change(
            types.TextDocumentContentChangePartial(
                range=types.Range(types.Position(line, 0), types.Position(line, 20)),
                text="import yam" if i % 2 == 0 else "import yaml",
            )
        )
        analyse(Snapshot(tmp / "s.py", text=doc.source))
    script_ms = (time.process_time() - t) / n * 1000
    base = tuple(CellText("code", f"cell{i}", c) for i, c in enumerate(cells))
    analyse(Snapshot(tmp / "n.ipynb", cells=base, metadata={}))
    target = len(cells) // 2
    t = time.process_time()
    for i in range(n):
        edited = list(base)
        edited[target] = CellText(
            "code", f"cell{target}", cells[target] + ("\nimport yaml" if i % 2 == 0 else "")
        )
        analyse(Snapshot(tmp / "n.ipynb", cells=tuple(edited), metadata={}))
    notebook_ms = (time.process_time() - t) / n * 1000
    return {"script": script_ms, "notebook": notebook_ms}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] * 1000


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="envlens-bench-"))
    (tmp / "trivial_server.py").write_text(TRIVIAL_SERVER)
    script, cells = make_script(5000), make_cells(300)
    servers = {
        "trivial": [sys.executable, str(tmp / "trivial_server.py")],
        "envlens": os.environ.get("ENVLENS_BENCH_SERVER", "").split()
        or [sys.executable, "-m", "envlens", "serve"],
    }
    results: dict[str, dict[str, list[float]]] = {}
    for name, cmd in servers.items():
        b = Bench(name, cmd)
        await b.start()
        try:
            sd, sl = await b.script(tmp / f"{name}.py", script, args.n)
            nd, nl = await b.notebook(tmp / f"{name}.ipynb", cells, args.n)
        finally:
            await b.stop()
        results[name] = {
            "script diagnostics": sd,
            "script codeLens": sl,
            "notebook diagnostics": nd,
            "notebook codeLens": nl,
        }
    print(
        f"{script.count(chr(10)) + 1}-line script, {len(cells)}-cell notebook, {args.n} rounds each"
    )
    print(
        f"{'measure':24} {'trivial p50/p95 ms':>20} {'envlens p50/p95 ms':>20} {'ratio p95':>10} {'goal':>8}"
    )
    ok = True
    for measure in results["envlens"]:
        t, e = results["trivial"][measure], results["envlens"][measure]
        goal = 5.0 if measure.startswith("script") else 10.0
        ok &= pct(e, 0.95) <= goal
        print(
            f"{measure:24} {pct(t, 0.5):9.2f} / {pct(t, 0.95):7.2f} {pct(e, 0.5):9.2f} / {pct(e, 0.95):7.2f}"
            f" {pct(e, 0.95) / max(pct(t, 0.95), 1e-6):9.2f}x {'<=' + str(goal):>8}"
        )
    print(
        "goal met"
        if ok
        else "goal NOT met (see the load average: the trivial server's p95 shows the noise)"
    )
    cpu = cpu_per_change(script, cells, args.n)
    print(
        f"server CPU per change (in process): script {cpu['script']:.2f} ms, notebook {cpu['notebook']:.2f} ms"
    )
    print(
        f"load average while measuring: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
