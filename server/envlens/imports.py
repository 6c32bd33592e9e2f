"""What a file imports, whether that is the standard library, and which distribution provides it.

Scanning must work on text that is being typed: `ast` first, and when a chunk does not parse, a
line-based scan of the lines that do. IPython magics and shell lines (`!pip ...`, `%time ...`) are
blanked before parsing so a notebook cell with one still parses. Results are cached per chunk of text
(a notebook cell, or a `# %%` cell of a script), so re-scanning after a keystroke only parses the
chunk that changed.

Import name -> distribution, first match wins: the environment's own installed distributions
(`importlib.metadata.packages_distributions()` run in that environment), then the table in
`data/import_names.json` (names that differ from their distribution, see docs/imports.md), then the
import name itself.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from packaging.utils import canonicalize_name

from envlens.names import download_rank, known_distributions, on_pypi

TABLE_PATH = Path(__file__).parent / "data" / "import_names.json"

# Lines that IPython turns into something else: shell (`!`), magics (`%`), help (`?`).
_MAGIC_RE = re.compile(r"^[ \t]*(?:[!%?]|\w+[ \t]*=[ \t]*[!%])")
# Cell magics whose body is not Python: their cells hold no imports.
NON_PYTHON_CELL = (
    "%%bash",
    "%%sh",
    "%%html",
    "%%javascript",
    "%%js",
    "%%latex",
    "%%markdown",
    "%%svg",
    "%%writefile",
    "%%script",
    "%%perl",
    "%%ruby",
    "%%R",
    "%%sql",
)
# The version suffix of a generated API module: pubsub_v1, speech_v1p1beta1, vision_v1beta1.
_API_VERSION_RE = re.compile(r"_v\d+(?:p\d+)?(?:(?:alpha|beta)\d*)?$")
_CELL_MARKER_NL_RE = re.compile(r"\n# ?%%")
_IMPORT_LINE_RE = re.compile(r"^[ \t]*import[ \t]+(.+)$")
_FROM_LINE_RE = re.compile(r"^[ \t]*from[ \t]+(\.*)([A-Za-z_][\w.]*)?[ \t]+import\b")
_DOTTED_RE = re.compile(r"[A-Za-z_][\w]*(?:[ \t]*\.[ \t]*[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class ImportRef:
    """One imported module: `module` is the dotted name, `top` its first part.

    `line` is 0-based; `start`/`end` are code-point columns of the module name in that line.
    """

    module: str
    line: int
    start: int
    end: int
    optional: bool = False  # inside `try: ... except ImportError`: the code copes without it

    @property
    def top(self) -> str:
        return self.module.split(".", 1)[0]

    def shifted(self, lines: int) -> ImportRef:
        return ImportRef(self.module, self.line + lines, self.start, self.end, self.optional)


def _blank_magics(text: str) -> str:
    """Replace IPython-only lines by `pass` at the same indent, keeping line numbers."""
    if "!" not in text and "%" not in text and "?" not in text:
        return text
    out = []
    for line in text.split("\n"):
        if _MAGIC_RE.match(line):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + "pass")
        else:
            out.append(line)
    return "\n".join(out)


def _char_col(line: str, byte_col: int) -> int:
    """ast columns are UTF-8 byte offsets; editors want characters."""
    if line.isascii():
        return byte_col
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _find_name(line: str, name: str, start: int) -> tuple[int, int]:
    """Columns of a dotted name in a line, searching from `start` (allows spaces around dots)."""
    pattern = r"[ \t]*\.[ \t]*".join(re.escape(p) for p in name.split("."))
    m = re.compile(r"(?<![\w.])" + pattern + r"(?!\w)").search(line, start)
    if m is None:
        return start, start + len(name)
    return m.start(), m.end()


def _optional_lines(tree: ast.AST) -> set[int]:
    """1-based lines inside a `try` whose handlers catch ImportError (or everything)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        catches = False
        for h in node.handlers:
            names = []
            if h.type is None:
                catches = True
            elif isinstance(h.type, ast.Name):
                names = [h.type.id]
            elif isinstance(h.type, ast.Tuple):
                names = [e.id for e in h.type.elts if isinstance(e, ast.Name)]
            if {"ImportError", "ModuleNotFoundError", "Exception"} & set(names):
                catches = True
        if catches:
            for stmt in node.body:
                end = getattr(stmt, "end_lineno", stmt.lineno) or stmt.lineno
                lines.update(range(stmt.lineno, end + 1))
    return lines


