"""PEP 723 inline script metadata: find, parse and edit `# /// script` blocks.

Edits go through tomlkit, so comments and formatting inside the block survive, and only the block's
lines change in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Array
from tomlkit.toml_document import TOMLDocument

from envlens.errors import DeclarationError
from envlens.requirements import (
    check_requirement,
    parse_requirement,
    requirement_name,
    toml_reason,
    validate_requires_python,
)
from envlens.sources import toml_read

# The PEP's reference regular expression.
BLOCK_RE = re.compile(
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)[ \t]*$\s(?P<content>(^#(| .*)$\s)+)^# ///[ \t]*$"
)


@dataclass(frozen=True)
class ScriptBlock:
    """A `script` block: its TOML and where it sits (0-based line numbers, end inclusive)."""

    toml: str
    start_line: int  # the `# /// script` line
    end_line: int  # the closing `# ///` line
    start_offset: int
    end_offset: int  # just past the closing line's text (its newline excluded)


@dataclass(frozen=True)
class ScriptMetadata:
    dependencies: tuple[str, ...]
    requires_python: str | None
    index_url: str | None
    extra_index_urls: tuple[str, ...]
    exclude_newer: str | None


def find_script_block(
    text: str, path: Path | None = None, line_offset: int = 0
) -> ScriptBlock | None:
    """The file's `script` block, or None. Two of them are an error, as the PEP says."""
    found: list[re.Match[str]] = []
    # Only lines that open a block can start a match: find them with a plain substring search
    # (the PEP's "(?m)^" pattern tries every position of a long file on every keystroke).
    pos = text.find("# /// ")
    while pos >= 0:
        if pos == 0 or text[pos - 1] == "\n":
            m = BLOCK_RE.match(text, pos)
            if m is not None:
                if m.group("type") == "script":
                    found.append(m)
                pos = m.end()
        pos = text.find("# /// ", pos + 1)
    if len(found) > 1:
        second = text.count("\n", 0, found[1].start()) + 1 + line_offset
        raise DeclarationError(
            "the file has two '# /// script' blocks",
            path=path,
            line=second,
            hint="Keep one block with all the dependencies and delete the other",
        )
    if not found:
        return None
    m = found[0]
    toml_lines = []
    for line in m.group("content").splitlines():
        toml_lines.append(line[2:] if line.startswith("# ") else line[1:])
    start_line = text.count("\n", 0, m.start())
    end_offset = m.end()
    end_line = text.count("\n", 0, end_offset)
    return ScriptBlock(
        toml="\n".join(toml_lines) + "\n",
        start_line=start_line,
        end_line=end_line,
        start_offset=m.start(),
        end_offset=end_offset,
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
        if line.split("=")[0].strip() == key:
            return block.start_line + 2 + i
    return block.start_line + 1


def dependency_line(block: ScriptBlock, requirement: str) -> int:
    """0-based file line of a dependency string in the block (the block's first line if unknown)."""
    lines = block.toml.splitlines()
    for i, line in enumerate(lines):
        if f'"{requirement}"' in line or f"'{requirement}'" in line:
            return block.start_line + 1 + i
    return block.start_line


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
        check_requirement(dep, path=path, line=dependency_line(block, dep) + 1 + line_offset)
    rp = data.get("requires-python")
    if rp is not None:
        rp_line = key_line(block, "requires-python") + line_offset
        if not isinstance(rp, str):
            raise DeclarationError("'requires-python' must be a string", path=path, line=rp_line)
        rp = validate_requires_python(rp, path=path, line=rp_line)
    uv = data.get("tool", {}).get("uv", {}) if isinstance(data.get("tool"), dict) else {}
    index_url = uv.get("index-url") if isinstance(uv, dict) else None
    extra = uv.get("extra-index-url", []) if isinstance(uv, dict) else []
    exclude_newer = uv.get("exclude-newer") if isinstance(uv, dict) else None
    return ScriptMetadata(
        dependencies=tuple(deps),
        requires_python=rp,
        index_url=index_url if isinstance(index_url, str) else None,
        extra_index_urls=tuple(e for e in extra if isinstance(e, str))
        if isinstance(extra, list)
        else (),
        exclude_newer=str(exclude_newer) if exclude_newer else None,
    )


def render_block(doc: TOMLDocument) -> str:
    """The `# /// script` block for a TOML document, without a trailing newline."""
    body = tomlkit.dumps(doc)
    lines = ["# /// script"]
    for line in body.splitlines():
        lines.append(f"# {line}" if line else "#")
    lines.append("# ///")
    return "\n".join(lines)


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
    """The text with its script block edited (or a new one at the top). Only the block changes."""
    for req in add or []:
        parse_requirement(req, path=path)
    block = find_script_block(text, path)
    if block is None:
        doc = new_document([], requires_python or default_requires_python)
        edit_document(doc, add=add, remove=remove, replace=replace)
        rendered = render_block(doc) + "\n"
        # A shebang or an encoding line must stay first.
        lines = text.splitlines(keepends=True)
        head = 0
        while (
            head < len(lines)
            and head < 2
            and (lines[head].startswith("#!") or re.match(r"^#.*coding[:=]", lines[head]))
        ):
            head += 1
        prefix = "".join(lines[:head])
        rest = "".join(lines[head:])
        sep = "\n" if rest and not rest.startswith("\n") else ""
        return prefix + rendered + sep + rest
    doc = parse_toml(block, path)
    edit_document(doc, add=add, remove=remove, requires_python=requires_python, replace=replace)
    return text[: block.start_offset] + render_block(doc) + text[block.end_offset :]
