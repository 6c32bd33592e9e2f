"""Notebook <-> percent script, keeping the declaration and the lock.

- ipynb -> py: the declaration cell (juv's PEP 723 cell, or nteract metadata rendered as a block)
  becomes the script's header; every other cell follows as `# %%` (markdown as `# %% [markdown]`
  with `# ` comment lines, raw as `# %% [raw]`); metadata["uv.lock"] becomes `<file>.py.lock`.
  Outputs are not carried over (a percent script has none).
- py -> ipynb: kernels/cells.py's parser (the header, with the PEP 723 block, becomes the first code
  cell, as juv writes it); `<file>.py.lock` becomes metadata["uv.lock"].
The declaration text is carried over unchanged, so the lock stays fresh on the other side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from envlens.errors import BadInputError
from envlens.fileio import atomic_write_text, read_text
from envlens.kernels.cells import script_to_notebook
from envlens.sources import pep723
from envlens.sources.lockfile import NOTEBOOK_LOCK_KEY, read_lock_text, script_lock_path
from envlens.sources.notebook import cell_source, load_notebook
from envlens.sources.notebook_decl import read_notebook_declaration

Target = Literal["py", "ipynb"]


@dataclass(frozen=True)
class Converted:
    source: Path
    output: Path
    text: str
    lock_path: Path | None  # the script's lock written beside it (py), or None
    lock_text: str | None
    dropped_outputs: int = 0


def _comment(text: str) -> str:
    return "\n".join(f"# {ln}" if ln else "#" for ln in text.splitlines())


def notebook_to_script(path: Path) -> tuple[str, str | None, int]:
    nb = load_notebook(path)
    decl = read_notebook_declaration(nb)
    parts: list[str] = []
    skip: int | None = None
    if decl is not None and decl.kind == "pep723" and decl.cell is not None:
        parts.append(cell_source(nb.cells[decl.cell]).strip("\n"))
        skip = decl.cell
    elif decl is not None and decl.kind == "notebook-uv":
        doc = pep723.new_document(list(decl.requirements), decl.requires_python)
        parts.append(pep723.render_block(doc))
    dropped = 0
    for i, cell in enumerate(nb.cells):
        if i == skip:
            continue
        src = cell_source(cell).rstrip("\n")
        kind = cell.get("cell_type")
        if kind == "markdown":
            parts.append("# %% [markdown]\n" + _comment(src) if src else "# %% [markdown]")
        elif kind == "raw":
            parts.append("# %% [raw]\n" + _comment(src) if src else "# %% [raw]")
        else:
            parts.append("# %%\n" + src if src else "# %%")
            dropped += len(cell.get("outputs") or [])
    text = "\n\n".join(parts) + "\n"
    lock = nb.metadata.get(NOTEBOOK_LOCK_KEY)
    return text, lock if isinstance(lock, str) and lock.strip() else None, dropped


def script_to_notebook_text(path: Path, out: Path) -> tuple[str, str | None]:
    text = read_text(path)
    nb = script_to_notebook(text, path, out)
    nb.metadata.pop("envlens", None)  # the run-provenance note is not wanted in a conversion
    if (
        nb.cells
        and nb.cells[0].get("cell_type") == "code"
        and "# /// script" in cell_source(nb.cells[0])
    ):
        # juv hides the declaration cell; so does envlens.
        nb.cells[0]["metadata"] = {"jupyter": {"source_hidden": True}}
    lock = read_lock_text(path)
    if lock is not None:
        nb.metadata[NOTEBOOK_LOCK_KEY] = lock
    return nb.dumps(), lock


def convert(
    path: Path, to: Target, *, output: Path | None = None, force: bool = False
) -> Converted:
    """Compute and write the other form; an existing output is kept unless `force`."""
    path = Path(path).absolute()
    if to == "py" and path.suffix != ".ipynb":
        raise BadInputError(
            "--to py converts a notebook (.ipynb)",
            path=path,
            hint="Give a .ipynb file, or use --to ipynb for a script",
        )
    if to == "ipynb" and path.suffix != ".py":
        raise BadInputError(
            "--to ipynb converts a percent script (.py)",
            path=path,
            hint="Give a .py file, or use --to py for a notebook",
        )
    out = Path(output).absolute() if output else path.with_suffix("." + to)
    lock_out = script_lock_path(out) if to == "py" else None
    for target in (out, lock_out):
        if target is not None and target.exists() and not force:
            raise BadInputError(
                f"{target.name} already exists",
                path=target,
                hint="Pass --force to overwrite it, or -o to write elsewhere",
            )
    if to == "py":
        text, lock, dropped = notebook_to_script(path)
        atomic_write_text(out, text)
        if lock is not None and lock_out is not None:
            atomic_write_text(lock_out, lock)
        elif lock_out is not None and lock_out.exists():
            lock_out.unlink()  # a stale lock from before would not belong to this script
        return Converted(path, out, text, lock_out if lock else None, lock, dropped)
    text, lock = script_to_notebook_text(path, out)
    atomic_write_text(out, text)
    return Converted(path, out, text, None, lock)
