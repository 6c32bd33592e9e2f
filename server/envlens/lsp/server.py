"""The envlens language server: open documents and notebooks, per-version analyses, environment state.

`envlens.lsp.app.create_server()` wires the feature modules onto one `EnvlensServer`. The server only translates:
what a document means comes from `analysis.analyse` (and through it from the core modules).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from envlens import __version__
from envlens.analysis import Analysis, CellText, Snapshot, analyse
from envlens.envs import inventory as envinfo
from envlens.envs import jobs
from envlens.errors import EnvlensError
from envlens.fileio import read_text
from envlens.kernels.registry import KernelRegistry
from envlens.lsp import protocol as P
from envlens.lsp.protocol import OperationStatus
from envlens.lsp.uris import fs_path
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
    status: OperationStatus = "running"
    log: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    ended: float | None = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    token: str | None = None
    future: asyncio.Future[Any] | None = None
    count: int = 0  # packages being installed
    done: str = "done"  # the progress's last word when it succeeds
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

    def finish(self, status: OperationStatus, error: str | None = None) -> None:
        self.status, self.ended, self.error = status, time.time(), error
        if self.job is not None:
            with contextlib.suppress(OSError):
                self.job.finish(status, error=error, version=self.version, key=self.key)

    def to_json(self) -> P.OperationInfo:
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


T = TypeVar("T")


async def client_answer(request: Awaitable[T]) -> T:
    """Awaits the client's answer to a request of the server. The one waiting may stop caring (an
    interrupted input(), a cancelled command); the request's own future is shielded from that:
    cancelled, pygls fails on the client's late answer and shows "Error in server: CANCELLED"."""
    return await asyncio.shield(request)


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
        self.file_queues: dict[str, asyncio.Lock] = {}
        self.running: dict[str, Operation] = {}  # env key -> the build under way
        self.failed: dict[str, str] = {}  # env key -> one-line reason of the last failed build
        self.built_for: dict[str, str] | None = None  # declared_in path -> newest built key
        self.published: dict[str, tuple[Any, ...]] = {}  # uri -> last published diagnostics
        self.announced: dict[str, str | None] = {}  # uri -> environment key last announced
        self._dirty: dict[str, set[str] | None] = {}  # doc key -> touched cell uris (None: all)
        self._flush_scheduled = False
        # Set by the diagnostics feature when it registers (it imports this module, not the reverse).
        self.publish_diagnostics: Callable[[EnvlensServer, str, set[str] | None], None] | None = (
            None
        )
        self.kernels = KernelRegistry()  # the notebook kernels this editor session started
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

    def workspace_roots(self) -> list[str]:
        roots = [to_fs_path(f.uri) for f in self.workspace.folders.values()]
        return [r for r in roots if r] or (
            [self.workspace.root_path] if self.workspace.root_path else []
        )

    def path_of(self, uri: str) -> str | None:
        """The file's path; an untitled document's is in the workspace folder (envlens.lsp.uris)."""
        return fs_path(uri, self.workspace_roots())

    def snapshot(self, key: str) -> Snapshot | None:
        path = self.path_of(key)
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
        publish = self.publish_diagnostics
        for key, cells in dirty.items():
            if not self.is_open(key):
                continue
            self._announce_declaration(key)
            if publish is None:
                continue
            try:
                publish(self, key, cells)
            except Exception:  # never let one document break the others
                log.exception("publishing diagnostics for %s failed", key)

    def _announce_declaration(self, key: str) -> None:
        """Tell the client when a document's environment key changed (typing a dependency into an
        untitled notebook): its kernel label and picker follow without polling."""
        try:
            a = self.analysis(key)
        except Exception:  # the diagnostics report what is wrong with the document
            log.debug("analysing %s failed", key, exc_info=True)
            return
        env_key = a.resolution.key if a is not None and a.resolution is not None else None
        if self.announced.get(key, "") == env_key:
            return
        self.announced[key] = env_key
        self.protocol.notify(P.DECLARATION_CHANGED, {"uri": key, "key": env_key})

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

    async def ask_client(self, method: str, params: Any) -> Any:
        """A request of ours to the client (an input box, a notebook edit)."""
        return await client_answer(self.protocol.send_request_async(method, params))

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
        kind: str | None = "sync",
        path: Path | None = None,
    ) -> Operation:
        """A listed operation; with a `kind`, also a job (envs/jobs.py) that outlives the server."""
        op = Operation(
            id=uuid.uuid4().hex[:12], title=title, key=key, count=count, kind=kind or "operation"
        )
        try:
            if kind is not None:
                op.job = jobs.create(kind, title, path, key=key or None)
        except OSError as exc:  # the job list informs; the operation runs without it
            log.warning("could not record the job %r: %s", title, exc)
        self.operations.append(op)
        del self.operations[:-50]  # keep the recent ones
        return op

    def file_queue(self, path: Path) -> asyncio.Lock:
        """One file's jobs run one at a time (a second one waits, queued)."""
        return self.file_queues.setdefault(str(path), asyncio.Lock())


class LspLogHandler(logging.Handler):
    """Python logging -> window/logMessage (the only place `envlens serve` sends it)."""

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
