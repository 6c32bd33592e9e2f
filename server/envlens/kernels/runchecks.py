"""What `envlens run` does about install lines and missing modules in a cell.

A headless run executes the declared environment and installs nothing: a `!pip install x` /
`%pip install x` line (and `!uv pip install`, `!conda install`) whose packages the declaration
already gives is satisfied, so it is not executed and the output says so; one asking for anything
else stops the run before the cell executes, naming `envlens declare`. A ModuleNotFoundError says
which distribution provides the module and how to declare it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from envlens.imports import lookup
from envlens.pipinstall import PipVerdict, check_source


@dataclass(frozen=True)
class CellInstalls:
    source: str  # the cell as it runs: satisfied install lines turned into `pass`
    notes: tuple[str, ...]  # one line per satisfied install line, for the output
    refused: tuple[PipVerdict, ...]  # lines asking for what is not declared


def _command(source: str, v: PipVerdict) -> str:
    lines = source.split("\n")[v.install.line : v.install.end_line + 1]
    return " ".join(x.strip().rstrip("\\").strip() for x in lines)


def check_cell(
    source: str,
    declared: Sequence[str],
    installed: Mapping[str, str] | None,
    *,
    script: bool,
) -> CellInstalls:
    """`source` with its satisfied install lines disabled, and the lines that are not."""
    verdicts = check_source(source, declared, installed, commented=script)
    if not verdicts:
        return CellInstalls(source, (), ())
    refused = tuple(v for v in verdicts if not v.ok)
    lines = source.split("\n")
    notes = []
    for v in verdicts:
        if not v.ok:
            continue
        notes.append(
            f"envlens: `{_command(source, v)}` skipped: "
            f"{', '.join(v.satisfied) or 'nothing to install'} "
            f"{'is' if len(v.satisfied) == 1 else 'are'} declared and installed in this environment"
        )
        i = v.install
        indent = lines[i.line][: len(lines[i.line]) - len(lines[i.line].lstrip())]
        # `pass` keeps an `if IN_COLAB:` block valid; the line numbers stay as they were.
        lines[i.line] = f"{indent}pass  # envlens: satisfied by the declaration"
        for n in range(i.line + 1, i.end_line + 1):
            lines[n] = f"{indent}# (continued)"
    return CellInstalls("\n".join(lines), tuple(notes), refused)


def refusal(path: Path, source: str, refused: Sequence[PipVerdict]) -> tuple[str, str]:
    """(message, hint) for install lines the declaration does not cover."""
    v = refused[0]
    what = ", ".join(v.missing) or ", ".join(p.raw for p in v.unmovable)
    message = (
        f"`{_command(source, v)}` was not run: it would install {what}, which {path.name} does "
        "not declare (a run installs nothing; it runs the declared environment)"
    )
    if v.missing:
        hint = (
            f"Run `envlens declare {path}` to move the line into the declaration "
            f"(or `envlens add {path} {' '.join(v.missing)}`), then run again"
        )
    else:
        hint = f"Declare those packages with `envlens add {path} NAME`, and remove the line"
    return message, hint


_NO_MODULE = re.compile(r"No module named '([\w.]+)'")


def missing_module_hint(
    path: Path, evalue: str, installed: Mapping[str, Sequence[str]] | None = None
) -> str | None:
    """For a ModuleNotFoundError: which distribution to declare, and the commands that do it."""
    m = _NO_MODULE.search(evalue)
    if m is None:
        return None
    module = m.group(1)
    p = lookup(module, installed)
    if p.distribution is not None:
        return (
            f"'{module}' comes from the distribution '{p.distribution}', which the environment "
            f"does not have: run `envlens declare {path}` (declares every import) or "
            f"`envlens add {path} {p.distribution}`, then run again"
        )
    if p.candidates:
        return (
            f"'{module}' is provided by one of {', '.join(p.candidates)}: declare the one you use "
            f"with `envlens add {path} NAME`, then run again"
        )
    why = p.note or "no distribution on PyPI is known to provide it"
    return (
        f"'{module}': {why}; if it is your own module, put it beside {path.name}; if it is a "
        f"package, declare it with `envlens add {path} NAME`"
    )