def _scan_ast(text: str) -> list[ImportRef] | None:
    try:
        tree = ast.parse(_blank_magics(text))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    lines = text.split("\n")
    optional = _optional_lines(tree)
    refs: list[ImportRef] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                ln = alias.lineno - 1
                line = lines[ln] if ln < len(lines) else ""
                start, end = _find_name(line, alias.name, _char_col(line, alias.col_offset))
                refs.append(ImportRef(alias.name, ln, start, end, alias.lineno in optional))
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                continue  # relative imports are the user's own modules
            ln = node.lineno - 1
            line = lines[ln] if ln < len(lines) else ""
            col = _char_col(line, node.col_offset)
            from_kw = line.find("from", col)
            start, end = _find_name(line, node.module, from_kw + 4 if from_kw >= 0 else col)
            opt = node.lineno in optional
            if node.module in namespace_prefixes():
                # `from google.cloud import storage`: the module is google.cloud.storage, which
                # is what says the distribution; the span stays on what is written.
                for alias in node.names:
                    if alias.name != "*":
                        refs.append(ImportRef(f"{node.module}.{alias.name}", ln, start, end, opt))
                continue
            refs.append(ImportRef(node.module, ln, start, end, opt))
    refs.sort(key=lambda r: (r.line, r.start))
    return refs


def _scan_lines(text: str) -> list[ImportRef]:
    """Fallback for text that does not parse: each import line on its own."""
    refs: list[ImportRef] = []
    for ln, line in enumerate(text.split("\n")):
        stripped = line.lstrip()
        if not (stripped.startswith("import") or stripped.startswith("from")):
            continue
        m = _FROM_LINE_RE.match(line)
        if m:
            if m.group(1) or not m.group(2):
                continue
            name = m.group(2).rstrip(".")
            start = m.start(2)
            refs.append(ImportRef(name, ln, start, start + len(name)))
            continue
        m = _IMPORT_LINE_RE.match(line)
        if not m:
            continue
        body = m.group(1).split("#", 1)[0]
        pos = m.start(1)
        for part in body.split(","):
            dm = _DOTTED_RE.search(part)
            if dm and dm.group(0).split(".")[0].strip() not in ("as",):
                name = re.sub(r"[ \t]", "", dm.group(0))
                s = pos + dm.start()
                refs.append(ImportRef(name, ln, s, pos + dm.end()))
            pos += len(part) + 1
    return refs


_CHUNK_CACHE: OrderedDict[str, tuple[ImportRef, ...]] = OrderedDict()
_CHUNK_CACHE_SIZE = 8192


def scan_chunk(text: str) -> tuple[ImportRef, ...]:
    """Imports of one piece of code (a cell), cached by its text."""
    hit = _CHUNK_CACHE.get(text)
    if hit is not None:
        _CHUNK_CACHE.move_to_end(text)
        return hit
    if "import" not in text:
        refs: tuple[ImportRef, ...] = ()
    else:
        found = _scan_ast(text)
        refs = tuple(found if found is not None else _scan_lines(text))
    _CHUNK_CACHE[text] = refs
    if len(_CHUNK_CACHE) > _CHUNK_CACHE_SIZE:
        _CHUNK_CACHE.popitem(last=False)
    return refs


def split_cells(text: str) -> list[tuple[int, str]]:
    """A percent script's `# %%` cells as (first line, text); a file without markers is one chunk."""
    # A literal "\n# %%" search: re finds a literal prefix with a fast scan, where "(?m)^" tries every
    # position (0.7 ms on a 5,000-line script, per keystroke).
    starts = [0] + [m.start() + 1 for m in _CELL_MARKER_NL_RE.finditer(text)]
    chunks: list[tuple[int, str]] = []
    line = 0
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunk = text[s:e]
        chunks.append((line, chunk))
        line += chunk.count("\n")
    return chunks


_SHIFTED_CACHE: OrderedDict[tuple[str, int], tuple[ImportRef, ...]] = OrderedDict()


