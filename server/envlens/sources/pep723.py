"""PEP 723 inline script metadata: find, parse and edit `# /// script` blocks.

Edits go through tomlkit, so comments and formatting inside the block survive, and only the block's
lines change in the file.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Array
from tomlkit.toml_document import TOMLDocument

from envlens.errors import DeclarationError
from envlens.requirements import (
    check_requirement,
    is_valid,
    parse_requirement,
    requirement_name,
    toml_reason,
    validate_requires_python,
)
from envlens.sources import toml_read
from envlens.sources.declaration import Declaration, canonical_settings, has_relative_paths

# Line breaks as uv reads them: a file saved on Windows (CRLF) or old macOS (CR) declares the same.
_EOL = re.compile(r"\r\n|\r|\n")
_OPEN = re.compile(r"# /// (?P<type>[a-zA-Z0-9-]+)[ \t]*")
_CLOSE = re.compile(r"# ///[ \t]*")
BOM = "\ufeff"


@dataclass(frozen=True)
class ScriptBlock:
    """A `script` block: its TOML and where it sits (0-based line numbers, end inclusive)."""

    toml: str  # the TOML inside, with "\n" line breaks whatever the file uses
    start_line: int  # the `# /// script` line
    end_line: int  # the closing `# ///` line
    start_offset: int
    end_offset: int  # just past the closing line's text (its newline excluded)
    newline: str = "\n"  # the line break the block is written with

    @property
    def script(self) -> str:
        """The block as a script uv reads (LF line breaks, nothing else)."""
        lines = ["# /// script"]
        lines += [f"# {line}" if line else "#" for line in self.toml.splitlines()]
        lines.append("# ///")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ScriptMetadata:
    dependencies: tuple[str, ...]
    requires_python: str | None
    tool_uv: dict[str, Any]  # the block's [tool.uv] table as TOML gives it (empty when absent)

    @property
    def index_url(self) -> str | None:
        v = self.tool_uv.get("index-url")
        return v if isinstance(v, str) else None

    @property
    def extra_index_urls(self) -> tuple[str, ...]:
        v = self.tool_uv.get("extra-index-url", [])
        return tuple(e for e in v if isinstance(e, str)) if isinstance(v, list) else ()

    @property
    def exclude_newer(self) -> str | None:
        v = self.tool_uv.get("exclude-newer")
        if isinstance(v, (dt.datetime, dt.date)):
            return v.isoformat()
        return str(v) if v else None


def newline_of(text: str) -> str:
    """The file's line break: the first one it uses ("\n" for a file without any)."""
    m = _EOL.search(text)
    return m.group(0) if m else "\n"


def _line_count(text: str, end: int) -> int:
    """How many line breaks come before `end` (CRLF counts once)."""
    return text.count("\n", 0, end) + text.count("\r", 0, end) - text.count("\r\n", 0, end)


def _line_end(text: str, pos: int) -> tuple[int, int]:
    """(end of the line's text, start of the next line) for the line starting at `pos`."""
    m = _EOL.search(text, pos)
    if m is None:
        return len(text), len(text)
    return m.start(), m.end()


def _at_line_start(text: str, pos: int) -> bool:
    return pos == 0 or text[pos - 1] in "\r\n" or (pos == 1 and text[0] == BOM)


def _scan_block(
    text: str, pos: int, path: Path | None, line_offset: int
) -> tuple[str, int, int, int, str] | None:
    """The block opening at `pos`: (type, end offset, closing line's start, content start, newline).

    As the PEP's reference expression reads it: the block runs over the comment lines that follow
    (`#` alone or `# ...`) and ends at the last `# ///` among them. None when the line opens nothing.
    """
    end, nxt = _line_end(text, pos)
    m = _OPEN.fullmatch(text, pos, end)
    if m is None:
        return None
    newline = text[end:nxt] or "\n"
    content_start = nxt
    close: tuple[int, int] | None = None
    i = nxt
    while i < len(text):
        e, n = _line_end(text, i)
        if not (e == i + 1 and text[i] == "#") and not text.startswith("# ", i):
            break
        if _CLOSE.fullmatch(text, i, e):
            close = (i, e)
        i = n
    if close is None:
        if m.group("type") != "script":
            return None
        raise DeclarationError(
            "the '# /// script' block has no closing '# ///' line",
            path=path,
            line=_line_count(text, pos) + 1 + line_offset,
            hint="End the block with a line that reads '# ///'; every line inside it starts with '#'",
        )
    return m.group("type"), close[1], close[0], content_start, newline


