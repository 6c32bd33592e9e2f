"""Add and remove dependencies where the declaration lives; a file with none gets one where DESIGN.md says.

`plan_edit` computes the new text without writing (the language server turns it into a WorkspaceEdit);
`apply_edit` writes it atomically. Only the declaration changes: the rest of the file stays byte for byte.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit.items import Array

from envlens.envs.interpreters import new_declaration_python
from envlens.errors import DeclarationError
from envlens.fileio import atomic_write_text, read_text
from envlens.requirements import parse_requirement, requirement_name
from envlens.resolve import declaration_for
from envlens.settings import Settings
from envlens.sources import pep723, toml_read
from envlens.sources.notebook import Notebook, cell_source, nested, parse_notebook, prune_metadata
from envlens.sources.notebook_decl import edit_notebook_declaration, read_notebook_declaration
from envlens.trust import remove_signature


@dataclass(frozen=True)
class PlannedEdit:
    path: Path  # the file that changes (the notebook or script itself, or a project file)
    old_text: str
    new_text: str

    @property
    def changed(self) -> bool:
        return self.old_text != self.new_text


def _edit_pyproject(
    path: Path, add: list[str], remove: list[str], requires_python: str | None
) -> PlannedEdit:
    old = read_text(path)
    doc = tomlkit.parse(old)
    project = doc.setdefault("project", tomlkit.table())
    if "dependencies" not in project:
        project["dependencies"] = tomlkit.array()
    deps = project["dependencies"]
    assert isinstance(deps, Array)
    for name in remove:
        canon = requirement_name(name)
        for i in reversed(range(len(deps))):
            if requirement_name(str(deps[i])) == canon:
                del deps[i]
    for req in add:
        canon = requirement_name(req)
        hits = [i for i in range(len(deps)) if requirement_name(str(deps[i])) == canon]
        if hits:
            deps[hits[0]] = req
        else:
            deps.append(req)
    if requires_python:
        project["requires-python"] = requires_python
    return PlannedEdit(path, old, tomlkit.dumps(doc))


def _as_created(value: dict[str, object], settings: Settings) -> bool:
    """Whether an emptied declaration is what `add` makes before its first dependency goes in:
    an empty list, and the requires-python envlens writes into new declarations (if it has one)."""
    if value == {"dependencies": []}:
        return True
    return (
        set(value) == {"dependencies", "requires-python"}
        and value["dependencies"] == []
        and (value["requires-python"] == new_declaration_python(settings))
    )


def _block_data(toml_text: str) -> dict[str, object]:
    try:
        return toml_read.loads(toml_text)
    except tomlkit.exceptions.ParseError:
        return {}


def _drop_emptied_declaration(nb: Notebook, settings: Settings) -> None:
    """Removing the last dependency removes what adding the first one made, so add-then-remove
    gives the original bytes back: a cell holding nothing but such a declaration, a `metadata.uv`
    holding nothing else, and then the signature that only covered it. What a person wrote (a
    requires-python of their own, code beside the block, outputs) stays."""
    decl = read_notebook_declaration(nb)
    if decl is None or decl.requirements:
        return
    if decl.kind == "pep723" and decl.cell is not None:
        cell = nb.cells[decl.cell]
        source = cell_source(cell)
        block = pep723.find_script_block(source, nb.path)
        if (
            block is not None
            and not (source[: block.start_offset] + source[block.end_offset :]).strip()
            and not cell.get("outputs")
            and _as_created(_block_data(block.toml), settings)
        ):
            del nb.cells[decl.cell]
    elif decl.kind == "notebook-uv" and decl.metadata_key:
        keys = decl.metadata_key.split(".")
        value = nested(nb.metadata, *keys)
        if isinstance(value, dict) and _as_created(value, settings):
            prune_metadata(nb.metadata, keys)
    if read_notebook_declaration(nb) is None:
        remove_signature(nb)


def plan_edit(
    path: Path,
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
    requires_python: str | None = None,
    replace: dict[str, str] | None = None,
    text: str | None = None,
    settings: Settings | None = None,
) -> PlannedEdit:
    """The edit that adds/removes requirements. `text` is the file's current (maybe unsaved) content."""
    path = Path(path).absolute()
    settings = settings or Settings.from_env()
    add = list(add or [])
    remove = list(remove or [])
    for req in add:
        parse_requirement(req, path=path)
    for name in remove:
        requirement_name(name)
    old = text if text is not None else read_text(path)
    nb: Notebook | None = parse_notebook(old, path) if path.suffix == ".ipynb" else None
    _, decl, _ = declaration_for(path, text=None if nb else old, notebook=nb)
    if decl.python_project and decl.path is not None:
        return _edit_pyproject(decl.path, add, remove, requires_python)
    if decl.conda and decl.from_project:
        raise DeclarationError(
            f"the dependencies are declared in {decl.path}, which envlens does not edit yet",
            path=decl.path,
            hint=f"Add them to {decl.path.name if decl.path else 'that file'} by hand",
        )
    # A declaration envlens creates names the Python it builds with, as `uv init --script` does:
    # a lock of it then covers that Python and newer, not Pythons the packages may not support.
    default_python = new_declaration_python(settings) if decl.kind == "none" and add else None
    if nb is not None:
        nb2 = Notebook(path=nb.path, data=copy.deepcopy(nb.data), style=nb.style)
        edit_notebook_declaration(
            nb2,
            add=add,
            remove=remove,
            requires_python=requires_python,
            replace=replace,
            new_place=settings.new_notebook_declaration,
            default_requires_python=default_python,
        )
        if remove and decl.inline and decl.requirements:
            _drop_emptied_declaration(nb2, settings)
        return PlannedEdit(path, old, nb2.dumps())
    new = pep723.edit_script_text(
        old,
        path,
        add=add,
        remove=remove,
        requires_python=requires_python,
        replace=replace,
        default_requires_python=default_python,
    )
    return PlannedEdit(path, old, new)


def apply_edit(edit: PlannedEdit) -> bool:
    if not edit.changed:
        return False
    atomic_write_text(edit.path, edit.new_text)
    return True
