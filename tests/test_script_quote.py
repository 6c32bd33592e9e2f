"""envlens.script_quote: every path written into a generated script reads back byte for byte (real
bash), and a name no #SBATCH line can hold is refused for directives instead of breaking the line."""

from __future__ import annotations

import os
import subprocess

import pytest

from envlens.script_quote import apptainer_path, sbatch_value, shell_word, slurm_filename

HOSTILE = [
    "plain/path.ipynb",
    "a b/c d.py",
    'it\'s "quoted"',
    "$(touch PWNED) `touch PWNED` ; touch PWNED & | > <",
    "line\nbreak\n#SBATCH --wrap=touch PWNED\n",
    "cr\rtab\tbell\x07del\x7f",
    "back\\slash \\n \\x41",
    "percent %A %a %% 100%",
    "# not a comment",
    "ünïcödé ✓ 名前",
    "-starts-with-dash",
    "",
    "\u2028line separator\u0085next line",
    os.fsdecode(b"not-utf8-\xff\xfe"),
]


@pytest.mark.parametrize("text", HOSTILE)
def test_shell_word_reads_back_exactly_in_bash(text: str) -> None:
    word = shell_word(text)
    assert "\n" not in word and "\r" not in word  # no raw line break from a path in a script
    out = subprocess.run(
        ["bash", "-c", f"printf %s {word}"], capture_output=True, check=True, env={"LC_ALL": "C"}
    )
    assert out.stdout == os.fsencode(text)


def test_directive_values() -> None:
    assert sbatch_value("/plain/path_1.0") == "/plain/path_1.0"
    # sbatch keeps quoted text together (a backslash before a space does not: it splits there)
    assert sbatch_value('/a b/it\'s "q" \\') == '"/a b/it\'s \\"q\\" \\\\"'
    assert sbatch_value("/x#y") == '"/x#y"'
    assert sbatch_value("/a\nb") is None and sbatch_value("/a\rb") is None
    # Slurm expands %-patterns in --output: the folder's own % is doubled, and a backslash
    # (which would switch every pattern off in slurmstepd) cannot be given at all.
    assert slurm_filename("/runs/100%", "%A_%a.out") == "/runs/100%%/%A_%a.out"
    assert slurm_filename("/r u/n", "%A_%a.out") == '"/r u/n"/%A_%a.out'
    assert slurm_filename("/runs/a\\b", "%A_%a.out") is None
    assert slurm_filename("/runs/a\nb", "%A_%a.out") is None


def test_apptainer_paths() -> None:
    assert apptainer_path("/home/me/train.ipynb") == "/home/me/train.ipynb"
    assert apptainer_path("my runs/train v2.ipynb") == '"my runs/train v2.ipynb"'
    for bad in (
        "a (1)",
        "a;b",
        "a|b",
        "a'b",
        "a\nb",
        'a"b',
        "a\\b",
        "$(x).ipynb",
        "*.ipynb",
        "a#b",
        "~/x",
        "{a,b}",
        "-x",
    ):
        assert apptainer_path(bad) is None, bad
