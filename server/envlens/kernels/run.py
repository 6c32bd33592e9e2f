"""`envlens run`: execute a notebook or percent script headless in its own environment.

Like nbconvert --execute: code cells run in order in one kernel whose working folder is the file's
folder, and the run stops at the first error (cells after it keep no outputs), unless the failing
cell is tagged `raises-exception`. The executed notebook is written atomically in the notebook's own
JSON style (only outputs, execution counts and each executed cell's `metadata.envlens.env` change),
also when a cell failed, so the traceback can be read in it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envlens.errors import BadInputError, CellExecutionError, EnvlensError, KernelError
from envlens.fileio import check_writable, read_text
from envlens.kernels.cells import script_to_notebook, split_cells
from envlens.kernels.launch import KernelTarget, Progress, kernel_target
from envlens.kernels.runchecks import check_cell, missing_module_hint, refusal
from envlens.kernels.session import KernelSession
from envlens.resolve import resolve
from envlens.settings import Settings
from envlens.sources.notebook import Json, Notebook, cell_source, load_notebook
from envlens.trust import require_trusted

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class PlannedCell:
    index: int  # 0-based index in the notebook
    source: str
    script_line: int | None  # 1-based line of the cell's first source line, for percent scripts

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def first_line(self) -> str:
        for line in self.source.splitlines():
            if line.strip():
                return line.strip()
        return ""


@dataclass
class RunReport:
    path: Path
    output: Path
    key: str
    runtime: str
    python_version: str | None
    cells_total: int  # code cells that had code to run
    cells_run: int = 0
    seconds: float = 0.0
    error: CellExecutionError | None = None
    traceback: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # `collect`: each name's value at the end
    missing: list[str] = field(default_factory=list)  # `collect` names the run never assigned

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        """`ran 7 cells in 3.2 s in env <key> (Python 3.11.7); wrote OUT`"""
        cells = f"{self.cells_run} cell{'s' if self.cells_run != 1 else ''}"
        if self.runtime == "deno":
            where = "with Deno"
        else:
            where = f"in env {self.key}" + (
                f" (Python {self.python_version})" if self.python_version else ""
            )
        return f"ran {cells} in {self.seconds:.1f} s {where}; wrote {self.output}"


def default_output(path: Path) -> Path:
    return path.with_name(f"{path.stem}.out.ipynb")


def load_for_run(
    path: Path, output: Path, settings: Settings, parameters: dict[str, object] | None = None
) -> tuple[Notebook, list[PlannedCell], Any]:
    if path.suffix == ".ipynb":
        nb = load_notebook(path)
        res = resolve(path, notebook=nb, settings=settings)
        if parameters:  # after resolving: parameters never change the environment
            _inject(nb, parameters, path)
        planned = [
            PlannedCell(i, cell_source(c), None)
            for i, c in enumerate(nb.cells)
            if c.get("cell_type") == "code" and cell_source(c).strip()
        ]
        nb.path = output
        return nb, planned, res
    text = read_text(path)
    res = resolve(path, text=text, settings=settings)
    cells = split_cells(text)
    nb = script_to_notebook(text, path, output)
    planned = [
        PlannedCell(i, c.source, c.line)
        for i, c in enumerate(cells)
        if c.executable and c.source.strip()
    ]
    if parameters:
        at, replaced = _inject(nb, parameters, path, [c.line for c in cells])
        planned = [
            PlannedCell(c.index + (c.index >= at and not replaced), c.source, c.script_line)
            for c in planned
            if c.index != at or not replaced
        ]
        planned.append(PlannedCell(at, cell_source(nb.cells[at]), None))
        planned.sort(key=lambda c: c.index)
    return nb, planned, res


def _inject(
    nb: Notebook, parameters: dict[str, object], path: Path, lines: list[int] | None = None
) -> tuple[int, bool]:
    """Papermill's injected-parameters cell; an unknown name is bad input (nothing runs)."""
    from envlens import params

    params.check_names(nb.cells, parameters, path, cell_lines=lines)
    minor = nb.data.get("nbformat_minor", 5)
    done = params.inject(nb.cells, parameters, ids=isinstance(minor, int) and minor >= 5)
    nb.metadata.setdefault("envlens", {})["parameters"] = dict(parameters)
    return done.index, done.replaced


