"""`envlens matrix`: run one notebook for every combination of parameters.

The grid (`--grid alpha=0.1,0.2 --grid dataset=a,b`) expands to its cartesian product; a params
file (JSON or YAML, a list of objects) gives rows; both together multiply. The environment is built
once before fanning out (the store's per-key lock would make concurrent builds safe anyway, but one
build then N cache hits is the fast path). Each run writes
`<out-dir>/<stem>/<index>-<slug of params>.ipynb`; `summary.json` beside them holds the table.

This module has no kernel imports at the top: the CLI loads it on every `envlens matrix`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envlens.errors import BadInputError, EnvlensError
from envlens.fileio import atomic_write_text, read_text
from envlens.params import check_literal, describe, parse_value

Params = dict[str, object]


# --- the grid -----------------------------------------------------------------------------------


def _split_values(text: str) -> list[object]:
    """`0.1,0.2` -> [0.1, 0.2]; `(1, 2),(3, 4)` -> [(1, 2), (3, 4)]; `a,b` -> ['a', 'b']."""
    whole = parse_value(f"[{text}]")
    if isinstance(whole, list) and whole:
        return whole
    return [parse_value(v) for v in text.split(",")]


def parse_grid(items: Sequence[str] | None) -> list[tuple[str, list[object]]]:
    axes: list[tuple[str, list[object]]] = []
    for item in items or ():
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier() or not values.strip():
            raise BadInputError(
                f"--grid {item!r} is not NAME=VALUE1,VALUE2,...",
                hint="Write it as for example --grid alpha=0.1,0.2 (one --grid per parameter)",
            )
        if any(name == n for n, _ in axes):
            raise BadInputError(
                f"--grid {name} is given twice", hint="List all its values in one --grid"
            )
        axes.append((name, _split_values(values)))
    return axes


def read_params_file(path: Path) -> list[Params]:
    """A JSON or YAML list of objects, one per run."""
    if not path.exists():
        raise BadInputError(
            f"{path} does not exist", path=path, hint="Check the --params-file path"
        )
    text = read_text(path)
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data: Any = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"not valid JSON: {exc.msg}", path=path, line=exc.lineno, hint="Fix the JSON"
        ) from None
    except Exception as exc:  # yaml.YAMLError and its subclasses carry a position
        mark = getattr(exc, "problem_mark", None)
        raise BadInputError(
            f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
            path=path,
            line=mark.line + 1 if mark is not None else None,
            hint="Fix the YAML",
        ) from None
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data) or not data:
        raise BadInputError(
            "a params file holds a non-empty list of objects, one per run",
            path=path,
            hint='Write for example [{"alpha": 0.1}, {"alpha": 0.2}]',
        )
    rows: list[Params] = []
    for row in data:
        for name, value in row.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise BadInputError(
                    f"{name!r} is not a Python variable name", path=path, hint="Rename it"
                )
            check_literal(name, value)
        rows.append(dict(row))
    return rows


def expand(
    axes: Sequence[tuple[str, list[object]]],
    rows: Sequence[Params] | None = None,
    fixed: Mapping[str, object] | None = None,
) -> list[Params]:
    """Every combination: fixed values, then each params-file row, then the grid's product."""
    if not axes and not rows:
        raise BadInputError(
            "no parameters to vary",
            hint="Pass --grid NAME=V1,V2 or --params-file FILE (for one run use `envlens run -p`)",
        )
    combos: list[Params] = []
    names = [n for n, _ in axes]
    for row in rows or [{}]:
        for values in itertools.product(*(v for _, v in axes)):
            combos.append({**(fixed or {}), **row, **dict(zip(names, values, strict=True))})
    return combos


_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def slug(params: Mapping[str, object]) -> str:
    """`alpha=0.1_dataset=a`: readable and safe as a file name; long ones end in a short hash."""
    parts = [f"{k}={v if isinstance(v, str) else repr(v)}" for k, v in params.items()]
    text = _UNSAFE.sub("-", "_".join(parts)).strip("-") or "run"
    if len(text) > 80:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        text = f"{text[:70].rstrip('-_')}-{digest}"
    return text


def job_folder(out_dir: Path, path: Path) -> Path:
    return (out_dir / path.stem).absolute()


def output_path(folder: Path, index: int, params: Mapping[str, object]) -> Path:
    return folder / f"{index}-{slug(params)}.ipynb"


# --- results ------------------------------------------------------------------------------------


