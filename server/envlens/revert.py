"""`envlens revert PATH N`: write version N's declaration (and its lock) back into the file, then
make that the file's environment again: a new version identical to N. The environment is keyed by
the declaration, so with N's environment still in the cache nothing is built.

What is written back, through the same writers as every other edit (format preserving, atomic):
- a PEP 723 block (a script's header, a notebook's first code cell): the block exactly as version N
  had it, comments, `[tool.uv]` and all, in place of the current one (the file's line breaks kept);
- nteract metadata (`metadata.uv`): its dependencies, requires-python and prerelease;
- nothing declared: the block (or the metadata) is removed, so the file takes the default
  environment again;
- the lock: `<file>.py.lock` beside a script, `metadata["uv.lock"]` in a notebook, as N had it; a
  lock N did not have is removed (its text is kept in the history's lock store first, so the
  version that had it can be reverted to).
Declarations in project files (pyproject.toml, environment.yml, pixi.toml) and conda metadata are
not rewritten: the history names the version, version control restores the file.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from envlens import surface, trust
from envlens.edit import PlannedEdit
from envlens.envs import history
from envlens.envs.history import Version
from envlens.envs.runner import Progress
from envlens.envs.store import EnvInfo
from envlens.errors import BadInputError, DeclarationError, UntrustedError
from envlens.fileio import atomic_write_text, read_text
from envlens.resolve import Resolution, resolve
from envlens.settings import Settings
from envlens.sources import pep723
from envlens.sources.declaration import KIND_LABELS
from envlens.sources.lockfile import NOTEBOOK_LOCK_KEY, lock_hash, script_lock_path
from envlens.sources.notebook import Notebook, cell_source, parse_notebook, set_cell_source
from envlens.sources.notebook_decl import edit_notebook_declaration, read_notebook_declaration


@dataclass(frozen=True)
class RevertPlan:
    path: Path
    version: Version
    edit: PlannedEdit  # the file's new text (its declaration, and a notebook's lock)
    lock_path: Path | None  # a script's lock file, when it changes
    lock_text: str | None  # its new text; None: remove it

    @property
    def changed(self) -> bool:
        return self.edit.changed or self.lock_path is not None

    def resolution(self, settings: Settings | None = None) -> Resolution:
        """The file as it will be once written (for its key and approval)."""
        p = self.path
        if p.suffix == ".ipynb":
            return resolve(p, notebook=parse_notebook(self.edit.new_text, p), settings=settings)
        return _resolve_with_lock(p, self.edit.new_text, self.lock_path, self.lock_text, settings)


def _resolve_with_lock(
    path: Path, text: str, lock_path: Path | None, lock_text: str | None, settings: Settings | None
) -> Resolution:
    res = resolve(path, text=text, settings=settings)
    if lock_path is None:
        return res
    # A script's lock is read from disk: give the resolution the lock it will have.
    from envlens.resolve import spec_for, with_settings

    spec = with_settings(
        spec_for(res.declaration, res.runtime, lock_text), settings or Settings.from_env()
    )
    return Resolution(res.path, res.runtime, res.declaration, spec, lock_text)


def choose(path: Path, n: int) -> Version:
    """Version `n` of the file's history, or a clear error."""
    h = history.load(path)
    if not h.versions:
        raise BadInputError(
            "envlens has no history for this file yet",
            path=path,
            hint="Versions are recorded when its environment is built ("
            + surface.action("install", path)
            + ")",
        )
    v = h.get(n)
    if v is None:
        raise BadInputError(
            f"there is no version {n} (versions 1 to {h.versions[-1].n})",
            path=path,
            hint=surface.words(
                f"`envlens history {path}` lists them", "the Environment view's History lists them"
            ),
        )
    if v.status != "ready":
        good = [str(x.n) for x in h.versions if x.status == "ready"]
        raise BadInputError(
            f"version {n} {'failed to build' if v.status == 'failed' else 'was cancelled'}, so "
            "there is no environment to go back to",
            path=path,
            hint=f"Revert to a version that built ({', '.join(good) or 'none yet'})",
        )
    if v.declaration is None:
        raise BadInputError(
            f"version {n} was declared in {KIND_LABELS.get(v.source, v.source)}, which envlens "
            "does not rewrite whole",
            path=path,
            hint="Restore that file with your version control (for example `git checkout`)",
        )
    return v


# --- scripts -------------------------------------------------------------------------------------


def _render(toml: str, newline: str) -> str:
    return pep723.render_block(tomlkit.parse(toml), newline)


