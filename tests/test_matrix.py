"""`envlens matrix`: one file, every combination of parameters, real kernels in one environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envlens.errors import BadInputError
from envlens.matrix import expand, parse_grid, slug

BODY = """\
# %% tags=["parameters"]
alpha = 0.1
dataset = "iris"
divisor = 1

# %%
import tinyalpha
print(f"RESULT alpha={alpha!r} dataset={dataset!r} value={10 / divisor}")
"""


def envlens(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "ENVLENS_TRUST": "1"},
        timeout=600,
    )


def printed(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text())
    return "".join(
        "".join(o.get("text", ""))
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c["outputs"]
    )


def env_keys(nb_path: Path) -> set[str]:
    nb = json.loads(nb_path.read_text())
    return {
        c["metadata"]["envlens"]["env"]
        for c in nb["cells"]
        if c["cell_type"] == "code" and "envlens" in c["metadata"]
    }


def test_grid_expands_to_the_cartesian_product() -> None:
    axes = parse_grid(["alpha=0.1,0.2", "dataset=a,b", "shape=(1, 2),(3, 4)"])
    assert axes == [("alpha", [0.1, 0.2]), ("dataset", ["a", "b"]), ("shape", [(1, 2), (3, 4)])]
    combos = expand(axes[:2], fixed={"epochs": 3})
    assert combos == [
        {"epochs": 3, "alpha": 0.1, "dataset": "a"},
        {"epochs": 3, "alpha": 0.1, "dataset": "b"},
        {"epochs": 3, "alpha": 0.2, "dataset": "a"},
        {"epochs": 3, "alpha": 0.2, "dataset": "b"},
    ]
    rows = expand(axes[:1], rows=[{"dataset": "x"}, {"dataset": "y"}])
    assert len(rows) == 4 and rows[-1] == {"dataset": "y", "alpha": 0.2}
    assert slug({"alpha": 0.1, "dataset": "a b/c"}) == "alpha=0.1_dataset=a-b-c"
    assert len(slug({"x": "y" * 300})) <= 80


@pytest.mark.parametrize("bad", [["alpha"], ["alpha="], ["1a=1,2"], ["a=1", "a=2"]])
def test_malformed_grid_is_bad_input(bad: list[str]) -> None:
    with pytest.raises(BadInputError):
        parse_grid(bad)


@pytest.mark.slow
def test_matrix_runs_every_combination(
    offline_index: Path, tmp_path: Path, write_script: Any
) -> None:
    script = write_script(tmp_path / "train.py", ["tinyalpha"], body=BODY)
    out = tmp_path / "runs"
    proc = envlens(
        "matrix", str(script), "--grid", "alpha=0.1,0.2", "--grid", "dataset=a,b",
        "-j", "2", "--out-dir", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    folder = out / "train"
    summary = json.loads((folder / "summary.json").read_text())
    runs = summary["runs"]
    assert [r["index"] for r in runs] == [0, 1, 2, 3]
    assert all(r["status"] == "ok" and r["seconds"] > 0 for r in runs)
    assert runs[3]["params"] == {"alpha": 0.2, "dataset": "b"}
    assert Path(runs[3]["output"]) == folder / "3-alpha=0.2_dataset=b.ipynb"
    keys: set[str] = set()
    for r in runs:
        text = printed(Path(r["output"]))
        p = r["params"]
        assert f"RESULT alpha={p['alpha']!r} dataset={p['dataset']!r}" in text
        keys |= env_keys(Path(r["output"]))
    assert keys == {summary["env"]}  # one environment, built once
    assert "3-alpha=0.2_dataset=b.ipynb" in proc.stdout  # the table
    assert "4 of 4 runs ok" in proc.stderr


@pytest.mark.slow
def test_failed_runs_are_named_and_exit_1(
    offline_index: Path, tmp_path: Path, write_script: Any
) -> None:
    script = write_script(tmp_path / "train.py", ["tinyalpha"], body=BODY)
    rows = tmp_path / "rows.yaml"
    rows.write_text("- {divisor: 2}\n- {divisor: 0}\n")
    proc = envlens(
        "matrix", str(script), "--params-file", str(rows), "--out-dir", str(tmp_path / "o")
    )
    assert proc.returncode == 1
    assert "1 of 2 runs failed: #1 (divisor=0): failed" in proc.stderr
    assert "ZeroDivisionError" in proc.stderr
    runs = json.loads((tmp_path / "o" / "train" / "summary.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["ok", "failed"]
    assert "value=5.0" in printed(Path(runs[0]["output"]))
    assert "ZeroDivisionError" in json.dumps(json.loads(Path(runs[1]["output"]).read_text()))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "alpha"], "is not NAME=VALUE1,VALUE2"),
        (["--grid", "alpah=1,2"], "unknown parameter alpah"),
        (["-p", "alpha=1"], "no parameters to vary"),
        (["--params-file", "missing.json"], "does not exist"),
        (["--grid", "alpha=1,2", "-j", "0"], "-j must be at least 1"),
    ],
)
def test_bad_input_writes_nothing(
    isolated_cache: Path, tmp_path: Path, write_script: Any, args: list[str], message: str
) -> None:
    script = write_script(tmp_path / "train.py", ["tinyalpha"], body=BODY)
    proc = envlens("matrix", str(script), *args, "--out-dir", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "o").exists()
    assert not (isolated_cache / "envs").exists() or not any((isolated_cache / "envs").iterdir())


def test_bad_params_file_names_the_line(isolated_cache: Path, tmp_path: Path) -> None:
    from envlens.matrix import read_params_file

    bad = tmp_path / "rows.yaml"
    bad.write_text("- {alpha: 1}\n- {alpha: [}\n")
    with pytest.raises(BadInputError) as err:
        read_params_file(bad)
    assert err.value.line == 2 and "not valid YAML" in err.value.one_line()
    not_list = tmp_path / "rows.json"
    not_list.write_text('{"alpha": 1}')
    with pytest.raises(BadInputError, match="list of objects"):
        read_params_file(not_list)


@pytest.mark.slow
def test_collect_puts_values_in_summary_csv_and_table(
    offline_index: Path, tmp_path: Path, write_script: Any
) -> None:
    """Issue 12 item 8: each run's values at its end; a failed run keeps its exception whole."""
    body = BODY + (
        "\n# %%\nvalue = 10 / divisor\nsummary = {'alpha': alpha, 'pair': (divisor, dataset)}\n"
        "odd = object()\nratio = float('nan')\n"
    )
    script = write_script(tmp_path / "train.py", ["tinyalpha"], body=body)
    rows = tmp_path / "rows.json"
    rows.write_text('[{"divisor": 2}, {"divisor": 4}, {"divisor": 0}]')
    proc = envlens(
        "matrix", str(script), "--params-file", str(rows), "--out-dir", str(tmp_path / "o"),
        "-j", "2", "--collect", "value", "summary,odd", "ratio", "nothing",
    )  # fmt: skip
    assert proc.returncode == 1
    folder = tmp_path / "o" / "train"
    data = json.loads((folder / "summary.json").read_text())
    assert data["collect"] == ["value", "summary", "odd", "ratio", "nothing"]
    first, second, third = data["runs"]
    assert first["values"]["value"] == 5.0 and second["values"]["value"] == 2.5
    assert first["values"]["summary"] == {"alpha": 0.1, "pair": [2, "iris"]}
    assert first["values"]["odd"].startswith("<object object at")  # not JSON: its repr
    assert first["values"]["ratio"] == "nan"
    assert first["missing"] == ["nothing"]
    assert third["status"] == "failed" and third["error_type"] == "ZeroDivisionError"
    assert third["error_message"] == "division by zero"
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:6] == ["#", "params", "status", "seconds", "value", "summary"]
    assert lines[1].split()[4] == "5.0" and lines[2].split()[4] == "2.5"
    import csv

    table = list(csv.DictReader((folder / "summary.csv").open()))
    assert [r["divisor"] for r in table] == ["2", "4", "0"]
    assert [r["value"] for r in table] == ["5.0", "2.5", ""]
    assert table[2]["status"] == "failed" and table[2]["error_type"] == "ZeroDivisionError"
    assert table[0]["summary"] == '{"alpha": 0.1, "pair": [2, "iris"]}'


def test_collect_names_must_be_variables(
    isolated_cache: Path, tmp_path: Path, write_script: Any
) -> None:
    script = write_script(tmp_path / "train.py", ["tinyalpha"], body=BODY)
    proc = envlens(
        "matrix", str(script), "--grid", "alpha=1,2", "--out-dir", str(tmp_path / "o"),
        "--collect", "acc-uracy",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--collect 'acc-uracy' is not a Python variable name" in proc.stderr
    assert not (tmp_path / "o").exists()
