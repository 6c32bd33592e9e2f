"""Which kernel a notebook wants: Python or Deno, from its kernelspec and language_info."""

from __future__ import annotations

from pathlib import Path

from envlens.errors import UnknownRuntimeError
from envlens.sources.notebook import Json, nested
from envlens.spec import Runtime


def notebook_runtime(metadata: Json, path: Path) -> Runtime:
    name = nested(metadata, "kernelspec", "name")
    spec_lang = nested(metadata, "kernelspec", "language")
    info_lang = nested(metadata, "language_info", "name")
    names = [str(x).lower() for x in (name, spec_lang, info_lang) if isinstance(x, str)]
    if not names:
        return "python"  # a notebook with no kernel chosen yet: Python, as Jupyter would
    if str(name).lower() == "deno" or "typescript" in names:
        return "deno"
    if any("python" in n for n in names):
        return "python"
    shown = name or spec_lang or info_lang
    raise UnknownRuntimeError(
        f"the notebook's kernel is {shown!r}; envlens runs Python and Deno notebooks",
        path=path,
        line=1,
        hint="Choose a Python kernel for it (metadata.kernelspec), or open it with that language's own tools",
    )