def find_script_block(
    text: str, path: Path | None = None, line_offset: int = 0
) -> ScriptBlock | None:
    """The file's `script` block, or None. Two of them, or one never closed, are errors (as in uv)."""
    found: list[tuple[int, int, int, int, int]] = []
    # Only lines that open a block can start one: find them with a plain substring search
    # (scanning every line of a long file on every keystroke would cost more).
    pos = text.find("# /// ")
    while pos >= 0:
        if _at_line_start(text, pos):
            scanned = _scan_block(text, pos, path, line_offset)
            if scanned is not None:
                kind, end_offset, close_start, content_start, newline = scanned
                if kind == "script":
                    found.append((pos, end_offset, close_start, content_start, len(newline)))
                    if len(found) > 1:
                        raise DeclarationError(
                            "the file has two '# /// script' blocks",
                            path=path,
                            line=_line_count(text, pos) + 1 + line_offset,
                            hint="Keep one block with all the dependencies and delete the other",
                        )
                pos = end_offset
        pos = text.find("# /// ", pos + 1)
    if not found:
        return None
    start, end_offset, close_start, content_start, nl_len = found[0]
    # A second block right after the first one reads as one long block: name it as uv would.
    inner = text.find("# /// script", content_start, close_start)
    while inner >= 0:
        if _at_line_start(text, inner) and _OPEN.fullmatch(text, inner, _line_end(text, inner)[0]):
            raise DeclarationError(
                "the file has two '# /// script' blocks",
                path=path,
                line=_line_count(text, inner) + 1 + line_offset,
                hint="Keep one block with all the dependencies and delete the other",
            )
        inner = text.find("# /// script", inner + 1, close_start)
    newline = text[content_start - nl_len : content_start] or "\n"
    toml_lines = [
        line[2:] if line.startswith("# ") else line[1:]
        for line in _EOL.split(text[content_start:close_start])
        if line
    ]
    start_line = _line_count(text, start)
    return ScriptBlock(
        toml="\n".join(toml_lines) + "\n",
        start_line=start_line,
        end_line=_line_count(text, end_offset),
        start_offset=start,
        end_offset=end_offset,
        newline=newline,
    )


def parse_toml(block: ScriptBlock, path: Path | None, line_offset: int = 0) -> TOMLDocument:
    try:
        return tomlkit.parse(block.toml)
    except tomlkit.exceptions.ParseError as exc:
        # The block's first TOML line is the line after `# /// script`.
        line = block.start_line + 1 + exc.line + line_offset
        reason = toml_reason(exc)
        raise DeclarationError(
            f"the '# /// script' block is not valid TOML: {reason}",
            path=path,
            line=line,
            column=exc.col + 2,
            hint="Fix the TOML; every line in the block starts with '# '",
        ) from None


def key_line(block: ScriptBlock, key: str) -> int:
    """1-based file line of a top-level key in the block (the opening line if absent)."""
    for i, line in enumerate(block.toml.splitlines()):
        head = line.strip()
        if head.split("=")[0].strip() == key or (key.startswith("[") and head.startswith(key)):
            return block.start_line + 2 + i
    return block.start_line + 1


def dependency_line(block: ScriptBlock, requirement: str) -> int:
    """0-based file line of a dependency string in the block (the block's first line if unknown)."""
    lines = block.toml.splitlines()
    for i, line in enumerate(lines):
        if f'"{requirement}"' in line or f"'{requirement}'" in line:
            return block.start_line + 1 + i
    return block.start_line


# [tool.uv] keys whose values are requirement strings: checked like dependencies.
_REQUIREMENT_LISTS = (
    "constraint-dependencies",
    "override-dependencies",
    "build-constraint-dependencies",
)
# [tool.uv] keys and the type TOML must give them; uv reads the rest (and decides what they mean).
_STRING_KEYS = ("index-url", "prerelease", "resolution", "index-strategy", "link-mode")
_LIST_KEYS = ("extra-index-url", "find-links", "no-binary-package", "no-build-package", "index")


