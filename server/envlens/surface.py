"""Messages speak the user's surface: the command line names commands, the editor names actions.

One process serves one surface: the CLI by default, the editor once `envlens serve` starts the
language server (`use("editor")`). A message that tells the user what to do next takes the words
from `action(...)` (or `words(cli, editor)` for a one-off), so there is one message, not two copies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Surface = Literal["cli", "editor"]

_current: Surface = "cli"

# What to do next, in each surface's words ({path} is the file). Keys are what the user does.
ACTIONS: dict[str, tuple[str, str]] = {
    "lock": ("run `envlens lock {path}`", "run Lock Versions"),
    "full-log": (
        "run the command again with -v to see the tool's full output",
        "Show Logs has the tool's full output",
    ),
    "approve": (
        "review and approve them with `envlens trust {path}`, or pass --trust "
        "(or set ENVLENS_TRUST=1) for a batch run",
        "review and approve them with Trust This File's Dependencies",
    ),
    "install": ("run `envlens install {path}`", "run Install Script Dependencies"),
    "declare": ("run `envlens declare {path}`", "run Declare Dependencies from Imports"),
}


def use(surface: Surface) -> None:
    global _current
    _current = surface


def current() -> Surface:
    return _current


def words(cli: str, editor: str) -> str:
    return cli if _current == "cli" else editor


def action(key: str, path: Path | str | None = None) -> str:
    """The next step `key` ("lock", "full-log", ...) as this surface says it."""
    cli, editor = ACTIONS[key]
    return words(cli, editor).format(path=path if path is not None else "FILE")


def sentence(text: str) -> str:
    """`text` with its first letter capital, the rest as it is (`str.capitalize` lowers it)."""
    return text[:1].upper() + text[1:]
