"""What every handler needs from a request: its parameters, its file as the editor holds it, and one
way to fail.

- One error reply for every envlens request and command: LSP's RequestFailed (-32803), the user's
  one line as the message and `data = {error, hint, cell}` (the exception's class, what to do, the
  failing cell), the tool's full output in `window/logMessage` (docs/protocol.md).
- One reader of the `uri` parameter and of the file behind it (untitled documents included).
- One answer to "what does this file declare right now": the editor's buffer when it is open
  (unsaved edits count), else the file on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from envlens.analysis import Analysis, Snapshot
from envlens.errors import BadInputError, EnvlensError
from envlens.fileio import os_error
from envlens.lsp.server import EnvlensServer
from envlens.resolve import Resolution, resolve
from envlens.sources.notebook import Notebook

ERROR_CODE = -32803  # LSP's RequestFailed


class RequestFailed(JsonRpcException):
    CODE = ERROR_CODE


def failure(
    ls: EnvlensServer, exc: EnvlensError | OSError, *, show: bool = False, log: bool = True
) -> RequestFailed:
    """The request's error reply for an expected failure. `show` also puts the line in front of the
    user (commands the user clicked); `log=False` for requests the extension polls (the environment
    view), whose failures the diagnostics already show."""
    err = os_error(exc) if isinstance(exc, OSError) else exc
    message = err.one_line()
    if show:
        ls.show(message, types.MessageType.Error)
    if show or log:
        ls.log_message(message + (f"\n{err.log}" if err.log else ""), types.MessageType.Error)
    return RequestFailed(
        message=message,
        data={"error": type(err).__name__, "hint": err.hint, "cell": err.cell},
    )


def invalid(message: str) -> RequestFailed:
    """A malformed request (the client's mistake, not the user's): no message box."""
    return RequestFailed(
        message=message, data={"error": "BadInputError", "hint": "See docs/protocol.md"}
    )


# --- parameters ------------------------------------------------------------------------------------


def param(params: Any, name: str) -> Any:
    """A required parameter. Custom requests arrive as pygls `Object` namedtuples, or as dicts."""
    value = optional(params, name)
    if value is None:
        raise invalid(f"missing parameter {name!r}")
    return value


def optional(params: Any, name: str) -> Any:
    return params.get(name) if isinstance(params, dict) else getattr(params, name, None)


def plain(value: Any) -> Any:
    """pygls hands custom params over as namedtuples (`Object`): back to JSON values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {str(k): plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def request_uri(params: Any) -> str:
    uri = optional(params, "uri")
    if not isinstance(uri, str):
        raise invalid("the request needs {uri}")
    return uri


def command_uri(args: tuple[Any, ...], command: str) -> str:
    """A command's first argument: the file's URI."""
    if not args or not isinstance(args[0], str):
        raise BadInputError(
            f"{command} needs the file's URI as its first argument",
            hint="Call it as [uri, ...]; see docs/protocol.md",
        )
    return args[0]


# --- the file ---------------------------------------------------------------------------------------


def target(ls: EnvlensServer, uri: str) -> tuple[str, Path]:
    """(the document's key: the notebook for a cell URI, its path). Untitled documents have a path
    in the workspace folder (envlens.lsp.uris)."""
    key = ls.doc_key(uri)
    path = ls.path_of(key)
    if path is None:
        raise BadInputError(f"envlens cannot use {uri}", hint="Save it as a file first")
    return key, Path(path)


def snapshot(ls: EnvlensServer, key: str, path: Path) -> tuple[Snapshot, Analysis | None]:
    """The document as the editor holds it (and its analysis, when one is current), else on disk."""
    a = ls.analysis(key)
    if a is not None:
        return a.snapshot, a
    snap = ls.snapshot(key) or ls.disk_snapshot(path)
    if snap is None:
        raise BadInputError("envlens reads Python files and notebooks only", path=path)
    return snap, None


def file_text(snap: Snapshot) -> str:
    return snap.notebook().dumps() if snap.is_notebook else snap.text or ""


def resolution(ls: EnvlensServer, key: str, path: Path) -> Resolution:
    """What the document declares now (raises the declaration's error, as the CLI would)."""
    snap, a = snapshot(ls, key, path)
    if a is not None and a.error is not None:
        raise a.error
    if a is not None and a.resolution is not None:
        return a.resolution
    if snap.is_notebook:
        return resolve(path, notebook=snap.notebook(), settings=ls.settings)
    return resolve(path, text=snap.text or "", settings=ls.settings)


def editor_file(ls: EnvlensServer, uri: str) -> tuple[Resolution, Notebook | None, bool]:
    """(resolution, the editor's notebook or None, whether the file is open in the editor)."""
    key, path = target(ls, uri)
    is_open = ls.is_open(key)
    if not is_open:
        return resolve(path, settings=ls.settings), None, False
    snap, _ = snapshot(ls, key, path)
    if snap.is_notebook:
        nb = snap.notebook()
        return resolve(path, notebook=nb, settings=ls.settings), nb, True
    return resolve(path, text=snap.text or "", settings=ls.settings), None, True


def editor_content(ls: EnvlensServer, key: str) -> tuple[str | None, Notebook | None]:
    """The file's text or notebook as the editor holds it, or (None, None): read it from disk."""
    if not ls.is_open(key):
        return None, None
    try:
        snap = ls.snapshot(key)
    except EnvlensError:
        return None, None
    if snap is None:
        return None, None
    if snap.is_notebook:
        return None, snap.notebook()
    return snap.text, None
