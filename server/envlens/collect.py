"""`--collect NAME ...`: the value of named variables at the end of a headless run.

After the last cell, one more (silent for the notebook: its outputs are not saved) execution in the
same kernel reads each name from the user's namespace and displays the values as one JSON bundle of
its own MIME type. Each value goes out as JSON when it is JSON already, else through `.item()` (numpy
and pandas scalars) or `.tolist()` (arrays), else as its `repr` (cut at 1,000 characters), so a
table can always show it. A name the run never assigned is listed as missing, not guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from envlens.errors import BadInputError

MIME = "application/vnd.envlens.values+json"
LIMIT = 10_000  # characters of JSON per value; beyond it the value is shown by its repr

_CODE = """\
def _envlens_collect(names, ns):
    import json
    from IPython.display import display

    def plain(value):
        for read in (lambda v: v, lambda v: v.item(), lambda v: v.tolist()):
            try:
                out = read(value)
                if len(json.dumps(out, allow_nan=False)) <= {limit}:
                    return json.loads(json.dumps(out))
            except Exception:
                continue
        text = repr(value)
        return text if len(text) <= 1000 else text[:999] + "\\u2026"

    values = {{n: plain(ns[n]) for n in names if n in ns}}
    missing = [n for n in names if n not in ns]
    display({{{mime!r}: {{"values": values, "missing": missing}}}}, raw=True)


_envlens_collect({names!r}, globals())
del _envlens_collect
"""


def check_names(names: Iterable[str] | None) -> list[str]:
    """The names as given (each once), or BadInputError for one that is not a variable name."""
    out: list[str] = []
    for name in names or ():
        for part in (p.strip() for p in name.split(",")):
            if not part:
                continue
            if not part.isidentifier():
                raise BadInputError(
                    f"--collect {part!r} is not a Python variable name",
                    hint="Name variables the notebook assigns, for example --collect accuracy loss",
                )
            if part not in out:
                out.append(part)
    return out


def collect_code(names: Sequence[str]) -> str:
    return _CODE.format(names=list(names), mime=MIME, limit=LIMIT)


def read_values(
    outputs: Sequence[Mapping[str, Any]], names: Sequence[str]
) -> tuple[dict[str, Any], list[str]] | None:
    """(values, missing) from the collecting execution's outputs; None if it showed none."""
    for output in outputs:
        data = output.get("data")
        if isinstance(data, Mapping) and isinstance(data.get(MIME), Mapping):
            bundle = data[MIME]
            values = bundle.get("values")
            missing = bundle.get("missing")
            if isinstance(values, dict) and isinstance(missing, list):
                return {n: values[n] for n in names if n in values}, [str(m) for m in missing]
    return None
