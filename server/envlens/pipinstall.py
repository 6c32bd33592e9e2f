"""`!pip install` / `%pip install` / `!conda install` lines: find them, and move them into the declaration.

A notebook that installs its own packages with shell lines does not carry its environment: whoever
runs it next gets whatever versions are current, in whatever environment the kernel happens to be.
Moving them means: the packages (with their version specifiers) go into the declaration, the lines
go away, and a cell left empty goes away too.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envlens.edit import PlannedEdit, plan_edit
from envlens.errors import BadInputError
from envlens.settings import Settings
from envlens.sources.notebook import Notebook, cell_source, set_cell_source

Tool = Literal["pip", "conda"]

# `!pip`, `%pip`, and in percent scripts the commented form jupytext writes (`# !pip`, `# %pip`).
_LINE_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<comment>#[ \t]*)?(?P<magic>[!%])(?P<cmd>.*)$")
_HEADS: tuple[tuple[tuple[str, ...], Tool], ...] = (
    (("pip", "install"), "pip"),
    (("pip3", "install"), "pip"),
    (("uv", "pip", "install"), "pip"),
    (("conda", "install"), "conda"),
    (("mamba", "install"), "conda"),
    (("micromamba", "install"), "conda"),
)
_PY_RE = re.compile(r"^(python[\d.]*|\{sys\.executable\}|\$\{?PYTHON\}?|\S*/python[\d.]*)$")

# Options that take a value as the next token (when not written `--opt=value`).
_PIP_VALUE_OPTS = {
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-c",
    "--constraint",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--src",
    "--upgrade-strategy",
    "--progress-bar",
    "--log",
    "--cache-dir",
    "--trusted-host",
    "--config-settings",
    "-C",
    "--report",
    "--python",
    "--only-binary",
    "--no-binary",
    "--index-strategy",
    "--resolution",
    "-p",
}
_CONDA_VALUE_OPTS = {
    "-c",
    "--channel",
    "-n",
    "--name",
    "-p",
    "--prefix",
    "--solver",
    "--repodata-fn",
}
# Options whose argument is itself something to install, which a declaration cannot hold.
_UNMOVABLE_OPTS = {"-r", "--requirement", "-e", "--editable"}


@dataclass(frozen=True)
class PipRequirement:
    raw: str  # as written (quotes removed)
    requirement: str | None  # the PEP 508 form to declare; None when it cannot be declared
    line: int  # 0-based line in the text
    start: int  # columns of the token (quotes included)
    end: int
    problem: str | None = None  # why it cannot be declared


@dataclass(frozen=True)
class PipInstall:
    tool: Tool
    line: int  # 0-based first line
    end_line: int  # last line (backslash continuations)
    start: int  # column where the `!`/`%` (or the comment) starts
    end: int  # end column on end_line
    items: tuple[PipRequirement, ...] = field(default_factory=tuple)

    @property
    def requirements(self) -> list[str]:
        return [i.requirement for i in self.items if i.requirement]

    @property
    def problems(self) -> list[PipRequirement]:
        return [i for i in self.items if i.requirement is None]

    @property
    def movable(self) -> bool:
        return bool(self.items) and not self.problems


def _tokens(text: str, offset: int) -> list[tuple[str, int, int]]:
    """Shell-like words with their columns; quotes are removed from the value, kept in the span."""
    out: list[tuple[str, int, int]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            break
        start = i
        value = []
        while i < n and text[i] not in " \t":
            ch = text[i]
            if ch in "\"'":
                close = text.find(ch, i + 1)
                if close < 0:  # unbalanced: take the rest literally
                    value.append(text[i + 1 :])
                    i = n
                    break
                value.append(text[i + 1 : close])
                i = close + 1
            else:
                value.append(ch)
                i += 1
        out.append(("".join(value), start + offset, i + offset))
    return out


def _conda_to_pep508(spec: str) -> str:
    """`conda-forge::numpy=1.26` -> `numpy==1.26.*`; `numpy>=1.2` stays."""
    if "::" in spec:
        spec = spec.split("::", 1)[1]
    m = re.fullmatch(r"([A-Za-z0-9_.\-\[\],]+)=([^=<>!~]+)(?:=\S+)?", spec)
    if m:
        version = m.group(2)
        return (
            f"{m.group(1)}=={version}"
            if version.endswith("*") or version.count(".") >= 2
            else f"{m.group(1)}=={version}.*"
        )
    return spec.replace(" ", "")


def _check(raw: str, tool: Tool) -> tuple[str | None, str | None]:
    if (
        any(c in raw for c in "${}")
        or raw.startswith((".", "/", "~"))
        or ("://" in raw and "@" not in raw)
    ):
        return None, f"{raw!r} is a path, URL or variable, which a declaration cannot hold"
    text = _conda_to_pep508(raw) if tool == "conda" else raw
    try:
        return str(Requirement(text)), None
    except InvalidRequirement as exc:
        return None, f"{raw!r} is not a requirement: {str(exc).splitlines()[0]}"


def _parse_command(
    words: list[tuple[str, int, int]], line_of: list[int]
) -> tuple[Tool, list[PipRequirement]] | None:
    values = [w[0] for w in words]
    i = 0
    # `python -m pip install`, `{sys.executable} -m pip install`
    if len(values) >= 3 and _PY_RE.match(values[0]) and values[1] == "-m":
        i = 2
    tool: Tool | None = None
    for head, t in _HEADS:
        if tuple(values[i : i + len(head)]) == head:
            tool, i = t, i + len(head)
            break
    if tool is None:
        return None
    value_opts = _PIP_VALUE_OPTS if tool == "pip" else _CONDA_VALUE_OPTS
    items: list[PipRequirement] = []
    while i < len(words):
        value, start, end = words[i]
        ln = line_of[i]
        if value in ("&&", ";", "||", "|"):
            break
        if value.startswith("-"):
            opt = value.split("=", 1)[0]
            if opt in _UNMOVABLE_OPTS:
                arg = (
                    value.split("=", 1)[1]
                    if "=" in value
                    else values[i + 1]
                    if i + 1 < len(values)
                    else ""
                )
                items.append(
                    PipRequirement(
                        raw=f"{opt} {arg}".strip(),
                        requirement=None,
                        line=ln,
                        start=start,
                        end=words[i + 1][2] if "=" not in value and i + 1 < len(words) else end,
                        problem=f"'{opt} {arg}' installs from a file or folder, which a declaration cannot hold",
                    )
                )
                i += 1 if "=" in value else 2
                continue
            i += 2 if opt in value_opts and "=" not in value else 1
            continue
        req, problem = _check(value, tool)
        items.append(PipRequirement(value, req, ln, start, end, problem))
        i += 1
    return tool, items


def find_pip_installs(text: str, *, commented: bool = False) -> list[PipInstall]:
    """Install lines in a cell or script. `commented`: also `# !pip ...` (jupytext's percent scripts)."""
    if "install" not in text:
        return []
    lines = [line.rstrip("\r") for line in text.split("\n")]  # a CRLF file's lines too
    found: list[PipInstall] = []
    ln = 0
    while ln < len(lines):
        line = lines[ln]
        m = _LINE_RE.match(line) if "install" in line or line.rstrip().endswith("\\") else None
        if m is None or (m.group("comment") and not commented):
            ln += 1
            continue
        # Join backslash continuations, remembering which line each word came from.
        words: list[tuple[str, int, int]] = []
        line_of: list[int] = []
        first, cur, part, offset = ln, ln, m.group("cmd"), m.start("cmd")
        while True:
            cont = part.rstrip().endswith("\\")
            body = part.rstrip()[:-1] if cont else part
            toks = _tokens(body, offset)
            words.extend(toks)
            line_of.extend([cur] * len(toks))
            if not cont or cur + 1 >= len(lines):
                break
            cur += 1
            part, offset = lines[cur], 0
            stripped = part.lstrip()
            if m.group("comment") and stripped.startswith("#"):  # commented continuation
                offset = len(part) - len(stripped) + 1
                part = stripped[1:]
                offset += len(part) - len(part.lstrip())
                part = part.lstrip()
        parsed = _parse_command(words, line_of)
        if parsed is not None:
            tool, items = parsed
            found.append(
                PipInstall(
                    tool,
                    first,
                    cur,
                    m.start("indent") + len(m.group("indent")),
                    len(lines[cur]),
                    tuple(items),
                )
            )
        ln = cur + 1
    return found


def remove_lines(text: str, installs: list[PipInstall]) -> str:
    """The text without the install lines (their whole lines, newline included)."""
    drop: set[int] = set()
    for inst in installs:
        drop.update(range(inst.line, inst.end_line + 1))
    lines = text.split("\n")
    kept = [line for i, line in enumerate(lines) if i not in drop]
    if text.endswith("\n") and (not kept or kept[-1] != ""):
        kept.append("")
    return "\n".join(kept)


def _requirements(installs: list[PipInstall], declared: Collection[str] = ()) -> list[str]:
    reqs: list[str] = []
    for inst in installs:
        for r in inst.requirements:
            req = Requirement(r)
            bare = not req.specifier and not req.extras and not req.url and req.marker is None
            if bare and canonicalize_name(req.name) in declared:
                continue  # `pip install numpy` where numpy>=2 is declared: keep the declaration
            if r not in reqs:
                reqs.append(r)
    return reqs


def _merge(first: list[str], more: list[str]) -> list[str]:
    """`first` and then those of `more` whose distribution `first` does not name already."""
    names = {canonicalize_name(Requirement(r).name) for r in first}
    return first + [r for r in more if canonicalize_name(Requirement(r).name) not in names]


def _unmovable(installs: list[PipInstall], path: Path) -> None:
    for inst in installs:
        if inst.problems:
            p = inst.problems[0]
            raise BadInputError(
                f"cannot move this install line: {p.problem}",
                path=path,
                line=inst.line + 1,
                hint="Declare those dependencies by hand, or leave the line as it is",
            )


def plan_move_script(
    path: Path,
    text: str,
    *,
    lines: set[int] | None = None,
    settings: Settings | None = None,
    skip_unmovable: bool = False,
    add: list[str] | None = None,
    declared: Collection[str] = (),
) -> list[PlannedEdit]:
    """Edits that move a script's install lines (all, or those starting on `lines`) into the declaration.

    `skip_unmovable`: leave a line that a declaration cannot hold (`-r file`, a path) where it is
    instead of refusing; `add`: more requirements to declare in the same edit (envlens declare);
    `declared`: canonical names already declared, which a bare `pip install name` leaves as they are.
    """
    installs = [
        i
        for i in find_pip_installs(text, commented=True)
        if (lines is None or i.line in lines) and (i.movable or not skip_unmovable)
    ]
    if not installs and not add:
        return []
    _unmovable(installs, path)
    stripped = remove_lines(text, installs)
    reqs = _merge(_requirements(installs, declared), add or [])
    decl = plan_edit(path, add=reqs, text=stripped, settings=settings)
    if decl.path == Path(path).absolute():
        return [PlannedEdit(decl.path, text, decl.new_text)]
    return [PlannedEdit(Path(path).absolute(), text, stripped), decl]


def plan_move_notebook(
    nb: Notebook,
    *,
    cells: set[int] | None = None,
    settings: Settings | None = None,
    skip_unmovable: bool = False,
    add: list[str] | None = None,
    declared: Collection[str] = (),
) -> list[PlannedEdit]:
    """Edits that move a notebook's install lines (all, or those in `cells`) into the declaration.

    `skip_unmovable`, `add` and `declared` as in `plan_move_script`.
    """
    old = nb.dumps()
    nb2 = Notebook(path=nb.path, data=copy.deepcopy(nb.data), style=nb.style)
    moved: list[PipInstall] = []
    empty: list[int] = []
    for idx, cell in enumerate(nb2.cells):
        if cell.get("cell_type") != "code" or (cells is not None and idx not in cells):
            continue
        src = cell_source(cell)
        installs = [i for i in find_pip_installs(src) if i.movable or not skip_unmovable]
        if not installs:
            continue
        for inst in installs:
            if inst.problems:
                p = inst.problems[0]
                raise BadInputError(
                    f"cannot move this install line: {p.problem}",
                    path=nb.path,
                    cell=idx + 1,
                    line=inst.line + 1,
                    hint="Declare those dependencies by hand, or leave the line as it is",
                )
        moved.extend(installs)
        rest = remove_lines(src, installs)
        if rest.strip():
            set_cell_source(cell, rest)
        else:
            empty.append(idx)
    if not moved and not add:
        return []
    for idx in reversed(empty):
        del nb2.cells[idx]
    reqs = _merge(_requirements(moved, declared), add or [])
    decl = plan_edit(nb.path, add=reqs, text=nb2.dumps(), settings=settings)
    if decl.path == nb.path.absolute():
        return [PlannedEdit(decl.path, old, decl.new_text)]
    return [PlannedEdit(nb.path.absolute(), old, nb2.dumps()), decl]


# --- is an install line satisfied by the declaration? (envlens run; the editor's kernel) ----------


@dataclass(frozen=True)
class PipVerdict:
    """What an install line asks for, against what the file declares."""

    install: PipInstall
    satisfied: tuple[str, ...]  # requirements the declaration (and the environment) already give
    missing: tuple[str, ...]  # requirements to declare: what `envlens declare` / the editor adds
    unmovable: tuple[PipRequirement, ...]  # `-r file`, paths, variables: nothing to declare

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unmovable


def _declared_by_name(declared: Sequence[str]) -> dict[str, Requirement]:
    out: dict[str, Requirement] = {}
    for text in declared:
        try:
            r = Requirement(text)
        except InvalidRequirement:
            continue
        out[canonicalize_name(r.name)] = r
    return out


def _satisfies(want: Requirement, have: Requirement | None, version: str | None) -> bool:
    if have is None:
        return False
    if not want.extras <= have.extras:
        return False
    if not want.specifier:
        return True
    if version is not None:
        try:
            return want.specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            return False
    return str(want.specifier) == str(have.specifier)  # nothing installed to compare with


def check_install(
    install: PipInstall,
    declared: Sequence[str],
    installed: Mapping[str, str] | None = None,
) -> PipVerdict:
    """Whether the declaration already gives what an install line asks for.

    `declared`: the file's requirements; `installed`: canonical name -> version in the file's
    environment, when it is built (a `numpy>=2` line is satisfied by a declared numpy only if the
    environment's numpy is >= 2). A requirement not declared (or declared with versions the line
    excludes) is missing: that is what declaring the line would add.
    """
    have = _declared_by_name(declared)
    versions = {canonicalize_name(k): v for k, v in (installed or {}).items()}
    ok: list[str] = []
    missing: list[str] = []
    for item in install.items:
        if item.requirement is None:
            continue
        want = Requirement(item.requirement)
        name = canonicalize_name(want.name)
        if _satisfies(want, have.get(name), versions.get(name)):
            ok.append(item.requirement)
        else:
            missing.append(item.requirement)
    return PipVerdict(install, tuple(ok), tuple(missing), tuple(install.problems))


def check_source(
    source: str,
    declared: Sequence[str],
    installed: Mapping[str, str] | None = None,
    *,
    commented: bool = False,
) -> list[PipVerdict]:
    """`check_install` for every install line of a cell (or script)."""
    return [
        check_install(i, declared, installed)
        for i in find_pip_installs(source, commented=commented)
    ]