def check_paths(path: Path, output: Path | None, inplace: bool) -> Path:
    if not path.exists():
        raise BadInputError(f"{path} does not exist", path=path, hint="Check the path")
    if path.suffix not in (".ipynb", ".py"):
        raise BadInputError(
            f"envlens runs notebooks (.ipynb) and percent scripts (.py), not {path.suffix or 'this file'}",
            path=path,
            hint="Pass a .ipynb notebook or a .py script with '# %%' cells",
        )
    if inplace:
        if path.suffix != ".ipynb":
            raise BadInputError(
                "--inplace applies to notebooks; a script's results go to a new notebook",
                path=path,
                hint="Drop --inplace (the output is <name>.out.ipynb) or pass -o OUT.ipynb",
            )
        if output is not None and output.absolute() != path:
            raise BadInputError(
                "use either --inplace or -o, not both", path=path, hint="Drop one of them"
            )
        return path
    out = (output or default_output(path)).absolute()
    if out == path:
        raise BadInputError(
            "the output would overwrite the input",
            path=path,
            hint="Pass --inplace to write the results into the notebook itself, or choose another -o",
        )
    if out.suffix != ".ipynb":
        raise BadInputError(
            f"the output {out} must be a .ipynb notebook", path=path, hint="Pass -o NAME.ipynb"
        )
    return out


def save_output(nb: Notebook, out: Path) -> None:
    """`-o missing/folder/out.ipynb`: the folder is made now (checked before the run)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    nb.save(out)


def run_file(
    path: Path,
    output: Path | None = None,
    settings: Settings | None = None,
    *,
    inplace: bool = False,
    timeout: float | None = None,
    progress: Progress | None = None,
    trust_override: bool = False,
    locked: bool = False,
    parameters: dict[str, object] | None = None,
    collect: Sequence[str] = (),
) -> RunReport:
    """Execute `path` and write the executed notebook. A failing cell does not raise: it is in
    `report.error` (and the notebook is still written); a kernel that dies or cannot start raises
    KernelError after writing what ran. An unapproved declaration raises UntrustedError unless
    `trust_override`. `parameters` go into an injected cell after the `parameters` cell (papermill).
    `collect` names variables whose values end up in `report.values` after a successful run."""
    started = time.perf_counter()
    settings = settings or Settings.from_env()
    path = Path(path).absolute()
    out = check_paths(path, output, inplace)
    check_writable(out, what="the output")  # an hour of cells must not end in "cannot write"
    nb, planned, res = load_for_run(path, out, settings, parameters)
    # The trust gate: nothing is installed or run from a declaration this machine has not approved
    # (UntrustedError, exit 3), unless a batch run says so (--trust / ENVLENS_TRUST=1).
    require_trusted(res, override=trust_override)
    if locked:
        # --locked: run exactly what the lock says, or refuse (a cluster job must not re-resolve).
        from envlens.locking.drift import require_fresh_lock

        require_fresh_lock(res, settings, alternative="or run without --locked")
    say = progress or (lambda _msg: None)
    if collect and res.spec.backend == "deno":
        raise BadInputError(
            "--collect reads Python variables; this is a Deno notebook",
            path=path,
            hint="Drop --collect, or write the values to a file from the notebook",
        )
    say(f"environment {res.key}: {res.declaration.label}")
    target = kernel_target(res, settings=settings, progress=progress)
    report = RunReport(
        path=path,
        output=out,
        key=target.key,
        runtime=target.runtime,
        python_version=target.python_version,
        cells_total=len(planned),
    )
    try:
        asyncio.run(_execute(nb, planned, target, path, report, timeout, say, res, collect))
    except BaseException:
        if report.cells_run:  # the kernel died or the run was stopped: keep what ran
            save_output(nb, out)
        raise
    report.seconds = time.perf_counter() - started
    save_output(nb, out)
    return report


async def _execute(
    nb: Notebook,
    planned: list[PlannedCell],
    target: KernelTarget,
    path: Path,
    report: RunReport,
    timeout: float | None,
    say: Callable[[str], None],
    res: Any = None,
    collect: Sequence[str] = (),
) -> None:
    session: KernelSession = target.session(path)
    executed: set[int] = set()
    declared = list(res.declaration.requirements) if res is not None else []
    versions = _versions(target)
    try:
        say("starting the kernel")
        await session.start()
        for n, cell in enumerate(planned, start=1):
            say(f"cell {cell.number} ({n}/{len(planned)}): {cell.first_line[:60]}")
            # Install lines: satisfied by the declaration (skipped, said), or the run stops here.
            checked = check_cell(
                cell.source, declared, versions, script=cell.script_line is not None
            )
            if checked.refused:
                message, hint = refusal(path, cell.source, checked.refused)
                report.error = _failure(path, cell, "UndeclaredInstall", message, hint=hint)
                text = f"envlens: not run: {message}. {hint}.\n"
                nb.cells[cell.index]["outputs"] = [
                    {"name": "stderr", "output_type": "stream", "text": text}
                ]
                executed.add(cell.index)
                break
            for note in checked.notes:
                say(note)
            result = await session.execute(checked.source, cell=cell.number, timeout=timeout)
            nb_cell = nb.cells[cell.index]
            notes = [
                {"name": "stdout", "output_type": "stream", "text": f"{x}\n"} for x in checked.notes
            ]
            nb_cell["outputs"] = notes + result.outputs
            nb_cell["execution_count"] = result.execution_count
            metadata = nb_cell.setdefault("metadata", {})
            metadata.setdefault("envlens", {})["env"] = target.key
            executed.add(cell.index)
            report.cells_run += 1
            if result.timed_out:
                report.error = _failure(
                    path,
                    cell,
                    "Timeout",
                    f"did not finish within {timeout:g} s and was interrupted",
                    hint="Raise --timeout if the cell needs longer",
                )
                break
            if result.status != "ok":
                tags = metadata.get("tags") or []
                if isinstance(tags, list) and "raises-exception" in tags:
                    continue
                err = result.error or {"ename": "Error", "evalue": "", "traceback": []}
                report.traceback = [str(t) for t in err.get("traceback", [])]
                hint = f"The traceback is in {report.output}"
                if err["ename"] == "ModuleNotFoundError":
                    hint = missing_module_hint(path, str(err["evalue"])) or hint
                report.error = _failure(
                    path, cell, str(err["ename"]), str(err["evalue"]), hint=hint
                )
                break
        if collect and report.error is None:
            await _collect(session, collect, report, path)
    finally:
        _clear_unexecuted(nb, executed)
        await session.shutdown()


def _versions(target: KernelTarget) -> dict[str, str] | None:
    """What the run's environment holds (name -> version), to tell a satisfied install line."""
    if target.env_dir is None:
        return None
    from envlens.envs.inventory import installed

    try:
        return {d.name: d.version for d in installed(target.env_dir)}
    except OSError:
        return None


