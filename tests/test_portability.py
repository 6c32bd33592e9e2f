"""Check Portability: per-target verdicts and reasons on PyPI itself, and bad platform names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envlens.errors import BadInputError
from envlens.portability import DEFAULT_TARGETS, check, parse_platforms
from envlens.resolve import resolve

ENVLENS = [sys.executable, "-m", "envlens"]


def test_unknown_platform_lists_the_valid_ones(
    isolated_cache: Path, tmp_path: Path, write_script
) -> None:
    assert parse_platforms(None) == list(DEFAULT_TARGETS)
    assert parse_platforms(["linux-arm64,macos"]) == ["linux-aarch64", "macos-arm64"]
    with pytest.raises(BadInputError) as err:
        parse_platforms(["solaris-sparc"])
    assert "unknown platform 'solaris-sparc'" in err.value.one_line()
    assert "linux-x86_64, linux-aarch64, macos-arm64" in err.value.one_line()
    script = write_script(tmp_path / "a.py", ["six"])
    before = script.read_text()
    out = subprocess.run(
        [*ENVLENS, "check", str(script), "--platform", "solaris-sparc"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert "unknown platform 'solaris-sparc'" in out.stderr
    assert script.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]


@pytest.mark.pypi
def test_linux_only_wheels_get_per_target_verdicts(
    isolated_cache: Path, tmp_path: Path, write_script
) -> None:
    # triton publishes manylinux x86_64/aarch64 wheels only, and no source distribution.
    script = write_script(tmp_path / "a.py", ["triton==3.5.0", "six"], requires_python=">=3.10")
    verdicts = {v.platform: v for v in check(resolve(script), pythons=["3.12"])}
    assert list(verdicts) == list(DEFAULT_TARGETS)
    assert verdicts["linux-x86_64"].status == "works"
    assert verdicts["linux-x86_64"].packages == {
        "six": verdicts["linux-x86_64"].packages["six"],
        "triton": "3.5.0",
    }
    assert verdicts["linux-aarch64"].status == "works"
    for plat in ("macos-arm64", "windows-x86_64"):
        v = verdicts[plat]
        assert v.status == "fails"
        assert [p.package for p in v.problems] == ["triton"]
        assert v.problems[0].reason.startswith(
            f"triton 3.5.0 has no wheel for CPython 3.12 on {plat} and no source distribution"
        )
        assert "linux-x86_64" in v.problems[0].reason
    out = subprocess.run(
        [
            *ENVLENS,
            "check",
            "--trust",
            str(script),
            "--python",
            "3.12",
            "--platform",
            "macos-arm64",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1
    assert out.stdout.splitlines()[:2] == [
        "macos-arm64, Python 3.12: fails",
        "  - " + verdicts["macos-arm64"].problems[0].reason,
    ]


@pytest.mark.pypi
def test_no_wheel_but_a_source_distribution_needs_a_compiler(
    isolated_cache: Path, tmp_path: Path, write_script
) -> None:
    # numpy 1.26.4 has wheels up to CPython 3.12 and an sdist: on 3.13 it must be compiled.
    script = write_script(tmp_path / "a.py", ["numpy==1.26.4"])
    (v,) = check(resolve(script), ["linux-aarch64"], ["3.13"])
    assert v.status == "builds"
    assert [p.reason for p in v.problems] == [
        "numpy 1.26.4 has no wheel for CPython 3.13 on linux-aarch64, and building it from "
        "source needs a compiler"
    ]
    (ok,) = check(resolve(script), ["linux-aarch64"], ["3.12"])
    assert ok.status == "works"


def test_requires_python_that_excludes_the_target_is_the_reason(
    offline_index: Path, tmp_path: Path, write_script
) -> None:
    """Issue 12 item 6: `--python 3.9` on a file whose requires-python is >=3.12 says exactly that,
    not that a package has no wheel; a Python the file allows is checked as usual."""
    script = write_script(tmp_path / "a.py", ["tinyalpha"], requires_python=">=3.12")
    out = subprocess.run(
        [*ENVLENS, "check", "--trust", str(script), "--python", "3.9", "--python", "3.12",
         "--platform", "linux-x86_64"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert out.stdout.splitlines() == [
        "linux-x86_64, Python 3.9: fails",
        "  - requires-python >=3.12 (in a.py) excludes Python 3.9: the file says it does not run "
        "there, so nothing was checked for it (check a Python it allows, or change requires-python)",
        "linux-x86_64, Python 3.12: works (1 packages, all from wheels)",
    ]
    assert "wheel" not in out.stdout.splitlines()[1]


@pytest.mark.pypi
def test_every_failing_package_and_its_own_reason(
    isolated_cache: Path, tmp_path: Path, write_script
) -> None:
    """One line per package that fails on a target, each with its real reason: no wheel and no
    source distribution (triton, nvidia-nccl-cu12 on macOS), a source build that needs a compiler
    (numpy 1.26.4 on 3.13), the package's own requires-python (numpy 2.1.0 on 3.9)."""
    script = write_script(
        tmp_path / "a.py", ["triton==3.5.0", "nvidia-nccl-cu12==2.21.5", "numpy==1.26.4", "six"]
    )
    (mac,) = check(resolve(script), ["macos-arm64"], ["3.13"])
    assert mac.status == "fails"
    assert [(p.package, p.needs_build) for p in mac.problems] == [
        ("triton", False),
        ("nvidia-nccl-cu12", False),
        ("numpy", True),
    ]
    reasons = [p.reason for p in mac.problems]
    assert reasons[0].startswith(
        "triton 3.5.0 has no wheel for CPython 3.13 on macos-arm64 and no source distribution"
    )
    assert reasons[1] == (
        "nvidia-nccl-cu12 2.21.5 has no wheel for CPython 3.13 on macos-arm64 and no source "
        "distribution to build"
    )
    assert reasons[2] == (
        "numpy 1.26.4 has no wheel for CPython 3.13 on macos-arm64, and building it from source "
        "needs a compiler"
    )
    out = subprocess.run(
        [*ENVLENS, "check", "--trust", str(script), "--python", "3.13", "--platform", "macos-arm64"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        "macos-arm64, Python 3.13: fails",
        *(f"  - {r}" for r in reasons),
    ]

    old = write_script(tmp_path / "b.py", ["numpy==2.1.0", "six"])
    (v,) = check(resolve(old), ["linux-x86_64"], ["3.9"])
    assert v.status == "fails"
    assert [p.reason for p in v.problems] == [
        "numpy 2.1.0 requires Python >=3.10 (its own requires-python), so it does not install on "
        "Python 3.9"
    ]


def test_a_package_from_a_path_source_is_named_as_left_out(
    offline_index: Path, tmp_path: Path
) -> None:
    """A block with [tool.uv.sources]: the check cannot ask an index for that package (no index
    has it), so it checks the rest and says, by name, what it left out and why."""
    (tmp_path / "mylib").mkdir()
    script = tmp_path / "a.py"
    script.write_text(
        "# /// script\n"
        '# requires-python = ">=3.10"\n'
        '# dependencies = ["tinyalpha", "mylib"]\n'
        "# [tool.uv.sources]\n"
        '# mylib = { path = "./mylib" }\n'
        "# ///\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        [
            *ENVLENS,
            "check",
            str(script),
            "--platform",
            "linux-x86_64,macos-arm64",
            "--python",
            "3.12",
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ENVLENS_TRUST": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert "linux-x86_64, Python 3.12: works" in out.stdout
    assert "macos-arm64, Python 3.12: works" in out.stdout
    notes = [line for line in out.stderr.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: mylib comes from path ./mylib ([tool.uv.sources]): not part of this check; "
        "it is built where the environment is built"
    ]
