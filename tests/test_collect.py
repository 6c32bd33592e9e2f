"""`envlens run --collect NAME ... --record FILE`: the values a run computed, and its outcome as JSON
(what a Slurm task leaves behind), also when it fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BODY = """\
# %% tags=["parameters"]
alpha = 1

# %%
import tinyalpha
result = {"alpha": alpha, "inverse": 1 / alpha}
"""


def envlens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "ENVLENS_TRUST": "1"},
        timeout=600,
    )


@pytest.mark.slow
def test_run_prints_and_records_collected_values(
    offline_index: Path, tmp_path: Path, write_script: Any
) -> None:
    script = write_script(tmp_path / "a.py", ["tinyalpha"], body=BODY)
    record = tmp_path / "record.json"
    proc = envlens("run", str(script), "-p", "alpha=4", "--record", str(record),
                   "--collect", "result", "alpha", "nope")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        'result = {"alpha": 4, "inverse": 0.25}',
        "alpha = 4",
        "nope = (not assigned by the run)",
    ]
    data = json.loads(record.read_text())
    assert data["status"] == "ok" and data["exit"] == 0
    assert data["values"] == {"result": {"alpha": 4, "inverse": 0.25}, "alpha": 4}
    assert data["missing"] == ["nope"]
    assert data["end"] >= data["start"] and data["seconds"] > 0
    out = json.loads((tmp_path / "a.out.ipynb").read_text())
    # The collecting execution is not part of the executed notebook.
    assert all("envlens_collect" not in "".join(c["source"]) for c in out["cells"])

    failed = envlens("run", str(script), "-p", "alpha=0", "--record", str(record),
                     "--collect", "result")  # fmt: skip
    assert failed.returncode == 1
    data = json.loads(record.read_text())
    assert data["status"] == "failed" and data["exit"] == 1
    assert (data["error_type"], data["error_message"]) == ("ZeroDivisionError", "division by zero")
    assert "values" not in data and failed.stdout == ""

    bad = envlens("run", str(script), "-p", "alhpa=0", "--record", str(record))
    assert bad.returncode == 2
    data = json.loads(record.read_text())
    assert data["status"] == "error" and data["error_type"] == "BadInputError"
    assert "unknown parameter alhpa" in data["error_message"]