async def _collect(
    session: KernelSession, names: Sequence[str], report: RunReport, path: Path
) -> None:
    """The named variables' values, read in the kernel after the last cell (not saved)."""
    from envlens.collect import collect_code, read_values

    result = await session.execute(collect_code(names))
    found = read_values(result.outputs, names)
    if found is None:
        err = result.error or {}
        raise KernelError(
            "the values to collect could not be read: "
            f"{err.get('ename', 'no answer')}: {err.get('evalue', '')}".rstrip(": "),
            path=path,
            hint="Check the --collect names; the executed notebook was written",
        )
    report.values, report.missing = found


def _failure(
    path: Path, cell: PlannedCell, ename: str, evalue: str, *, hint: str
) -> CellExecutionError:
    # The location already names the cell ("nb.ipynb, cell 3: ..."); a script's line helps too.
    where = f"line {cell.script_line}: " if cell.script_line else ""
    what = f"{ename}: {evalue}" if ename != "Timeout" else evalue
    message = f"{where}`{cell.first_line[:80]}` failed: {what}"
    if ename == "UndeclaredInstall":
        message = f"{where}{evalue}"  # it names the line; the cell did not run
    return CellExecutionError(
        message, cell=cell.number, ename=ename, evalue=evalue, path=path, hint=hint
    )


def _clear_unexecuted(nb: Notebook, executed: set[int]) -> None:
    """Cells that did not run keep no outputs from an earlier run, as nbconvert leaves them."""
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") != "code" or i in executed:
            continue
        cell["outputs"] = []
        cell["execution_count"] = None
        metadata: Json = cell.get("metadata") or {}
        envlens_md = metadata.get("envlens")
        if isinstance(envlens_md, dict) and "env" in envlens_md:
            del envlens_md["env"]
            if not envlens_md:
                del metadata["envlens"]


__all__ = ["EnvlensError", "RunReport", "default_output", "run_file", "strip_ansi"]