def _with_block(text: str, path: Path, toml: str) -> str:
    """`text` whose script block is `toml` (a new block where it has none, placed as `add` does)."""
    block = pep723.find_script_block(text, path)
    if block is None:
        text = pep723.edit_script_text(text, path)  # an empty block where envlens puts one
        block = pep723.find_script_block(text, path)
        assert block is not None
    return text[: block.start_offset] + _render(toml, block.newline) + text[block.end_offset :]


def _without_block(text: str, path: Path) -> str:
    """`text` without its script block: the exact inverse of the block `add` inserts (the block,
    its line break, and the blank line it put after it)."""
    block = pep723.find_script_block(text, path)
    if block is None:
        return text
    nl = block.newline
    end = block.end_offset
    if text.startswith(nl, end):
        end += len(nl)
        if text.startswith(nl, end):
            end += len(nl)
    return text[: block.start_offset] + text[end:]


def _script_text(text: str, path: Path, decl: dict[str, Any]) -> str:
    if decl["kind"] == "pep723":
        return _with_block(text, path, str(decl.get("toml", "")))
    if decl["kind"] == "none":
        return _without_block(text, path)
    raise BadInputError(f"a script cannot hold {decl['kind']}", path=path)


# --- notebooks -----------------------------------------------------------------------------------


def _moved(path: Path, was: str, now: str) -> DeclarationError:
    return DeclarationError(
        f"the version declared its dependencies in {KIND_LABELS.get(was, was)}, the notebook "
        f"now in {KIND_LABELS.get(now, now)}",
        path=path,
        hint="Remove the current declaration, then revert again (or edit it to the version's "
        "dependencies, which "
        + surface.words(f"`envlens history {path}`", "the Environment view's History")
        + " lists)",
    )


def _metadata_parent(nb: Notebook, key: str, create: bool) -> tuple[dict[str, Any] | None, str]:
    keys = key.split(".")
    target: Any = nb.metadata
    for k in keys[:-1]:
        if not isinstance(target, dict):
            return None, keys[-1]
        if k not in target:
            if not create:
                return None, keys[-1]
            target[k] = {}
        target = target[k]
    return (target if isinstance(target, dict) else None), keys[-1]


def _notebook_text(nb: Notebook, decl: dict[str, Any], lock: str | None) -> str:
    nb = Notebook(path=nb.path, data=copy.deepcopy(nb.data), style=nb.style)
    path = nb.path
    current = read_notebook_declaration(nb)
    now = current.kind if current is not None else "none"
    kind = decl["kind"]
    if kind == "pep723":
        if now not in ("pep723", "none"):
            raise _moved(path, kind, now)
        if current is None:
            edit_notebook_declaration(nb, add=[], new_place="cell")  # the juv-style first cell
            current = read_notebook_declaration(nb)
        assert current is not None and current.cell is not None
        cell = nb.cells[current.cell]
        set_cell_source(cell, _with_block(cell_source(cell), path, str(decl.get("toml", ""))))
    elif kind == "notebook-uv":
        if now not in ("notebook-uv", "none"):
            raise _moved(path, kind, now)
        where = current.metadata_key if current and current.metadata_key else decl["key"]
        parent, leaf = _metadata_parent(nb, where, create=True)
        assert parent is not None
        existing = parent.get(leaf)
        target: dict[str, Any] = existing if isinstance(existing, dict) else {}
        value = decl.get("value") or {}
        for field in ("dependencies", "requires-python", "prerelease"):
            if field in value:
                target[field] = value[field]
            else:
                target.pop(field, None)
        parent[leaf] = target
    elif kind == "none":
        if now == "pep723" and current is not None and current.cell is not None:
            cell = nb.cells[current.cell]
            rest = _without_block(cell_source(cell), path)
            if rest.strip():
                set_cell_source(cell, rest)
            else:
                del nb.cells[current.cell]  # the cell held only the declaration
        elif now == "notebook-uv" and current is not None and current.metadata_key:
            parent, leaf = _metadata_parent(nb, current.metadata_key, create=False)
            if parent is not None:
                parent.pop(leaf, None)
        elif now != "none":
            raise _moved(path, kind, now)
    if lock is not None:
        nb.metadata[NOTEBOOK_LOCK_KEY] = lock
    else:
        nb.metadata.pop(NOTEBOOK_LOCK_KEY, None)
    return nb.dumps()


# --- the plan ------------------------------------------------------------------------------------


