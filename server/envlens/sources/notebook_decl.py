"""Declarations inside notebooks: a PEP 723 block in the first code cell (juv), or nteract metadata."""

from __future__ import annotations

from typing import Any, Literal

from envlens.errors import DeclarationError, EnvlensError
from envlens.fileio import read_text
from envlens.requirements import (
    check_requirement,
    is_valid,
    parse_requirement,
    requirement_name,
    validate_requires_python,
)
from envlens.sources import pep723
from envlens.sources.declaration import Declaration, canonical_settings
from envlens.sources.notebook import (
    Notebook,
    cell_source,
    first_code_cell,
    nested,
    new_code_cell,
    set_cell_source,
)
from envlens.sources.project import channel_spec

METADATA_KEYS: tuple[tuple[str, ...], ...] = (
    ("runt", "uv"),
    ("uv",),
    ("runt", "conda"),
    ("conda",),
)

NewDeclarationPlace = Literal["cell", "metadata"]


def _json_line(nb: Notebook, needle: str) -> int | None:
    """1-based line of the first occurrence of a JSON string in the file, for error messages."""
    try:
        text = read_text(nb.path)
    except EnvlensError:
        return None
    idx = text.find(needle)
    return text.count("\n", 0, idx) + 1 if idx >= 0 else None


def _string_list(nb: Notebook, value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DeclarationError(
            f"notebook metadata {where} must be a list of strings",
            path=nb.path,
            line=_json_line(nb, f'"{where.split(".")[-1]}"'),
            hint="Fix the notebook metadata, or declare the dependencies in a '# /// script' cell",
        )
    return tuple(value)


def _pep723_declaration(nb: Notebook) -> Declaration | None:
    idx = first_code_cell(nb)
    if idx is None:
        return None
    src = cell_source(nb.cells[idx])
    if "# /// script" not in src:
        return None
    try:
        return pep723.declaration(src, nb.path, cell=idx)
    except EnvlensError as exc:
        exc.cell = idx + 1
        raise


# nteract's documented metadata.uv fields; any other key is named as not honoured.
UV_METADATA_FIELDS = ("dependencies", "requires-python", "prerelease")


def _metadata_declaration(nb: Notebook) -> Declaration | None:
    for keys in METADATA_KEYS:
        value = nested(nb.metadata, *keys)
        if value is None:
            continue
        where = "metadata." + ".".join(keys)
        if not isinstance(value, dict):
            raise DeclarationError(
                f"notebook {where} must be an object",
                path=nb.path,
                line=_json_line(nb, f'"{keys[-1]}"'),
                hint='Write it as {"dependencies": [...]}',
            )
        deps = _string_list(nb, value.get("dependencies"), where + ".dependencies")
        if keys[-1] == "uv":
            for d in deps:
                if not is_valid(d):  # the file is read for the line only when there is an error
                    check_requirement(d, path=nb.path, line=_json_line(nb, d))
            rp = value.get("requires-python")
            if rp is not None:
                rp = validate_requires_python(
                    str(rp), path=nb.path, line=_json_line(nb, '"requires-python"')
                )
            prerelease = value.get("prerelease")
            if prerelease is not None and not isinstance(prerelease, str):
                raise DeclarationError(
                    f"notebook {where}.prerelease must be a string",
                    path=nb.path,
                    line=_json_line(nb, '"prerelease"'),
                    hint='Write it as "prerelease": "allow" (or "if-necessary", "explicit")',
                )
            return Declaration(
                kind="notebook-uv",
                path=nb.path,
                requirements=deps,
                requires_python=rp,
                metadata_key=".".join(keys),
                uv_settings=canonical_settings({"prerelease": prerelease} if prerelease else {}),
                ignored=tuple(f"{where}.{k}" for k in value if k not in UV_METADATA_FIELDS),
            )
        python = value.get("python")
        channels = _string_list(nb, value.get("channels"), where + ".channels")
        return Declaration(
            kind="notebook-conda",
            path=nb.path,
            conda_packages=deps,
            # A local channel folder is relative to the notebook's own folder.
            channels=tuple(channel_spec(c, nb.path.parent) for c in channels),
            requires_python=f"=={python}.*" if isinstance(python, str) and python else None,
            metadata_key=".".join(keys),
        )
    return None


def read_notebook_declaration(nb: Notebook) -> Declaration | None:
    """The notebook's own declaration, or None when it has none (then project files are looked at)."""
    return _pep723_declaration(nb) or _metadata_declaration(nb)


def edit_notebook_declaration(
    nb: Notebook,
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
    requires_python: str | None = None,
    replace: dict[str, str] | None = None,
    new_place: NewDeclarationPlace = "cell",
    default_requires_python: str | None = None,
) -> None:
    """Edit the declaration where it lives; a notebook without one gets a juv-style first cell."""
    for req in add or []:
        parse_requirement(req, path=nb.path)
    decl = read_notebook_declaration(nb)
    if decl is not None and decl.kind == "notebook-conda":
        raise DeclarationError(
            "this notebook declares conda packages (metadata.conda); envlens does not edit those yet",
            path=nb.path,
            hint="Edit metadata.conda by hand, or move the dependencies into a '# /// script' cell",
        )
    if decl is not None and decl.kind == "pep723" and decl.cell is not None:
        cell = nb.cells[decl.cell]
        text = pep723.edit_script_text(
            cell_source(cell),
            nb.path,
            add=add,
            remove=remove,
            requires_python=requires_python,
            replace=replace,
        )
        set_cell_source(cell, text)
        return
    if (decl is not None and decl.kind == "notebook-uv") or (
        decl is None and new_place == "metadata"
    ):
        keys = tuple(decl.metadata_key.split(".")) if decl and decl.metadata_key else ("uv",)
        target = nb.metadata
        for k in keys:
            target = target.setdefault(k, {})
        deps = list(target.get("dependencies", []))
        for name in remove or []:
            canon = requirement_name(name)
            deps = [d for d in deps if requirement_name(d) != canon]
        for old, new in (replace or {}).items():
            deps = [new if d == old else d for d in deps]
        for req in add or []:
            canon = requirement_name(req)
            hits = [i for i, d in enumerate(deps) if requirement_name(d) == canon]
            if hits:
                deps[hits[0]] = req
            else:
                deps.append(req)
        target["dependencies"] = deps
        rp = requires_python or (default_requires_python if decl is None else None)
        if rp:
            target["requires-python"] = rp
        return
    # No declaration yet: a new first cell with a PEP 723 block, as `juv init` makes it.
    doc = pep723.new_document([], requires_python or default_requires_python)
    pep723.edit_document(doc, add=add, remove=remove)
    nb.cells.insert(0, new_code_cell(nb, pep723.render_block(doc), hidden=True))