@dataclass
class RunResult:
    index: int
    params: Params
    output: Path
    status: str = "pending"  # ok | failed (a cell raised) | error (no run: kernel, build) | missing
    seconds: float | None = None
    error: str | None = None  # the one-line message
    error_type: str | None = None  # a cell's exception type (ValueError), or envlens's error class
    error_message: str | None = None  # the exception's own message, whole
    values: dict[str, Any] = field(default_factory=dict)  # --collect: each name's value
    missing: list[str] = field(default_factory=list)  # --collect names the run never assigned
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the Slurm task's log

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def apply(self, record: Mapping[str, Any]) -> None:
        """Take a run's outcome record (envlens.outcome) into this row."""
        self.status = str(record.get("status", "error"))
        seconds = record.get("seconds")
        self.seconds = float(seconds) if isinstance(seconds, (int, float)) else None
        for name in ("error", "error_type", "error_message"):
            value = record.get(name)
            setattr(self, name, str(value) if value is not None else None)
        values = record.get("values")
        self.values = dict(values) if isinstance(values, dict) else {}
        missing = record.get("missing")
        self.missing = [str(m) for m in missing] if isinstance(missing, list) else []

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "index": self.index,
            "params": self.params,
            "status": self.status,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "output": str(self.output),
        }
        if self.values or self.missing:
            data["values"] = self.values
            data["missing"] = self.missing
        if self.error:
            data["error"] = self.error
            data["error_type"] = self.error_type
            data["error_message"] = self.error_message
        data.update(self.extra)
        return data


def _cell(value: Any) -> str:
    """A collected value as one short table cell."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:39] + "\u2026"


def table(results: Sequence[RunResult], collect: Sequence[str] = ()) -> str:
    head = ["#", "params", "status", "seconds", *collect, "output"]
    rows = [head]
    for r in results:
        secs = f"{r.seconds:.1f}" if r.seconds is not None else "-"
        values = [_cell(r.values[n]) if n in r.values else "-" for n in collect]
        rows.append([str(r.index), describe(r.params), r.status, secs, *values, str(r.output)])
    last = len(head) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(last)]
    lines = []
    for row in rows:
        cells = [
            row[i].rjust(widths[i]) if i == 3 else row[i].ljust(widths[i]) for i in range(last)
        ]
        lines.append("  ".join([*cells, row[last]]).rstrip())
    return "\n".join(lines)


def write_csv(path: Path, results: Sequence[RunResult], collect: Sequence[str] = ()) -> None:
    """One row per run: index, each parameter, status, seconds, each collected value, the error
    (type and message), the output notebook. Values that are not strings are written as JSON."""
    import csv
    import io

    names: list[str] = []
    for r in results:
        names += [n for n in r.params if n not in names]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    fixed = {"index", "status", "seconds", "error_type", "error_message", "output", *names}
    # A collected name that is also a parameter (or a fixed column) gets a `value:` prefix.
    heads = [f"value:{n}" if n in fixed else n for n in collect]
    writer.writerow(
        ["index", *names, "status", "seconds", *heads, "error_type", "error_message", "output"]
    )
    for r in results:

        def text(value: Any) -> str:
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

        writer.writerow(
            [
                r.index,
                *(text(r.params[n]) if n in r.params else "" for n in names),
                r.status,
                f"{r.seconds:.3f}" if r.seconds is not None else "",
                *(text(r.values[n]) if n in r.values else "" for n in collect),
                r.error_type or "",
                r.error_message or "",
                str(r.output),
            ]
        )
    atomic_write_text(path, buf.getvalue())


def write_summary(
    folder: Path,
    path: Path,
    results: Sequence[RunResult],
    collect: Sequence[str] = (),
    **extra: Any,
) -> Path:
    """`summary.json` (and `summary.csv` beside it) in the job folder."""
    summary = folder / "summary.json"
    data = {
        "file": str(path),
        **extra,
        "collect": list(collect),
        "runs": [r.to_json() for r in results],
    }
    atomic_write_text(summary, json.dumps(data, indent=1, default=str) + "\n")
    write_csv(summary.with_suffix(".csv"), results, collect)
    return summary


def require_all_ok(results: Sequence[RunResult], summary: Path) -> None:
    failed = [r for r in results if not r.ok]
    if not failed:
        return
    names = "; ".join(
        f"#{r.index} ({describe(r.params)}): {r.status}" + (f": {r.error}" if r.error else "")
        for r in failed
    )
    raise EnvlensError(
        f"{len(failed)} of {len(results)} runs failed: {names}",
        hint=f"Open the output notebooks for the tracebacks; the table is in {summary}",
    )


# --- running ------------------------------------------------------------------------------------


def _run_one(
    path: str,
    output: str,
    params: Params,
    timeout: float | None,
    locked: bool,
    collect: Sequence[str] = (),
) -> dict[str, Any]:
    """One run (in this process or a worker process): its outcome record (envlens.outcome)."""
    from envlens import outcome
    from envlens.kernels.run import run_file

    started = time.perf_counter()
    try:
        report = run_file(
            Path(path),
            Path(output),
            timeout=timeout,
            trust_override=True,  # the parent checked approval once, before fanning out
            locked=locked,
            parameters=params,
            collect=collect,
        )
    except EnvlensError as exc:
        return outcome.of_error(exc, time.perf_counter() - started)
    return outcome.of_report(report)


def prepare_checks(
    path: Path, combos: Sequence[Params], *, trust_override: bool, locked: bool = False
) -> Any:
    """Everything that can refuse, before any output is written: the file, every combination's
    names, approval, the lock. Returns the file's Resolution."""
    from envlens.kernels.run import check_paths, load_for_run
    from envlens.settings import Settings
    from envlens.trust import require_trusted

    settings = Settings.from_env()
    out = check_paths(path, None, False)
    for params in combos:  # an unknown name in any row stops everything
        load_for_run(path, out, settings, dict(params))
    _nb, _planned, res = load_for_run(path, out, settings, None)
    require_trusted(res, override=trust_override)
    if locked:
        from envlens.locking.drift import require_fresh_lock

        require_fresh_lock(res, settings)
    return res


