"""`envlens declare`: declare what a file imports and move its install lines into the declaration.

The same decisions as the editor's quick fixes ("Declare all imports", "Move to declared
dependencies"): which imports are undeclared (`imports.undeclared`), which distribution provides
each (`imports.lookup`), how install lines move (`pipinstall.plan_move_*`). An import that no known
distribution provides, or that several provide with none clearly the one, is listed with its
candidates and not added. Nothing is written here: `plan_declare` returns the edits and a preview.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envlens import trust
from envlens.edit import PlannedEdit, plan_edit
from envlens.errors import BadInputError
from envlens.fileio import read_text
from envlens.imports import (
    NON_PYTHON_CELL,
    ImportRef,
    Provider,
    scan_chunk,
    scan_imports,
    third_party,
    undeclared,
)
from envlens.pipinstall import (
    PipInstall,
    find_pip_installs,
    plan_move_notebook,
    plan_move_script,
    remove_lines,
)
from envlens.requirements import requirement_name
from envlens.resolve import resolve
from envlens.settings import Settings
from envlens.sources.notebook import cell_source, parse_notebook


@dataclass(frozen=True)
class Site:
    """Where something is in the file, as the user reads it: "cell 3" or "line 12"."""

    cell: int | None  # 0-based notebook cell
    line: int  # 0-based line (in the cell, or in the script)

    def __str__(self) -> str:
        if self.cell is not None:
            return f"cell {self.cell + 1}"
        return f"line {self.line + 1}"


@dataclass
class DeclarePlan:
    path: Path
    edits: list[PlannedEdit] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)  # (requirement, why)
    moved: list[tuple[Site, str]] = field(default_factory=list)  # install lines leaving the code
    left: list[tuple[Site, str]] = field(default_factory=list)  # install lines that cannot move
    removed_cells: int = 0
    unknown: list[tuple[str, Site, Provider]] = field(default_factory=list)
    ambiguous: list[tuple[str, Site, Provider]] = field(default_factory=list)
    questioned: list[trust.Flag] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return any(e.changed for e in self.edits)

    def lines(self) -> list[str]:
        """The preview `envlens declare` shows before it asks."""
        out = [f"Declaring the dependencies of {self.path.name}:"]
        flags = {f.package: f for f in self.questioned}
        for req, why in self.added:
            flag = flags.get(requirement_name(req))
            note = f"; ! {flag.detail}" if flag else ""
            out.append(f"  + {req}    ({why}{note})")
        for site, text in self.moved:
            out.append(f"  - {site}: {text}    (the line leaves the code)")
        if self.removed_cells:
            n = self.removed_cells
            out.append(f"  - {n} cell{'s' if n != 1 else ''} left empty by that, removed")
        for site, text in self.left:
            out.append(
                f"  ! {site}: {text}    (left as it is: it installs from a file, a path or a variable)"
            )
        for module, site, p in self.ambiguous:
            out.append(
                f"  ? {module} ({site}): several distributions provide it: "
                f"{', '.join(p.candidates)}; not added"
            )
        for module, site, p in self.unknown:
            why = p.note or "no distribution on PyPI is known to provide it (your own module?)"
            out.append(f"  ? {module} ({site}): {why}; not added")
        if self.ambiguous or self.unknown:
            out.append(
                f"    Declare those by hand if they are packages: `envlens add {self.path} DISTRIBUTION`"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "added": [{"requirement": r, "why": w} for r, w in self.added],
            "moved": [{"where": str(s), "line": t} for s, t in self.moved],
            "left": [{"where": str(s), "line": t} for s, t in self.left],
            "removedCells": self.removed_cells,
            "ambiguous": [
                {"module": m, "where": str(s), "candidates": list(p.candidates)}
                for m, s, p in self.ambiguous
            ],
            "unknown": [{"module": m, "where": str(s)} for m, s, _ in self.unknown],
            "questioned": [f.to_json() for f in self.questioned],
        }


def _line_text(text: str, inst: PipInstall) -> str:
    lines = text.split("\n")[inst.line : inst.end_line + 1]
    return " ".join(part.strip().rstrip("\\").strip() for part in lines)


def _scan(
    path: Path, text: str
) -> tuple[list[tuple[Site, ImportRef]], list[tuple[Site, str, PipInstall]], Any]:
    """(imports, install lines with their cell's text, the notebook or None)."""
    refs: list[tuple[Site, ImportRef]] = []
    pips: list[tuple[Site, str, PipInstall]] = []
    if path.suffix == ".ipynb":
        nb = parse_notebook(text, path)
        for i, cell in enumerate(nb.cells):
            if cell.get("cell_type") != "code":
                continue
            src = cell_source(cell)
            if src.lstrip().startswith(NON_PYTHON_CELL):
                continue
            refs.extend((Site(i, r.line), r) for r in scan_chunk(src))
            pips.extend((Site(i, p.line), src, p) for p in find_pip_installs(src))
        return refs, pips, nb
    refs = [(Site(None, r.line), r) for r in scan_imports(text)]
    pips = [(Site(None, p.line), text, p) for p in find_pip_installs(text, commented=True)]
    return refs, pips, None


def plan_declare(path: Path, *, settings: Settings | None = None) -> DeclarePlan:
    """What `envlens declare` would change in `path`; nothing is written."""
    path = Path(path).absolute()
    if path.suffix not in (".ipynb", ".py"):
        raise BadInputError(
            f"envlens declares notebooks (.ipynb) and scripts (.py), not {path.suffix or 'this file'}",
            path=path,
            hint="Pass a .ipynb notebook or a .py script",
        )
    text = read_text(path)
    refs, pips, nb = _scan(path, text)
    res = (
        resolve(path, notebook=nb, settings=settings)
        if nb is not None
        else resolve(path, text=text, settings=settings)
    )
    if res.runtime != "python":
        raise BadInputError("a Deno notebook declares no Python packages", path=path)
    declared = {requirement_name(r) for r in res.declaration.requirements}
    plan = DeclarePlan(path)

    # Imports, first place each module is imported; `try: import x except ImportError` is optional.
    first: dict[str, tuple[Site, ImportRef]] = {}
    for site, r in refs:
        if not r.optional:
            first.setdefault(r.module, (site, r))
    needed = third_party([r for _, r in first.values()], folder=path.parent)
    missing = undeclared([r.module for r in needed], declared)

    # Install lines: what they ask for is declared first (with its versions), imports after.
    for site, src, inst in pips:
        where = f"{site}: {_line_text(src, inst)}"
        if inst.movable:
            plan.moved.append((site, _line_text(src, inst)))
            for req in inst.requirements:
                wanted = Requirement(req)
                bare = not (wanted.specifier or wanted.extras or wanted.url)
                if requirement_name(req) in declared and bare:
                    continue  # declared already; the line only goes
                if all(requirement_name(req) != requirement_name(a) for a, _ in plan.added):
                    plan.added.append((req, where))
        else:
            plan.left.append((site, _line_text(src, inst)))
    pip_names = {requirement_name(r) for r, _ in plan.added}

    from_imports: list[str] = []
    for module, p in missing.items():
        site = first[module][0]
        if p.distribution is None and p.source == "ambiguous":
            if not {canonicalize_name(c) for c in p.candidates} & pip_names:
                plan.ambiguous.append((module, site, p))
            continue
        if p.distribution is None:
            if canonicalize_name(module.split(".")[0]) not in pip_names:
                plan.unknown.append((module, site, p))
            continue
        name = canonicalize_name(p.distribution)
        if name in pip_names or name in {canonicalize_name(d) for d in from_imports}:
            continue
        from_imports.append(p.distribution)
        also = f"; also provided by {', '.join(p.candidates)}" if p.candidates else ""
        if p.source == "pypi-name":
            also = "; named like the import: check it is the one you mean"
        plan.added.append((p.distribution, f"import {module}, {site}{also}"))

    # The same edits as the quick fixes: move the lines, and add the imports' distributions.
    if plan.moved:
        if nb is not None:
            plan.edits = plan_move_notebook(
                nb, settings=settings, skip_unmovable=True, add=from_imports, declared=declared
            )
            emptied = {site.cell for site, src, inst in pips if inst.movable}
            plan.removed_cells = sum(
                1
                for i in emptied
                if i is not None
                and not remove_lines(
                    cell_source(nb.cells[i]),
                    [x for x in find_pip_installs(cell_source(nb.cells[i])) if x.movable],
                ).strip()
            )
        else:
            plan.edits = plan_move_script(
                path,
                text,
                settings=settings,
                skip_unmovable=True,
                add=from_imports,
                declared=declared,
            )
    elif from_imports:
        plan.edits = [plan_edit(path, add=from_imports, text=text, settings=settings)]
    plan.questioned = trust.questions(
        [canonicalize_name(Requirement(r).name) for r, _ in plan.added]
    )
    return plan
