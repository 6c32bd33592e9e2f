"""Trust over LSP: `envlens/trustState` for the extension's trust dialog; `approve_json` behind the
`envlens.trust` command (registered in commands.py); `keep_trusted` for commands that edit a
declaration. The install, sync and kernel-start handlers call `envlens.trust.require_trusted`.

The decisions are in `envlens.trust`; this module only finds the file's current resolution (the
editor's buffer when the file is open) and translates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pygls.exceptions import JsonRpcServerError
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from envlens import trust
from envlens.errors import EnvlensError
from envlens.resolve import Resolution, resolve
from envlens.settings import Settings
from envlens.sources.notebook import Notebook, parse_notebook

TRUST_STATE = "envlens/trustState"
TRUST_COMMAND = "envlens.trust"
ENVLENS_ERROR_CODE = -32001  # the same server-error code the other envlens requests use
METADATA_PATH = ["envlens", "trust"]  # where a notebook's signature goes in its Jupyter metadata


def _error(exc: EnvlensError) -> JsonRpcServerError:
    data = {"error": type(exc).__name__, "hint": exc.hint}
    return JsonRpcServerError(exc.one_line(), ENVLENS_ERROR_CODE, data)  # type: ignore[no-untyped-call]


def _uri(params: Any) -> str:
    value = params.get("uri") if isinstance(params, dict) else getattr(params, "uri", None)
    if not isinstance(value, str):
        raise JsonRpcServerError("missing parameter 'uri'", ENVLENS_ERROR_CODE)  # type: ignore[no-untyped-call]
    return value


def _path(uri: str, server: LanguageServer | None = None) -> Path:
    path_of = getattr(server, "path_of", None)  # untitled documents too (envlens.lsp.uris)
    path = path_of(uri) if callable(path_of) else to_fs_path(uri)
    if path is None:
        raise JsonRpcServerError(f"not a file URI: {uri}", ENVLENS_ERROR_CODE)  # type: ignore[no-untyped-call]
    return Path(path)


def current(
    server: LanguageServer, path: Path, uri: str | None = None
) -> tuple[Resolution, Notebook | None, bool]:
    """(resolution, the editor's notebook or None, whether the file is open in the editor).

    Uses the server's snapshot of the open buffer when it has one (EnvlensServer.snapshot), so the
    dialog shows what would be installed from what the user sees, else the file on disk.
    """
    settings = getattr(server, "settings", None)
    settings = settings if isinstance(settings, Settings) else None
    snapshot_fn = getattr(server, "snapshot", None)
    is_open_fn = getattr(server, "is_open", None)
    uri = uri or from_fs_path(str(path)) or str(path)
    is_open = bool(is_open_fn(uri)) if callable(is_open_fn) else False
    snap = snapshot_fn(uri) if callable(snapshot_fn) and is_open else None
    if snap is not None and getattr(snap, "is_notebook", False):
        nb = snap.notebook()
        return resolve(path, notebook=nb, settings=settings), nb, True
    if snap is not None and getattr(snap, "text", None) is not None:
        return resolve(path, text=snap.text, settings=settings), None, True
    return resolve(path, settings=settings), None, is_open


def require_trusted(server: LanguageServer, path: Path, uri: str | None = None) -> trust.TrustState:
    """The gate for install, sync and kernel start: raises UntrustedError (turn it into the
    handler's usual error; its data says "UntrustedError" so the client can open the trust dialog)."""
    res, nb, _ = current(server, path, uri)
    return trust.require_trusted(res, notebook=nb)


def keep_trusted(server: LanguageServer, uri: str, before: Resolution | trust.TrustState) -> bool:
    """Call after a command edited the declaration (add, remove, lock, declare imports, move pip
    installs), with the trust state (`state_before(server, uri)`) taken before the edit: a trusted
    file stays trusted."""
    after, _, is_open = current(server, _path(uri, server), uri)
    return trust.resign_if_trusted(before, after=after, write_file=not is_open)


def keep_trusted_after_edit(
    server: LanguageServer, uri: str, before: trust.TrustState, new_text: str
) -> bool:
    """Like `keep_trusted`, with the edited file's new text (the editor's didChange may still be on
    its way after workspace/applyEdit). `new_text` is the notebook's or script's whole new text."""
    path = _path(uri, server)
    _, _, is_open = current(server, path, uri)
    if path.suffix == ".ipynb":
        after = resolve(path, notebook=parse_notebook(new_text, path))
    else:
        after = resolve(path, text=new_text)
    return trust.resign_if_trusted(before, after=after, write_file=not is_open)


def state_before(server: LanguageServer, uri: str) -> trust.TrustState:
    """The file's trust state, to take before an edit and hand to `keep_trusted` after it."""
    res, nb, _ = current(server, _path(uri, server), uri)
    return trust.trust_state(res, notebook=nb)


def state_json(server: LanguageServer, uri: str) -> dict[str, Any]:
    res, nb, _ = current(server, _path(uri, server), uri)
    return {"uri": uri, **trust.trust_state(res, notebook=nb).to_json()}


def approve_json(server: LanguageServer, uri: str) -> dict[str, Any]:
    """Approve the file's current declaration.

    A notebook open in the editor is not written behind its back: the approval is recorded on this
    machine, and `signature` is returned for the client to set at metadata.envlens.trust (so it is
    saved with the notebook); a closed notebook is signed on disk.
    """
    res, nb, is_open = current(server, _path(uri, server), uri)
    state = trust.approve(res, write_file=not is_open, notebook=nb)
    signature = (
        trust.sign(res)
        if res.path.suffix == ".ipynb" and state.status not in ("nothing-declared", "project")
        else None
    )
    return {
        "ok": True,
        "uri": uri,
        **state.to_json(),
        "signature": signature,
        "metadataPath": METADATA_PATH if signature else None,
    }


def register(server: LanguageServer) -> None:
    @server.feature(TRUST_STATE)
    def trust_state(ls: LanguageServer, params: Any) -> dict[str, Any]:
        try:
            return state_json(ls, _uri(params))
        except EnvlensError as exc:
            raise _error(exc) from None