def _shifted_chunk(chunk: str, first_line: int) -> tuple[ImportRef, ...]:
    """A chunk's imports at its place in the file, cached: typing in one cell re-shifts nothing else."""
    key = (chunk, first_line)
    hit = _SHIFTED_CACHE.get(key)
    if hit is None:
        hit = (
            tuple(r.shifted(first_line) for r in scan_chunk(chunk))
            if first_line
            else scan_chunk(chunk)
        )
        _SHIFTED_CACHE[key] = hit
        if len(_SHIFTED_CACHE) > _CHUNK_CACHE_SIZE:
            _SHIFTED_CACHE.popitem(last=False)
    return hit


# Cells are grouped in blocks of this many, cached as a whole: typing in one cell of a 700-cell
# script then costs one block's work, not a Python-level loop over every cell (about 1 ms).
_BLOCK = 32
_BLOCK_CACHE: OrderedDict[tuple[str, int], tuple[ImportRef, ...]] = OrderedDict()


def _shifted_block(block: str, first_line: int) -> tuple[ImportRef, ...]:
    key = (block, first_line)
    hit = _BLOCK_CACHE.get(key)
    if hit is None:
        refs: list[ImportRef] = []
        for line, chunk in split_cells(block):
            refs.extend(_shifted_chunk(chunk, first_line + line))
        hit = tuple(refs)
        _BLOCK_CACHE[key] = hit
        if len(_BLOCK_CACHE) > _CHUNK_CACHE_SIZE // _BLOCK:
            _BLOCK_CACHE.popitem(last=False)
    return hit


def scan_imports(text: str) -> list[ImportRef]:
    """Every absolute import in a script (or one cell), with 0-based lines in `text`."""
    starts = [0] + [m.start() + 1 for m in _CELL_MARKER_NL_RE.finditer(text)]
    refs: list[ImportRef] = []
    line = 0
    for b in range(0, len(starts), _BLOCK):
        end = starts[b + _BLOCK] if b + _BLOCK < len(starts) else len(text)
        block = text[starts[b] : end]
        refs.extend(_shifted_block(block, line))
        line += block.count("\n")
    return refs


# --- standard library ---------------------------------------------------------------------------


@cache
def server_stdlib() -> frozenset[str]:
    return frozenset(sys.stdlib_module_names) | {"__future__", "__main__"}


def is_stdlib(top: str, stdlib: frozenset[str] | None = None) -> bool:
    """`stdlib` is the target interpreter's `sys.stdlib_module_names` when known."""
    names = stdlib if stdlib is not None else server_stdlib()
    return top in names or (top.startswith("_") and top in sys.builtin_module_names)


# --- import name -> distribution ----------------------------------------------------------------

Source = Literal["installed", "table", "name", "pypi-name", "ambiguous", "unknown"]


@dataclass(frozen=True)
class Provider:
    """Which distribution provides a module, and how sure that is.

    `distribution` is None when nothing known provides it ("unknown") or when several do and none
    is clearly the one ("ambiguous"); `candidates` then lists the choices (most downloaded first).
    For a decided module, `candidates` lists the other distributions that provide it too.
    """

    module: str
    distribution: str | None
    source: Source
    candidates: tuple[str, ...] = ()
    note: str = ""  # why it is unknown, when that is known ("only exists on Google Colab")

    @property
    def decided(self) -> bool:
        return self.distribution is not None

    @property
    def guess(self) -> str:
        """What the editor's quick fix offers: the distribution, else the best candidate, else the name."""
        if self.distribution is not None:
            return self.distribution
        return self.candidates[0] if self.candidates else self.module.split(".", 1)[0]


@dataclass(frozen=True)
class _Table:
    imports: Mapping[str, str]
    alternatives: Mapping[str, tuple[str, ...]]
    ambiguous: Mapping[str, tuple[str, ...]]
    same_name: frozenset[str]
    generic: frozenset[str]  # names of a project's own folders (utils, config): nobody's module
    platform_only: Mapping[str, str]  # google.colab -> "only exists on Google Colab"
    platform_suffixes: Mapping[str, str]  # "_msgs" -> "a ROS message package ..."
    prefixes: frozenset[str]  # dotted prefixes of entries (google, google.cloud, mpl_toolkits ...)
    # those that several distributions share and that are nobody's module on their own (google,
    # google.cloud, azure ...): a module in them is one distribution's, named by its dotted name
    namespaces: frozenset[str]