def plan_revert(path: Path, n: int, *, text: str | None = None) -> RevertPlan:
    """The edit that brings back version `n` (nothing written). `text` is the file's current
    (maybe unsaved) content."""
    path = Path(path).absolute()
    version = choose(path, n)
    decl = version.declaration
    assert decl is not None
    lock: str | None = None
    if version.lock_hash:
        lock = history.lock_text(version.lock_hash)
        if lock is None:
            raise BadInputError(
                f"the lock of version {n} is no longer in envlens's history",
                path=path,
                hint="Revert to a version without a lock, then " + surface.action("lock", path),
            )
    old = text if text is not None else read_text(path)
    if path.suffix == ".ipynb":
        new = _notebook_text(parse_notebook(old, path), decl, lock)
        return RevertPlan(path, version, PlannedEdit(path, old, new), None, None)
    new = _script_text(old, path, decl)
    lock_file = script_lock_path(path)
    try:
        current_lock: str | None = lock_file.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        current_lock = None
    if current_lock == lock:
        return RevertPlan(path, version, PlannedEdit(path, old, new), None, None)
    return RevertPlan(path, version, PlannedEdit(path, old, new), lock_file, lock)


def write_lock_change(plan: RevertPlan) -> None:
    """A script's lock: the version's, or none (the current one kept in the lock store first)."""
    if plan.lock_path is None:
        return
    if plan.lock_text is not None:
        atomic_write_text(plan.lock_path, plan.lock_text)
        return
    with contextlib.suppress(FileNotFoundError):
        current = plan.lock_path.read_text(encoding="utf-8")
        history.save_lock_text(lock_hash(current), current)
        plan.lock_path.unlink()


def write(plan: RevertPlan) -> None:
    """The lock first, then the file (each atomically)."""
    write_lock_change(plan)
    if plan.edit.changed:
        atomic_write_text(plan.edit.path, plan.edit.new_text)


# --- the whole command ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RevertResult:
    version: Version  # the version reverted to
    info: EnvInfo
    recorded: Version | None  # the new version (None: the file was already there)
    written: bool

    @property
    def built(self) -> bool:
        return not self.info.reused

    def to_json(self) -> dict[str, Any]:
        return {
            "revertedTo": self.version.n,
            "version": self.recorded.n if self.recorded else None,
            "key": self.info.key,
            "built": self.built,
            "written": self.written,
            "envPath": str(self.info.env_dir),
        }


def check_approval(path: Path, plan: RevertPlan, *, override: bool = False) -> trust.TrustState:
    """Approval rules as for any edit: a trusted file stays trusted (envlens's own edit); an
    untrusted one may only go back to a declaration this machine approved. Returns the state
    before the edit (for `trust.resign_if_trusted`)."""
    before = trust.trust_state(resolve(path), with_flags=False)
    if before.trusted or override:
        return before
    after = trust.trust_state(plan.resolution(), with_flags=False)
    if not after.trusted:
        raise UntrustedError(
            trust.untrusted_message(after),
            path=path,
            hint=surface.words(
                f"Review and approve the file first (`envlens trust {path}`), then revert",
                "Approve the file first (Trust This File's Dependencies), then revert",
            ),
        )
    return before


def revert(
    path: Path,
    n: int,
    *,
    settings: Settings | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    override_trust: bool = False,
) -> RevertResult:
    """Write version `n` back and make it the file's environment (a new version)."""
    from envlens.environment import ensure_environment

    settings = settings or Settings.from_env()
    path = Path(path).absolute()
    plan = plan_revert(path, n)
    before = check_approval(path, plan, override=override_trust)
    if plan.changed:
        write(plan)
        trust.resign_if_trusted(before, path)
    res = resolve(path, settings=settings)
    trust.require_trusted(res, override=override_trust)
    latest = history.load(path).latest
    if (
        not plan.changed
        and latest is not None
        and latest.status == "ready"
        and latest.key == res.key
    ):
        info = ensure_environment(res, settings=settings, progress=progress, cancel=cancel)
        return RevertResult(plan.version, info, None, False)
    if progress is not None and res.key != plan.version.key:
        progress(
            f"The declaration now gives environment {res.key}, not version {n}'s "
            f"{plan.version.key} (a setting such as envlens.defaultPython changed)"
        )
    recorded: list[Version] = []
    info = ensure_environment(
        res,
        settings=settings,
        progress=progress,
        cancel=cancel,
        action="revert",
        reverted_from=n,
        on_version=recorded.append,
    )
    return RevertResult(plan.version, info, recorded[0] if recorded else None, plan.changed)
