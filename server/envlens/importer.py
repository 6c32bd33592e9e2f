"""Import dependencies from requirements.txt or environment.yml into a file's declaration.

The imported list replaces the declaration's, and a preview (additions, changes, removals,
unchanged, skipped) is computed before anything is written. From environment.yml: the `pip:`
section as it is, and each conda package that exists on PyPI under the same name (asked of uv,
offline first), reported one by one; the others are skipped with the reason.
"""

from __future__ import annotations

import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envlens.edit import PlannedEdit, plan_edit
from envlens.errors import BadInputError
from envlens.fileio import read_text
from envlens.resolve import resolve
from envlens.settings import Settings

# Conda packages that are not Python distributions (or are the tools themselves).
_CONDA_ONLY = {"python", "pip", "conda", "mamba", "setuptools", "wheel"}


@dataclass
class ImportPreview:
    path: Path  # the file whose declaration changes
    source: Path  # requirements.txt / environment.yml
    added: list[str] = field(default_factory=list)
    changed: list[tuple[str, str]] = field(default_factory=list)  # (declared, imported)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "gdal: not on PyPI under that name, skipped"
    notes: list[str] = field(default_factory=list)  # e.g. the conda package's PyPI form
    edit: PlannedEdit | None = None

    @property
    def changes_anything(self) -> bool:
        return self.edit is not None and self.edit.changed

    def lines(self) -> list[str]:
        out = [f"Importing {self.source.name} into {self.path.name}:"]
        out += [f"  + {r}" for r in self.added]
        out += [f"  ~ {old} -> {new}" for old, new in self.changed]
        out += [f"  - {r}" for r in self.removed]
        out += [f"  = {r}" for r in self.unchanged]
        out += [f"  ! {s}" for s in self.skipped]
        out += [f"    {n}" for n in self.notes]
        out.append(
            f"{len(self.added)} to add, {len(self.changed)} to change, {len(self.removed)} to "
            f"remove, {len(self.unchanged)} unchanged, {len(self.skipped)} skipped"
        )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "source": str(self.source),
            "added": self.added,
            "changed": [list(c) for c in self.changed],
            "removed": self.removed,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "notes": self.notes,
        }


def _bad(source: Path, line: int | None, message: str, hint: str) -> BadInputError:
    return BadInputError(message, path=source, line=line, hint=hint)


def read_requirements_txt(source: Path) -> tuple[list[str], list[str]]:
    """Requirements and skipped lines (options, editable installs, nested files)."""
    reqs: list[str] = []
    skipped: list[str] = []
    logical: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(read_text(source).splitlines(), start=1):
        if not buf:
            start = n
        if raw.rstrip().endswith("\\"):
            buf += raw.rstrip()[:-1] + " "
            continue
        logical.append((start, buf + raw))
        buf = ""
    if buf:
        logical.append((start, buf))
    for n, line in logical:
        text = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not text:
            continue
        text = re.sub(r"\s--hash[= ]\S+", "", " " + text).strip()  # hashes belong to a lock
        if text.startswith("-"):
            skipped.append(f"line {n}: {text.split()[0]} options are not imported, skipped")
            continue
        try:
            reqs.append(str(Requirement(text)))
        except InvalidRequirement as exc:
            raise _bad(
                source,
                n,
                f"invalid requirement {text!r}: {str(exc).splitlines()[0]}",
                "Fix the line, or remove it from the file",
            ) from None
    return reqs, skipped


def _conda_to_pep508(spec: str) -> str | None:
    """`numpy=1.26` (conda's prefix match) -> `numpy==1.26.*`; builds and channels dropped."""
    spec = spec.split("::")[-1].strip()
    m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$", spec)
    if m is None:
        return None
    name, rest = m.group(1), m.group(2).strip().replace(" ", "")
    if not rest:
        return name
    if rest.startswith("=") and not rest.startswith("=="):
        version = rest[1:].split("=")[0]  # drop a build string
        if not version:
            return name
        return (
            f"{name}=={version}"
            if version.endswith("*") or version.count(".") >= 2
            else f"{name}=={version}.*"
        )
    rest = rest.split("=", 2)[0] if rest.count("=") > 2 else rest
    try:
        return str(Requirement(name + rest))
    except InvalidRequirement:
        return name