@cache
def _table() -> _Table:
    data = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    imports = {str(k): str(v) for k, v in data["imports"].items()}
    prefixes = {
        ".".join(parts[:i])
        for key in list(imports) + list(data.get("ambiguous", {}))
        if "." in key
        for parts in [key.split(".")]
        for i in range(1, len(parts))
    }
    ambiguous = {str(k): tuple(v) for k, v in data.get("ambiguous", {}).items()}
    same_name = frozenset(data.get("same_name", ()))
    below: dict[str, set[str]] = {}  # prefix -> the distributions of the entries under it
    for key, dist in imports.items():
        parts = key.split(".")
        for i in range(1, len(parts)):
            below.setdefault(".".join(parts[:i]), set()).add(dist)
    namespaces = {
        p
        for p in prefixes
        if p not in imports
        and p not in ambiguous
        and p not in same_name
        # one distribution's subpackages (`google.cloud.pubsub.v1`) do not make a namespace
        and (len(below.get(p, ())) >= 2 or "." not in p)
    }
    return _Table(
        imports=imports,
        alternatives={str(k): tuple(v) for k, v in data.get("alternatives", {}).items()},
        ambiguous=ambiguous,
        same_name=same_name,
        generic=frozenset(data.get("generic", ())),
        platform_only={str(k): str(v) for k, v in data.get("platform_only", {}).items()},
        platform_suffixes={
            str(k): str(v) for k, v in data.get("platform_only_suffixes", {}).items()
        },
        prefixes=frozenset(prefixes),
        namespaces=frozenset(namespaces),
    )


def import_table() -> Mapping[str, str]:
    """The generated table: import name (maybe dotted) -> distribution, where the lookup needs it."""
    return _table().imports


def namespace_prefixes() -> frozenset[str]:
    """Modules with submodules in the table that other distributions provide (`google.cloud`,
    `mpl_toolkits`): `from google.cloud import storage` is looked up as `google.cloud.storage`."""
    return _table().prefixes


def _from_installed(
    module: str, installed: Mapping[str, Sequence[str]] | None, table_hit: tuple[str, str] | None
) -> str | None:
    """The installed distribution of `module`; `table_hit` is the table's (prefix, distribution)."""
    if not installed:
        return None
    top = module.split(".", 1)[0]
    dists = installed.get(top)
    if not dists:
        return None
    if table_hit is not None:
        for d in dists:
            if canonicalize_name(d) == table_hit[1]:
                return d
    if top in _table().prefixes:
        # A namespace (`google`): what is installed under it need not provide this module.
        return None
    return dists[0] if len(dists) == 1 else None


def lookup(module: str, installed: Mapping[str, Sequence[str]] | None = None) -> Provider:
    """The distribution that provides `module` (dotted or top-level name), first match wins.

    1. the environment's installed distributions (`installed`: import name -> distributions);
    2. the table, by the longest dotted prefix it knows (`google.cloud.storage`);
    3. a distribution named like the module (`numpy`, `RPi.GPIO`): one envlens knows well, else
       any name on PyPI ("pypi-name");
    else unknown (a namespace alone, a project folder's name, a name nobody publishes under).
    """
    t = _table()
    parts = module.split(".")
    top = parts[0]
    found: Provider | None = None
    known = known_distributions()
    for suffix, why in t.platform_suffixes.items():
        if top.endswith(suffix):
            return Provider(module, None, "unknown", note=why)
    for n in range(len(parts), 0, -1):  # the longest dotted prefix wins: google.protobuf
        prefix = ".".join(parts[:n])
        if prefix in t.platform_only:
            return Provider(module, None, "unknown", note=t.platform_only[prefix])
        entry = t.imports.get(prefix)
        if entry is not None:
            found = Provider(module, entry, "table", t.alternatives.get(prefix, ()))
            break
        amb = t.ambiguous.get(prefix)
        if amb is not None:
            found = Provider(module, None, "ambiguous", amb)
            break
        if n >= 2 and top in t.namespaces and prefix not in t.namespaces:
            # google.cloud.aiplatform -> google-cloud-aiplatform: a namespace package's usual name;
            # google.cloud.pubsub_v1 -> google-cloud-pubsub: a versioned API of that package
            for name in dict.fromkeys((prefix, _API_VERSION_RE.sub("", prefix))):
                # inside a namespace several distributions share, its dotted name on PyPI is the
                # package (google-cloud-vmwareengine), even when it is too new or rare to be known
                if canonicalize_name(name) in known or on_pypi(canonicalize_name(name)):
                    found = Provider(module, canonicalize_name(name), "name")
                    break
            if found is not None:
                break
    table_hit = (".".join(parts[:n]), found.distribution) if found and found.distribution else None
    mine = _from_installed(module, installed, table_hit)
    if mine is not None:
        return Provider(module, mine, "installed")
    if found is not None:
        return found
    if top in t.namespaces or top in t.generic:
        return Provider(module, None, "unknown")
    # Named like the module: `earthpy`, `RPi.GPIO`, `llama_index.vector_stores.pinecone`.
    named = _named_like(parts, known)
    if named is not None:
        return Provider(module, named, "name")
    # Any name on PyPI: the top-level name first (a dotted name there is more often a stranger's).
    for n in range(1, len(parts) + 1):
        canon = canonicalize_name(".".join(parts[:n]))
        if on_pypi(canon):
            return Provider(module, canon, "pypi-name")
    return Provider(module, None, "unknown")


