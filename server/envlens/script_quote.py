"""Quoting for every path and value written into a generated script (Slurm's job.sbatch, an
Apptainer definition): the one place that knows how bash, sbatch's `#SBATCH` lines and Apptainer's
`%files` read text, so no path can end a line early and run as a command.

- `shell_word`: a bash word that reads back as exactly the text, for ANY text a path can hold. Text
  with a line break or another control character, or with bytes that are not UTF-8 (os.fsdecode's
  surrogates), is written in bash's `$'...'` form with `\\xHH` escapes, so the script never holds a
  raw line break coming from a path.
- `sbatch_value`: the text as sbatch reads an `#SBATCH` argument (its own parser: quotes and
  backslash escapes, one line, `#` starts a comment), or None when no directive can hold it (a line
  break or another control character: the caller moves the path into the script body instead).
- `slurm_filename`: a path for `#SBATCH --output` whose `%A`/`%a` patterns still expand.
- `apptainer_path`: a path for a `%files` line, or None when Apptainer cannot read it back (it reads
  the path as a shell word: globs and `$` expand).
"""

from __future__ import annotations

import os
import re
import shlex

_SHELL_SAFE_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\udc80-\udcff]")
# Characters sbatch's directive parser passes through untouched (everything else gets a backslash).
_SBATCH_PLAIN = re.compile(r"[A-Za-z0-9_./=+,@%:-]*")


def _is_raw(ch: str) -> bool:
    """A character that must not appear literally in a script line."""
    return bool(_SHELL_SAFE_CONTROL.match(ch) or _SURROGATE.match(ch)) or (
        ord(ch) > 0x7F and not ch.isprintable()
    )


def needs_escapes(text: str) -> bool:
    return any(_is_raw(ch) for ch in text)


def shell_word(text: str) -> str:
    """One bash word for `text` (a path, a value): it reads back byte for byte."""
    if not needs_escapes(text):
        return shlex.quote(text)
    out: list[str] = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif _is_raw(ch):
            # Bytes, not \u escapes: bash converts \u through the locale, \xHH never.
            out.extend(f"\\x{b:02x}" for b in os.fsencode(ch))
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


def shell_join(words: list[str]) -> str:
    return " ".join(shell_word(w) for w in words)


def sbatch_value(text: str) -> str | None:
    """`text` as one argument of an `#SBATCH` line, or None if no such line can hold it."""
    if needs_escapes(text):
        return None
    if _SBATCH_PLAIN.fullmatch(text):
        return text
    # sbatch (src/sbatch/opt.c, get_argument) groups quoted text into one argument (white space
    # and `#` included) and drops a backslash before any character; a backslash before white space
    # outside quotes does NOT keep the argument together, so the value goes in double quotes.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def slurm_filename(folder: str, pattern: str) -> str | None:
    """`folder/pattern` for `#SBATCH --output`, with the folder's own `%` doubled (Slurm expands
    `%A`, `%a`... in the name), or None: a line break, or a backslash (after sbatch's parse, any
    backslash left in the name turns every pattern off in slurmstepd)."""
    if "\\" in folder:
        return None
    value = sbatch_value(folder.replace("%", "%%"))
    return None if value is None else f"{value}/{pattern}"


def apptainer_path(text: str) -> str | None:
    """A path for a `%files` line (`SOURCE DESTINATION`), or None when it cannot be written there.

    Apptainer (pkg/build/types/parser/deffile.go, internal/pkg/build/files) splits a `%files` line
    at white space outside double quotes, drops the quotes, and then reads the path as a shell word
    (globs, `$`, `~`, braces, quotes and parentheses are shell syntax there): a path with a space
    goes in double quotes; one with any other character outside letters, digits and `._-+,@%:=/`
    cannot be given."""
    if needs_escapes(text) or text.startswith(("-", "~")):
        return None
    if not all(ch in " ._-+,@%:=/" or ch.isalnum() for ch in text):
        return None
    return f'"{text}"' if " " in text else text