def prepare(
    path: Path,
    combos: Sequence[Params],
    *,
    trust_override: bool,
    locked: bool,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Check everything once, then build the environment once: returns its key."""
    from envlens.kernels.launch import kernel_target
    from envlens.settings import Settings

    res = prepare_checks(path, combos, trust_override=trust_override, locked=locked)
    return kernel_target(res, settings=Settings.from_env(), progress=progress).key


def run_matrix(
    path: Path,
    combos: Sequence[Params],
    out_dir: Path,
    *,
    jobs: int = 1,
    timeout: float | None = None,
    trust_override: bool = False,
    locked: bool = False,
    collect: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> tuple[list[RunResult], Path, str]:
    """Run every combination; returns (results, summary.json, env key). Failures are in results."""
    say = progress or (lambda _m: None)
    path = path.absolute()
    key = prepare(path, combos, trust_override=trust_override, locked=locked, progress=progress)
    folder = job_folder(out_dir, path)
    folder.mkdir(parents=True, exist_ok=True)
    results = [RunResult(i, dict(p), output_path(folder, i, p)) for i, p in enumerate(combos)]
    started = time.perf_counter()

    def finish(r: RunResult, record: dict[str, Any]) -> None:
        r.apply(record)
        say(f"[{r.index}] {r.status} in {r.seconds or 0:.1f} s: {describe(r.params)}")

    if jobs <= 1:
        for r in results:
            say(f"[{r.index}] running {describe(r.params)}")
            finish(r, _run_one(str(path), str(r.output), r.params, timeout, locked, collect))
    else:
        import multiprocessing

        # spawn, not fork: the parent may hold threads (uv progress readers) and zmq state.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(results)), mp_context=ctx) as pool:
            futures: list[tuple[RunResult, Future[dict[str, Any]]]] = []
            for r in results:
                say(f"[{r.index}] queued {describe(r.params)}")
                futures.append(
                    (
                        r,
                        pool.submit(
                            _run_one, str(path), str(r.output), r.params, timeout, locked, collect
                        ),
                    )
                )
            for r, fut in futures:
                try:
                    finish(r, fut.result())
                except Exception as exc:  # a worker that died (killed, out of memory)
                    message = f"the worker process failed: {exc}"
                    finish(
                        r,
                        {
                            "status": "error",
                            "seconds": 0.0,
                            "error": message,
                            "error_type": type(exc).__name__,
                            "error_message": str(exc),
                        },
                    )
    total = time.perf_counter() - started
    summary = write_summary(
        folder, path, results, collect, env=key, jobs=jobs, seconds=round(total, 3)
    )
    return results, summary, key


def print_report(results: Sequence[RunResult], summary: Path, collect: Sequence[str] = ()) -> None:
    print(table(results, collect))
    ok = sum(r.ok for r in results)
    print(
        f"envlens: {ok} of {len(results)} runs ok; summary in {summary} "
        f"(and {summary.with_suffix('.csv').name})",
        file=sys.stderr,
    )