# A dotted name's own distribution (`llama_index.vector_stores.pinecone`) wins over the top-level
# name's unless that one is this many times more downloaded (`mcp.server` is mcp's, not the little
# mcp-server distribution's).
_DOTTED_RANK_RATIO = 10


def _named_like(parts: Sequence[str], known: Collection[str]) -> str | None:
    """The known distribution named like the module: the longest dotted prefix, unless the
    top-level name's distribution is far more downloaded."""
    top = canonicalize_name(parts[0])
    for n in range(len(parts), 0, -1):
        canon = canonicalize_name(".".join(parts[:n]))
        if canon not in known:
            continue
        if n > 1 and top in known:
            mine, theirs = download_rank(canon), download_rank(top)
            if theirs is not None and (mine is None or mine > theirs * _DOTTED_RANK_RATIO):
                return top
        return canon
    return None


def distribution_for(module: str, installed: Mapping[str, Sequence[str]] | None = None) -> str:
    """The distribution to offer for `module`: `lookup`'s answer, else its best guess."""
    return lookup(module, installed).guess


def distributions_providing(
    dist: str, installed: Mapping[str, Sequence[str]] | None = None
) -> set[str]:
    """Import names (top-level) that a distribution provides, as far as we know."""
    canon = canonicalize_name(dist)
    names = {dist.replace("-", "_"), canon.replace("-", "_")}
    for mod, d in import_table().items():
        if d == canon:
            names.add(mod.split(".", 1)[0])
    for mod, dists in (installed or {}).items():
        if any(canonicalize_name(d) == canon for d in dists):
            names.add(mod)
    return names


def is_local_module(top: str, folder: Path | None) -> bool:
    """A module beside the file (`helpers.py`, `mypkg/`) is the user's own, not a dependency."""
    if folder is None:
        return False
    return (
        (folder / f"{top}.py").is_file()
        or (folder / top / "__init__.py").is_file()
        or ((folder / top).is_dir() and any((folder / top).glob("*.py")))
    )


def third_party(
    refs: Iterable[ImportRef],
    *,
    stdlib: frozenset[str] | None = None,
    folder: Path | None = None,
) -> list[ImportRef]:
    """The imports that need a distribution: not stdlib, not the user's own modules."""
    out = []
    keep: dict[str, bool] = {}  # per module name: files have many imports of few modules
    for r in refs:
        top = r.module.split(".", 1)[0]
        ok = keep.get(top)
        if ok is None:
            ok = keep[top] = not is_stdlib(top, stdlib) and not is_local_module(top, folder)
        if ok:
            out.append(r)
    return out


def undeclared(
    modules: Iterable[str],
    declared: Collection[str],
    installed: Mapping[str, Sequence[str]] | None = None,
    *,
    provided: bool = True,
) -> dict[str, Provider]:
    """module -> its provider, for the modules that nothing in `declared` provides.

    `declared`: canonical distribution names. A module counts as declared when its distribution is,
    when any distribution that provides it is (`opencv-python-headless` for cv2), or when the
    environment built from the declaration installed it (a dependency of something declared;
    `provided=False` when `installed` is not that environment). The editor's warnings and
    `envlens declare` both ask this.
    """
    out: dict[str, Provider] = {}
    for m in modules:
        p = lookup(m, installed)
        names = {canonicalize_name(p.guess), canonicalize_name(m.split(".", 1)[0])}
        names |= {canonicalize_name(c) for c in p.candidates}
        if names & set(declared) or (provided and p.source == "installed"):
            continue
        out[m] = p
    return out
