"""Notebook <-> percent script with jupytext (the format's owner), keeping the declaration and the lock.

- ipynb -> py: jupytext writes the cells (`# %%` markers with their metadata: `tags=["parameters"]`,
  markdown as `# %% [markdown]`, magics and `!` lines commented as `# %matplotlib inline`, so the
  script is valid Python) and its YAML header (kernelspec). The declaration becomes the script's
  PEP 723 block, right after that header: the juv cell (a `# /// script` block in the first code
  cell) is moved there, nteract metadata (`metadata.uv`) is rendered as a block. metadata["uv.lock"]
  becomes `<file>.py.lock`. Outputs are not carried over (a percent script has none), nor
  envlens's per-cell provenance of them.
- py -> ipynb: jupytext reads the script (its YAML header, if any, goes back into the notebook's
  metadata, not into a cell); the header's PEP 723 block is the first code cell, hidden as juv
  writes it. `<file>.py.lock` becomes metadata["uv.lock"]. jupytext's notes on the script's layout
  (`lines_to_next_cell`...) are left out: they describe the text, not the notebook.
The declaration text is carried over unchanged, so the lock stays fresh on the other side; jupytext
reads either file back to the same cells (sources, types, tags and metadata), except what a text
file has no place for: output-display state (`collapsed`, `scrolled`, execution times) and a code
cell's final line break (a percent script cannot tell it from the blank lines between cells).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from envlens.errors import BadInputError
from envlens.fileio import atomic_write_text, read_text
from envlens.sources import pep723
from envlens.sources.lockfile import NOTEBOOK_LOCK_KEY, read_lock_text, script_lock_path
from envlens.sources.notebook import cell_source, load_notebook
from envlens.sources.notebook_decl import METADATA_KEYS, read_notebook_declaration
from envlens.sources.runtime import notebook_runtime

Target = Literal["py", "ipynb"]
FORMAT = "py:percent"
# jupytext's notes on the text's own layout (blank lines between cells, marker style): they describe
# the script, not the notebook, so a conversion leaves them out.
LAYOUT_KEYS = ("lines_to_next_cell", "lines_to_end_of_cell_marker", "cell_marker")
PYTHON_KERNEL = {"display_name": "Python 3", "language": "python", "name": "python3"}


@dataclass(frozen=True)
class Converted:
    source: Path
    output: Path
    text: str
    lock_path: Path | None  # the script's lock written beside it (py), or None
    lock_text: str | None
    dropped_outputs: int = 0
    warnings: tuple[str, ...] = ()


def _jupytext() -> Any:
    import jupytext  # imported here: it is only needed by `envlens convert`

    return jupytext


def _after_yaml_header(text: str) -> int:
    """Where the body starts: after jupytext's `# ---` ... `# ---` header and the blank line."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\n") != "# ---":
        return 0
    for i in range(1, len(lines)):
        if lines[i].rstrip("\n") == "# ---":
            end = i + 1
            while end < len(lines) and not lines[end].strip():
                end += 1
            return sum(len(ln) for ln in lines[:end])
    return 0


def python_problem(text: str, out: Path) -> str | None:
    """Why the script is not valid Python, or None. It can only be the notebook's own code: one
    that was not valid in the notebook either, or a block whose only line was a magic (jupytext
    comments it, and `if ...:` is left with no body)."""
    import ast

    try:
        ast.parse(text)
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        return (
            f"{out.name}:{exc.lineno}: not valid Python ({exc.msg}: `{line[:60]}`), so `uv run` "
            "and `python` stop there; the cell is kept as the notebook has it: edit it in either "
            "file (a block needs a line besides a commented magic, for example `pass`)"
        )
    return None


def notebook_to_script(path: Path) -> tuple[str, str | None, int]:
    nb = load_notebook(path)
    if notebook_runtime(nb.metadata, path) != "python":
        raise BadInputError(
            "this is a Deno (TypeScript) notebook; a percent script is Python",
            path=path,
            hint="Keep it as a notebook",
        )
    decl = read_notebook_declaration(nb)
    if decl is not None and decl.kind == "notebook-conda":
        raise BadInputError(
            f"this notebook declares conda packages (metadata.{decl.metadata_key}), which a "
            "percent script cannot hold",
            path=path,
            hint="Put them in an environment.yml beside the script (envlens reads it), or declare "
            "PyPI packages in a '# /// script' cell first",
        )
    data = copy.deepcopy(nb.data)
    header: str | None = None
    if decl is not None and decl.kind == "pep723" and decl.cell is not None:
        header = cell_source(nb.cells[decl.cell]).strip("\n")
        del data["cells"][decl.cell]
    elif decl is not None and decl.kind == "notebook-uv":
        doc = pep723.new_document(list(decl.requirements), decl.requires_python)
        header = pep723.render_block(doc).strip("\n")
    metadata = data.setdefault("metadata", {})
    for keys in METADATA_KEYS:  # the declaration and the lock go elsewhere, never in the header
        metadata.pop(keys[0], None)
    metadata.pop(NOTEBOOK_LOCK_KEY, None)
    metadata.pop("envlens", None)
    dropped = 0
    for cell in data["cells"]:
        dropped += len(cell.get("outputs") or [])
        cell_md = cell.get("metadata")
        envlens_md = cell_md.get("envlens") if isinstance(cell_md, dict) else None
        if isinstance(envlens_md, dict):  # the provenance of outputs that are not carried over
            envlens_md.pop("env", None)
            if not envlens_md:
                del cell_md["envlens"]
    jupytext = _jupytext()
    body = jupytext.writes(jupytext.reads(json.dumps(data), fmt="ipynb"), fmt=FORMAT)
    if header is not None:
        at = _after_yaml_header(body)
        rest = body[at:]
        body = body[:at] + header + "\n" + ("\n" + rest if rest.strip() else "")
    lock = nb.metadata.get(NOTEBOOK_LOCK_KEY)
    return body, lock if isinstance(lock, str) and lock.strip() else None, dropped


def script_to_notebook_text(path: Path) -> tuple[str, str | None]:
    text = read_text(path).replace("\r\n", "\n")  # notebook sources hold "\n" line ends
    jupytext = _jupytext()
    nb = jupytext.reads(text, fmt=FORMAT)
    for cell in nb.cells:
        for key in LAYOUT_KEYS:
            cell.metadata.pop(key, None)
    nb.metadata.setdefault("kernelspec", dict(PYTHON_KERNEL))
    nb.metadata.setdefault("language_info", {"name": "python"})
    first = next((c for c in nb.cells if c.cell_type == "code"), None)
    if first is not None and pep723.find_script_block(first.source, path) is not None:
        # The declaration cell, hidden as juv writes it (unless the script says otherwise).
        first.metadata.setdefault("jupyter", {}).setdefault("source_hidden", True)
    lock = read_lock_text(path)
    if lock is not None:
        nb.metadata[NOTEBOOK_LOCK_KEY] = lock
    out = jupytext.writes(nb, fmt="ipynb")
    json.loads(out)  # what jupytext wrote must be a notebook: fail here, not in the user's editor
    return out if out.endswith("\n") else out + "\n", lock


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
        problem = python_problem(text, out)
        return Converted(
            path,
            out,
            text,
            lock_out if lock else None,
            lock,
            dropped,
            (problem,) if problem else (),
        )
    text, lock = script_to_notebook_text(path)
    atomic_write_text(out, text)
    return Converted(path, out, text, None, lock)