def read_environment_yml(
    source: Path, settings: Settings | None = None
) -> tuple[list[str], list[str], list[str]]:
    """PyPI requirements, skipped entries (one line each), and notes."""
    import yaml

    try:
        data = yaml.safe_load(read_text(source))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _bad(
            source,
            mark.line + 1 if mark is not None else None,
            f"environment.yml is not valid YAML: {getattr(exc, 'problem', exc)}",
            "Fix the YAML",
        ) from None
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(deps, list):
        raise _bad(
            source,
            1,
            "environment.yml has no 'dependencies' list",
            "Check that this is a conda environment file",
        )
    pip_reqs: list[str] = []
    conda: list[tuple[str, str]] = []  # (as written, PEP 508 form)
    skipped: list[str] = []
    notes: list[str] = []
    for item in deps:
        if isinstance(item, dict) and isinstance(item.get("pip"), list):
            for r in item["pip"]:
                try:
                    pip_reqs.append(str(Requirement(str(r))))
                except InvalidRequirement:
                    skipped.append(f"{r}: not a PyPI requirement, skipped")
        elif isinstance(item, str):
            pep = _conda_to_pep508(item)
            if pep is None:
                skipped.append(f"{item}: not a package specification, skipped")
            elif canonicalize_name(Requirement(pep).name) in _CONDA_ONLY:
                skipped.append(f"{item}: provided by the environment itself, skipped")
            else:
                conda.append((item, pep))
    pip_names = {canonicalize_name(Requirement(r).name) for r in pip_reqs}
    conda = [(w, p) for w, p in conda if canonicalize_name(Requirement(p).name) not in pip_names]
    found = _on_pypi([p for _, p in conda], settings)
    out = list(pip_reqs)
    for (written, pep), (ok, why) in zip(conda, found, strict=True):
        name = Requirement(pep).name
        if ok:
            out.append(pep)
            notes.append(f"{written}: on PyPI as {pep}")
        else:
            skipped.append(f"{name}: {why}, skipped")
    return out, skipped, notes


def _on_pypi(reqs: list[str], settings: Settings | None) -> list[tuple[bool, str]]:
    """For each requirement alone: does uv find it on the index? (offline first)"""
    if not reqs:
        return []
    from envlens.envs.uv import Uv, cause

    def one(req: str) -> tuple[bool, str]:
        with tempfile.TemporaryDirectory(prefix="envlens-import-") as tmp:
            infile = Path(tmp) / "requirements.in"
            infile.write_text(req + "\n", encoding="utf-8")
            uv = Uv.find(settings)
            args: list[str | Path] = [
                "pip",
                "compile",
                infile,
                "--no-deps",
                "--quiet",
                "--no-header",
                "--no-python-downloads",
            ]
            res = uv.call(args, cwd=Path(tmp), offline_first=True)
            if res.ok:
                return True, ""
            err = res.stderr
            if re.search(r"not found in the (package registry|provided package locations)", err):
                return False, "not on PyPI under that name"
            if re.search(r"there is no version of|only .* available", err):
                return False, f"no version matching {req} on PyPI"
            return False, f"uv could not resolve it from PyPI ({cause(err) or 'no message'})"

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, reqs))


def preview_import(
    path: Path, source: Path, *, settings: Settings | None = None, text: str | None = None
) -> ImportPreview:
    """What importing `source` would change in `path`'s declaration; nothing is written."""
    path = Path(path).absolute()
    source = Path(source).absolute()
    name = source.name.lower()
    if name.endswith((".yml", ".yaml")):
        reqs, skipped, notes = read_environment_yml(source, settings)
    elif name.endswith((".txt", ".in")):
        reqs, skipped = read_requirements_txt(source)
        notes = []
    else:
        raise BadInputError(
            f"envlens imports requirements.txt and environment.yml files, not {source.name}",
            path=source,
            hint="Give a requirements file (.txt) or a conda environment file (.yml)",
        )
    resolution = resolve(path, settings=settings)
    declared = list(resolution.declaration.requirements) if resolution.declaration.inline else []
    by_name = {canonicalize_name(Requirement(d).name): d for d in declared}
    preview = ImportPreview(path=path, source=source, skipped=skipped, notes=notes)
    imported_names: set[str] = set()
    add: list[str] = []
    for r in reqs:
        n = canonicalize_name(Requirement(r).name)
        if n in imported_names:
            continue
        imported_names.add(n)
        old = by_name.get(n)
        if old is None:
            preview.added.append(r)
            add.append(r)
        elif Requirement(old) == Requirement(r) or str(Requirement(old)) == str(Requirement(r)):
            preview.unchanged.append(old)
        else:
            preview.changed.append((old, r))
            add.append(r)
    preview.removed = [d for n, d in by_name.items() if n not in imported_names]
    remove = [Requirement(d).name for d in preview.removed]
    preview.edit = plan_edit(path, add=add, remove=remove, settings=settings, text=text)
    return preview
