"""URIs the editor sends -> the path envlens reasons about.

A saved file is its own path. An untitled document ("Create: New Jupyter Notebook" gives
`untitled:Untitled-1.ipynb?jupyter-notebook`) has no file yet: envlens reads it from the editor's
buffer and treats it as if it were saved in the first workspace folder (the home folder without
one), so that relative paths in its declaration and the kernel's working folder are the folder the
user works in, and project files above it apply, as they will once it is saved there.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from pygls.uris import to_fs_path


def fs_path(uri: str, roots: list[str]) -> str | None:
    """The path of a file or untitled URI; None for other schemes."""
    path = to_fs_path(uri)
    if path is not None:
        return path
    parsed = urlparse(uri)
    if parsed.scheme != "untitled":
        return None
    name = unquote(parsed.path).rstrip("/").rsplit("/", 1)[-1] or "Untitled"
    base = roots[0] if roots else str(Path.home())
    return str(Path(base) / name)


def is_untitled(uri: str) -> bool:
    return uri.startswith("untitled:")
