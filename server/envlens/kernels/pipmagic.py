"""`%pip install x` / `!pip install x` in a cell that runs in an envlens kernel.

pip would install into the kernel's environment behind the declaration's back (and a uv
environment has no pip at all: "No module named pip"). Instead the packages go into the file's
declaration, the environment is built, and the running kernel takes them (envlens.kernels.hotadd).
This module only reads the cell: which requirements its install lines name, what cannot be
declared, and the code that is left to run.

`pip_cell` is the one place the editor's kernel decides this; the decision of what a pip line
adds to a declaration belongs with the import of pip lines (envlens.pipinstall), which it reuses.
"""

from __future__ import annotations

from dataclasses import dataclass

from envlens.pipinstall import find_pip_installs, remove_lines


@dataclass(frozen=True)
class PipCell:
    requirements: tuple[str, ...]  # PEP 508, in the order written, without duplicates
    problems: tuple[str, ...]  # one line each: what cannot go into a declaration, and why
    remaining: str  # the cell without its pip install lines ("" when nothing else is left)
    lines: tuple[str, ...]  # the install lines as written

    def to_json(self) -> dict[str, object]:
        return {
            "requirements": list(self.requirements),
            "problems": list(self.problems),
            "remaining": self.remaining,
            "lines": list(self.lines),
        }


def pip_cell(code: str) -> PipCell | None:
    """The cell's `%pip install` / `!pip install` lines, or None when it has none."""
    installs = [i for i in find_pip_installs(code) if i.tool == "pip"]
    if not installs:
        return None
    reqs: list[str] = []
    problems: list[str] = []
    for inst in installs:
        for item in inst.items:
            if item.requirement is None:
                problems.append(item.problem or f"{item.raw!r} cannot be declared")
            elif item.requirement not in reqs:
                reqs.append(item.requirement)
    source_lines = code.split("\n")
    written = tuple("\n".join(source_lines[i.line : i.end_line + 1]).strip() for i in installs)
    remaining = remove_lines(code, installs)
    return PipCell(tuple(reqs), tuple(problems), remaining if remaining.strip() else "", written)
