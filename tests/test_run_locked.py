"""`envlens run --locked`: runs from a fresh lock, refuses a missing or out-of-date one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ENVLENS = str(Path(sys.executable).parent / "envlens")


def envlens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENVLENS, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ENVLENS_TRUST": "1"},
    )


def test_run_locked(offline_index: Path, tmp_path: Path, write_script: Any) -> None:
    script = write_script(
        tmp_path / "job.py", ["tinyalpha"], body="import tinyalpha\nprint(tinyalpha.__version__)\n"
    )
    missing = envlens("run", str(script), "--locked")
    assert missing.returncode == 1
    assert "job.py has no lock" in missing.stderr and "envlens lock job.py" in missing.stderr
    assert "or run without --locked" in missing.stderr
    assert not (tmp_path / "job.out.ipynb").exists()

    assert envlens("lock", str(script)).returncode == 0
    ok = envlens("run", str(script), "--locked")
    assert ok.returncode == 0, ok.stderr
    assert "2.0" in (tmp_path / "job.out.ipynb").read_text()

    script.write_text(
        script.read_text().replace("# dependencies = [", '# dependencies = ["tinyimg", ')
    )
    (tmp_path / "job.out.ipynb").unlink()
    stale = envlens("run", str(script), "--locked")
    assert stale.returncode == 1
    assert "tinyimg is declared but not in the lock" in stale.stderr
    assert not (tmp_path / "job.out.ipynb").exists()