def _tool_uv(
    data: dict[str, Any], block: ScriptBlock, path: Path | None, line_offset: int
) -> dict[str, Any]:
    """The block's [tool.uv] table, with the types uv needs checked here so a mistake is named at
    its line while typing (uv would refuse the same block at build time)."""
    tool = data.get("tool")
    if tool is None:
        return {}
    line = key_line(block, "[tool") + line_offset
    if not isinstance(tool, dict):
        raise DeclarationError(
            "'tool' in the script block must be a table",
            path=path,
            line=key_line(block, "tool") + line_offset,
            hint="Write settings for uv under a '[tool.uv]' header",
        )
    uv = tool.get("uv")
    if uv is None:
        return {}
    if not isinstance(uv, dict):
        raise DeclarationError(
            "'tool.uv' in the script block must be a table",
            path=path,
            line=line,
            hint="Write settings for uv under a '[tool.uv]' header",
        )
    for key, value in uv.items():
        kline = key_line(block, key) + line_offset
        if key in _STRING_KEYS and not isinstance(value, str):
            raise DeclarationError(
                f"'{key}' under [tool.uv] must be a string",
                path=path,
                line=kline,
                hint=f'Write it in quotes, for example {key} = "..."',
            )
        if key in (*_LIST_KEYS, *_REQUIREMENT_LISTS) and not isinstance(value, list):
            raise DeclarationError(
                f"'{key}' under [tool.uv] must be a list",
                path=path,
                line=kline,
                hint=f"Write it as {key} = [...]",
            )
        if key in _REQUIREMENT_LISTS:
            for req in value:
                if not isinstance(req, str):
                    raise DeclarationError(
                        f"'{key}' under [tool.uv] must be a list of strings", path=path, line=kline
                    )
                check_requirement(
                    req, path=path, line=dependency_line(block, req) + 1 + line_offset
                )
        if key == "sources" and not isinstance(value, dict):
            raise DeclarationError(
                "'sources' under [tool.uv] must be a table",
                path=path,
                line=kline,
                hint='Write it as [tool.uv.sources] with lines like mypkg = { path = "../mypkg" }',
            )
    return uv


def read_metadata(
    block: ScriptBlock, path: Path | None = None, line_offset: int = 0
) -> ScriptMetadata:
    try:
        data = toml_read.loads(block.toml)
    except tomlkit.exceptions.ParseError:
        parse_toml(block, path, line_offset)  # raises with the file's line and column
        raise
    deps = data.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise DeclarationError(
            "'dependencies' in the script block must be a list of strings",
            path=path,
            line=key_line(block, "dependencies") + line_offset,
            hint='Write it as dependencies = ["numpy", "pandas>=2"]',
        )
    for dep in deps:
        if not is_valid(dep):  # the line is looked up only for the message (a scan per entry)
            check_requirement(dep, path=path, line=dependency_line(block, dep) + 1 + line_offset)
    rp = data.get("requires-python")
    if rp is not None:
        rp_line = key_line(block, "requires-python") + line_offset
        if not isinstance(rp, str):
            raise DeclarationError("'requires-python' must be a string", path=path, line=rp_line)
        rp = validate_requires_python(rp, path=path, line=rp_line)
    return ScriptMetadata(
        dependencies=tuple(deps),
        requires_python=rp,
        tool_uv=_tool_uv(data, block, path, line_offset),
    )


def render_block(doc: TOMLDocument, newline: str = "\n") -> str:
    """The `# /// script` block for a TOML document, without a trailing line break."""
    body = tomlkit.dumps(doc)
    lines = ["# /// script"]
    for line in body.splitlines():
        lines.append(f"# {line}" if line else "#")
    lines.append("# ///")
    return newline.join(lines)


def new_document(dependencies: list[str], requires_python: str | None) -> TOMLDocument:
    doc = tomlkit.document()
    if requires_python:
        doc["requires-python"] = requires_python
    arr = tomlkit.array()
    for d in dependencies:
        arr.append(d)
    if len(dependencies) > 1:
        arr.multiline(True)
    doc["dependencies"] = arr
    return doc


