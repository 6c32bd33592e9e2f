"""The envlens language server: open documents and notebooks, per-version analyses, environment state.

`create_server()` wires the feature modules onto one `EnvlensServer`. The server only translates:
what a document means comes from `analysis.analyse` (and through it from the core modules).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from envlens import __version__
from envlens.envs import inventory as envinfo
from envlens.envs import jobs
from envlens.errors import EnvlensError
from envlens.fileio import read_text
from envlens.lsp.analysis import Analysis, CellText, Snapshot, analyse
from envlens.resolve import Resolution
from envlens.settings import Settings
from envlens.sources.notebook import cell_source, load_notebook

log = logging.getLogger("envlens.lsp")


@dataclass
class Operation:
    """One environment operation (add, remove, sync, import, revert, lock, check), as the
    environment view lists it; persisted as a job (envs/jobs.py), so it outlives the server."""

    id: str
    title: str
    key: str
    status: str = "running"  # queued | running | succeeded | failed | cancelled
    log: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    ended: float | None = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    token: str | None = None
    future: asyncio.Future[Any] | None = None
    count: int = 0  # packages being installed
    job: jobs.Job | None = None
    kind: str = "sync"
    version: int | None = None  # the history version it recorded

    def note(self, line: str) -> None:
        """A line of its log (safe from a build thread)."""
        self.log.append(line)
        if self.job is not None:
            self.job.append(line)

    def wait(self) -> None:
        """Running -> queued (another job of the same file runs first)."""
        self.status = "queued"
        if self.job is not None:
            self.job.status = "queued"
            with contextlib.suppress(OSError):
                self.job.save()

    def begin(self) -> None:
        """Queued -> running."""
        self.status, self.started = "running", time.time()
        if self.job is not None:
            with contextlib.suppress(OSError):
                self.job.start()

    def finish(self, status: str, error: str | None = None) -> None:
        self.status, self.ended, self.error = status, time.time(), error
        if self.job is not None:
            with contextlib.suppress(OSError):
                self.job.finish(status, error=error, version=self.version, key=self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.job.id if self.job is not None else self.id,
            "title": self.title,
            "kind": self.kind,
            "status": self.status,
            "log": "\n".join(self.log),
            "started": self.started,
            "ended": self.ended,
            "error": self.error,
            "version": self.version,
        }


def jupyter_metadata(md: Any) -> dict[str, Any]:
    """The notebook's Jupyter metadata from what the client sends.

    VS Code's ipynb serializer nests it (`metadata.metadata`, older versions `metadata.custom.metadata`);
    other clients send the Jupyter metadata itself.
    """
    if not isinstance(md, dict):
        return {}
    custom = md.get("custom")
    if isinstance(custom, dict) and isinstance(custom.get("metadata"), dict):
        return dict(custom["metadata"])
    inner = md.get("metadata")
    if isinstance(inner, dict) and (
        "nbformat" in md
        or "nbformat_minor" in md
        or "cells" in md
        or not (set(md) - {"metadata", "indentAmount", "nbformat", "nbformat_minor", "cells"})
    ):
        return dict(inner)
    return dict(md)


class EnvlensServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "envlens",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=types.NotebookDocumentSyncOptions(
                notebook_selector=[
                    types.NotebookDocumentFilterWithNotebook(
                        notebook="jupyter-notebook",
                        cells=[types.NotebookCellLanguage(language="python")],
                    )
                ],
                save=False,
            ),
        )
        self.settings = Settings.from_env()
        self.config: dict[str, Any] = {}
        self.generation: dict[str, int] = {}  # doc key -> bumped on every change
        self.analyses: dict[str, tuple[int, Analysis]] = {}
        self.last_good: dict[str, Resolution] = {}
        self.knowledge: dict[Path, envinfo.EnvKnowledge] = {}
        self._knowledge_pending: set[Path] = set()
        self.operations: list[Operation] = []
        self.running: dict[str, Operation] = {}  # env key -> the build under way
        self.failed: dict[str, str] = {}  # env key -> one-line reason of the last failed build
        self.built_for: dict[str, str] | None = None  # declared_in path -> newest built key
        self.published: dict[str, tuple[Any, ...]] = {}  # uri -> last published diagnostics
        self._dirty: dict[str, set[str] | None] = {}  # doc key -> touched cell uris (None: all)
        self._flush_scheduled = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._loop_thread = threading.current_thread()

    # --- documents ----------------------------------------------------------------------------

    def doc_key(self, uri: str) -> str:
        """The document a URI belongs to: the notebook for a cell, else itself."""
        nb = self.workspace.get_notebook_document(cell_uri=uri)
        return nb.uri if nb is not None else uri

    def is_notebook(self, key: str) -> bool:
        return self.workspace.get_notebook_document(notebook_uri=key) is not None

    def is_open(self, key: str) -> bool:
        return self.is_notebook(key) or unquote(key) in self.workspace.text_documents

    def text_document(self, uri: str) -> TextDocument | None:
        """An open text document or cell. pygls keys them by the unquoted URI, while clients send
        quoted ones (VS Code's cell URIs carry %3D, paths with spaces %20): always look up here."""
        doc: TextDocument | None = self.workspace.text_documents.get(unquote(uri))
        return doc

    def snapshot(self, key: str) -> Snapshot | None:
        path = to_fs_path(key)
        if path is None:
            return None
        nb = self.workspace.get_notebook_document(notebook_uri=key)
        if nb is not None:
            cells = []
            for c in nb.cells:
                doc = self.text_document(c.document)
                code = c.kind == types.NotebookCellKind.Code
                cells.append(
                    CellText(
                        "code" if code else "markdown",
                        c.document,
                        doc.source if doc is not None else "",
                    )
                )
            return Snapshot(Path(path), cells=tuple(cells), metadata=jupyter_metadata(nb.metadata))
        doc = self.text_document(key)
        if doc is not None:
            if not path.endswith(".py") and doc.language_id != "python":
                return None
            return Snapshot(Path(path), text=doc.source)
        return self.disk_snapshot(Path(path))

    @staticmethod
    def disk_snapshot(path: Path) -> Snapshot | None:
        """A file the client has not opened: as it is on disk."""
        try:
            if path.suffix == ".ipynb":
                nb = load_notebook(path)
                cells = tuple(
                    CellText(
                        "code" if c.get("cell_type") == "code" else "markdown", "", cell_source(c)
                    )
                    for c in nb.cells
                )
                return Snapshot(path, cells=cells, metadata=dict(nb.metadata))
            return Snapshot(path, text=read_text(path))
        except EnvlensError:
            raise
        except (OSError, UnicodeDecodeError) as exc:
            raise EnvlensError(
                f"cannot read the file: {exc}",
                path=path,
                hint="Check that the file exists and is UTF-8 text",
            ) from None

    def touch(self, key: str, cells: set[str] | None = None) -> None:
        """A document changed: new generation, diagnostics recomputed on the next loop turn."""
        self.generation[key] = self.generation.get(key, 0) + 1
        if key in self._dirty:
            prev = self._dirty[key]
            self._dirty[key] = None if prev is None or cells is None else prev | cells
        else:
            self._dirty[key] = cells
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def touch_all(self) -> None:
        for key in list(self.open_keys()):
            self.touch(key)

    def open_keys(self) -> list[str]:
        keys = [
            k
            for k in self.workspace.text_documents
            if self.workspace.get_notebook_document(cell_uri=k) is None
        ]
        return keys + list(self.workspace.notebook_documents)

    def forget(self, key: str) -> None:
        self.analyses.pop(key, None)
        self.generation.pop(key, None)
        self._dirty.pop(key, None)
        self.last_good.pop(key, None)

    def analysis(self, key: str) -> Analysis | None:
        gen = self.generation.get(key, 0)
        hit = self.analyses.get(key)
        if hit is not None and hit[0] == gen:
            return hit[1]
        try:
            snap = self.snapshot(key)
        except EnvlensError as exc:
            log.info("%s", exc.one_line())
            return None
        if snap is None:
            return None
        try:
            result = analyse(
                snap,
                settings=self.settings,
                knowledge=self.knowledge_for,
                last_good=self.last_good.get(key),
            )
        except Exception:  # a bug must not take the server down: log it, show nothing
            log.exception("analysing %s failed", key)
            return None
        if result.resolution is not None:
            self.last_good[key] = result.resolution
        if self.is_open(key):
            self.analyses[key] = (gen, result)
        return result

    # --- what environments hold -----------------------------------------------------------------

    def knowledge_for(self, res: Resolution) -> envinfo.EnvKnowledge | None:
        """What the file's built environment holds; the full answer arrives in the background."""
        if not res.built:
            return None
        env = res.env_dir
        k = self.knowledge.get(env)
        if k is None:
            k = envinfo.quick_knowledge(env)
            self.knowledge[env] = k
        if not k.complete and env not in self._knowledge_pending and self.loop is not None:
            self._knowledge_pending.add(env)
            self.loop.create_task(self._learn(env))
        return k

    async def _learn(self, env: Path) -> None:
        try:
            k = await asyncio.to_thread(envinfo.full_knowledge, env)
            self.knowledge[env] = k
        finally:
            self._knowledge_pending.discard(env)
        self.touch_all()
        self.refresh_lenses()

    def forget_environment(self, env: Path) -> None:
        self.knowledge.pop(env, None)

    def previous_build(self, path: Path) -> str | None:
        if self.built_for is None:
            self.built_for = envinfo.builds_by_file()
        return self.built_for.get(str(path))

    # --- diagnostics ------------------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, {}
        from envlens.lsp import diagnostics  # imported here: it imports this module

        for key, cells in dirty.items():
            if not self.is_open(key):
                continue
            try:
                diagnostics.publish(self, key, cells)
            except Exception:  # never let one document break the others
                log.exception("publishing diagnostics for %s failed", key)

    # --- client calls -------------------------------------------------------------------------

    def supports(self, *path: str) -> bool:
        cur: Any = self.client_capabilities
        for name in path:
            cur = getattr(cur, name, None)
            if cur is None:
                return False
        return bool(cur)

    def refresh_lenses(self) -> None:
        if self.supports("workspace", "code_lens", "refresh_support"):
            self.workspace_code_lens_refresh(None)

    def show(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def log_message(self, message: str, kind: types.MessageType = types.MessageType.Log) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run on the server's loop from any thread (a build's progress callback)."""
        if self.loop is None:
            return
        try:
            if threading.current_thread() is self._loop_thread:
                fn(*args)
            else:
                self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: the server is going away
            pass

    def new_operation(
        self,
        title: str,
        key: str,
        count: int = 0,
        *,
        kind: str = "sync",
        path: Path | None = None,
    ) -> Operation:
        op = Operation(id=uuid.uuid4().hex[:12], title=title, key=key, count=count, kind=kind)
        try:
            op.job = jobs.create(kind, title, path, key=key or None)
        except OSError as exc:  # the job list informs; the operation runs without it
            log.warning("could not record the job %r: %s", title, exc)
        self.operations.append(op)
        del self.operations[:-50]  # keep the recent ones
        return op


class LspLogHandler(logging.Handler):
    """Python logging -> window/logMessage (stderr gets it from the root handler)."""

    LEVELS: ClassVar[dict[int, types.MessageType]] = {
        logging.ERROR: types.MessageType.Error,
        logging.WARNING: types.MessageType.Warning,
        logging.INFO: types.MessageType.Info,
    }

    def __init__(self, server: EnvlensServer) -> None:
        super().__init__(logging.INFO)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        try:
            kind = self.LEVELS.get(record.levelno, types.MessageType.Log)
            self.server.call_soon(self.server.log_message, self.format(record), kind)
        except Exception:
            pass


FEATURE_MODULES = (
    "envlens.lsp.documents",
    "envlens.lsp.settings",
    "envlens.lsp.diagnostics",
    "envlens.lsp.codelens",
    "envlens.lsp.code_actions",
    "envlens.lsp.commands",
    "envlens.lsp.requests",
    "envlens.lsp.progress",
    "envlens.lsp.trust",
    "envlens.lsp.lifecycle",
)


def create_server() -> EnvlensServer:
    server = EnvlensServer()
    for name in FEATURE_MODULES:
        importlib.import_module(name).register(server)
    try:
        kernels = importlib.import_module("envlens.lsp.kernels")
    except ModuleNotFoundError as exc:
        if exc.name != "envlens.lsp.kernels":
            raise
    else:
        kernels.register(server)
    return server