def edit_document(
    doc: TOMLDocument,
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
    requires_python: str | None = None,
    replace: dict[str, str] | None = None,
) -> TOMLDocument:
    """Add requirements (replacing one of the same name), remove by name, set requires-python."""
    if "dependencies" not in doc:
        doc["dependencies"] = tomlkit.array()
    deps = doc["dependencies"]
    assert isinstance(deps, Array)
    for name in remove or []:
        canon = requirement_name(name)
        for i in reversed(range(len(deps))):
            if requirement_name(str(deps[i])) == canon:
                del deps[i]
    for old, new in (replace or {}).items():
        for i in range(len(deps)):
            if str(deps[i]) == old:
                deps[i] = new
    was_empty = len(deps) == 0
    for req in add or []:
        canon = requirement_name(req)
        existing = [i for i in range(len(deps)) if requirement_name(str(deps[i])) == canon]
        if existing:
            deps[existing[0]] = req
        else:
            deps.append(req)
    # Lay out a list we created one per line; an existing list keeps the layout its author chose.
    if was_empty and len(deps) > 1:
        deps.multiline(True)
    if requires_python is not None:
        doc["requires-python"] = requires_python
    return doc


def edit_script_text(
    text: str,
    path: Path | None = None,
    *,
    add: list[str] | None = None,
    remove: list[str] | None = None,
    requires_python: str | None = None,
    replace: dict[str, str] | None = None,
    default_requires_python: str | None = None,
) -> str:
    """The text with its script block edited (or a new one at the top). Only the block changes,
    and it keeps the file's line breaks (CRLF stays CRLF)."""
    for req in add or []:
        parse_requirement(req, path=path)
    block = find_script_block(text, path)
    if block is None:
        newline = newline_of(text)
        doc = new_document([], requires_python or default_requires_python)
        edit_document(doc, add=add, remove=remove, replace=replace)
        rendered = render_block(doc, newline) + newline
        # A BOM, a shebang or an encoding line must stay first.
        bom = BOM if text.startswith(BOM) else ""
        lines = text[len(bom) :].splitlines(keepends=True)
        head = 0
        while (
            head < len(lines)
            and head < 2
            and (lines[head].startswith("#!") or re.match(r"^#.*coding[:=]", lines[head]))
        ):
            head += 1
        prefix = bom + "".join(lines[:head])
        rest = "".join(lines[head:])
        sep = newline if rest and not rest.startswith(("\n", "\r")) else ""
        return prefix + rendered + sep + rest
    doc = parse_toml(block, path)
    edit_document(doc, add=add, remove=remove, requires_python=requires_python, replace=replace)
    return text[: block.start_offset] + render_block(doc, block.newline) + text[block.end_offset :]


def declaration(
    text: str, path: Path, *, cell: int | None = None, line_offset: int = 0
) -> Declaration | None:
    """The Declaration of the `script` block in `text` (a script, or a notebook's cell), or None."""
    block = find_script_block(text, path, line_offset)
    if block is None:
        return None
    meta = read_metadata(block, path, line_offset)
    return Declaration(
        kind="pep723",
        path=path,
        requirements=meta.dependencies,
        requires_python=meta.requires_python,
        index_url=meta.index_url,
        extra_index_urls=meta.extra_index_urls,
        exclude_newer=meta.exclude_newer,
        cell=cell,
        start_line=block.start_line,
        end_line=block.end_line,
        script=block.script,
        uv_settings=canonical_settings(meta.tool_uv),
        anchor=str(path.parent) if has_relative_paths(meta.tool_uv) else None,
    )


def uv_script(decl: Declaration) -> str:
    """The script uv reads for a declaration: the PEP 723 block itself, or (nteract metadata, a
    pyproject's dependencies, nothing declared) the same declaration written as a block."""
    if decl.script is not None:
        return decl.script
    doc = new_document(list(decl.requirements), decl.requires_python)
    settings = decl.settings()
    if settings:
        tool = tomlkit.table(is_super_table=True)
        tool["uv"] = settings
        doc["tool"] = tool
    return render_block(doc) + "\n"
