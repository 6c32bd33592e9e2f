"""Trust: nothing a file declares is installed or run until this machine has approved it.

A per-machine key (32 random bytes, 0600, in the config folder) signs the canonical JSON of a
declaration with HMAC-SHA256. Notebooks carry the signature in `metadata.envlens.trust`; scripts (and
notebooks whose file cannot be signed) are recorded in a local trust store keyed by the file's path.
What is signed is the declaration (as normalised for the EnvSpec, plus the lock's hash), never the
whole file, so editing code cells keeps a notebook trusted while any change to what would be installed
does not. Gates at the boundaries (CLI install/run, the language server) call `require_trusted`; the
env store itself stays trust-agnostic.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envlens import paths, surface
from envlens.errors import EnvlensError, FileAccessError, TrustKeyError, UntrustedError
from envlens.fileio import atomic_write_text, read_text
from envlens.names import known_distributions, on_pypi
from envlens.resolve import Resolution, resolve, spec_for
from envlens.sources.notebook import (
    Notebook,
    load_notebook,
    nested,
    parse_notebook,
    prune_metadata,
)

SIGNATURE_PREFIX = "hmac-sha256:"
KEY_FILE = "trust.key"
STORE_FILE = "trusted.json"
ALLOWLIST_FILE = "allowlist.json"
KEY_BYTES = 32
TRUST_ENV = "ENVLENS_TRUST"
POPULAR_PATH = Path(__file__).parent / "data" / "popular_packages.txt"
# Declarations read from project files are the user's own (see docs/trust.md).

FlagKind = Literal["typo", "unknown", "new", "source"]
Status = Literal[
    "nothing-declared",  # only ipykernel in the shared environment
    "project",  # a project file in the user's workspace
    "signed",  # the notebook carries this machine's signature for this declaration
    "approved",  # the trust store has this machine's approval for this path and declaration
    "unsigned",  # never approved here
    "changed",  # a signature or approval exists but not for this declaration, or from another key
]


@dataclass(frozen=True)
class Flag:
    package: str
    kind: FlagKind
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"package": self.package, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class TrustState:
    trusted: bool
    reason: str
    packages: list[str] = field(default_factory=list)  # what would be installed, as normalised
    flags: list[Flag] = field(default_factory=list)
    status: Status = "unsigned"

    def to_json(self) -> dict[str, Any]:
        return {
            "trusted": self.trusted,
            "reason": self.reason,
            "status": self.status,
            "packages": list(self.packages),
            "flags": [f.to_json() for f in self.flags],
        }


# --- the key ---------------------------------------------------------------------------------


def key_path() -> Path:
    return paths.config_dir() / KEY_FILE


def _check_key_file(path: Path) -> None:
    if os.name == "nt":  # no POSIX modes; the per-user profile folder is the protection there
        return
    st = path.stat()
    if st.st_mode & 0o077:
        raise TrustKeyError(
            f"the trust key is readable or writable by other users (mode {stat.filemode(st.st_mode)})",
            path=path,
            hint=f"Run `chmod 600 {path}` (anyone who can read it can make files look approved)",
        )
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise TrustKeyError(
            "the trust key belongs to another user",
            path=path,
            hint=f"Run `chown $(id -u) {path}`, or delete it to make a new one "
            "(files approved with the old key will ask again)",
        )


def _read_key(path: Path) -> bytes:
    _check_key_file(path)
    data = path.read_bytes()
    if len(data) != KEY_BYTES:
        raise TrustKeyError(
            f"the trust key has {len(data)} bytes instead of {KEY_BYTES}",
            path=path,
            hint="Delete it to make a new one (files approved with the old key will ask again)",
        )
    return data


def _create_key(path: Path) -> None:
    """Write a new key race-free: a private temporary file, then a hard link that fails if one exists."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic and exclusive: a concurrent creator's key wins
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: O_EXCL on the key itself
            with contextlib.suppress(FileExistsError):
                fd2 = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd2, "wb") as f2:
                    f2.write(tmp.read_bytes())
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def machine_key() -> bytes:
    """This machine's key, created on first use."""
    path = key_path()
    if not path.exists():
        _create_key(path)
    try:
        return _read_key(path)
    except OSError as exc:
        raise TrustKeyError(
            f"cannot read the trust key: {exc.strerror or exc}",
            path=path,
            hint="Check the file's owner and permissions (`chmod 600` it)",
        ) from None


# --- what is signed --------------------------------------------------------------------------


def declaration_payload(res: Resolution) -> dict[str, Any]:
    """Everything that decides what gets installed, and nothing else (no code cells, no signature).

    Taken from the EnvSpec built without settings defaults, so a user's default Python does not
    change what was approved.
    """
    spec = spec_for(res.declaration, res.runtime, res.lock_text)
    payload: dict[str, Any] = {
        "v": 1,
        "runtime": spec.runtime,
        "backend": spec.backend,
        "requirements": list(spec.requirements),
        "requires_python": spec.requires_python,
        "channels": list(spec.channels),
        "conda_packages": list(spec.conda_packages),
        "index_url": spec.index_url,
        "extra_index_urls": list(spec.extra_index_urls),
        "exclude_newer": res.declaration.exclude_newer,
        # The full hash (the spec's is shortened for folder names): swapping the lock must show.
        "lock_sha256": hashlib.sha256(res.lock_text.encode()).hexdigest()
        if res.lock_text is not None
        else None,
    }
    # Every [tool.uv] setting decides what is installed or run while resolving (sources, indexes,
    # find-links, constraints...), and so is approved with the rest; where the settings name
    # relative paths, so is the folder they point into. Absent, the payload is as before (so
    # approvals of plain declarations stay valid).
    decl = res.declaration
    if decl.uv_settings is not None:
        payload["uv_settings"] = decl.uv_settings
    if decl.anchor is not None:
        payload["anchor"] = decl.anchor
    return payload


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def declaration_hash(res: Resolution) -> str:
    return hashlib.sha256(canonical_json(declaration_payload(res))).hexdigest()


def sign(res: Resolution, key: bytes | None = None) -> str:
    key = machine_key() if key is None else key
    mac = hmac.new(key, canonical_json(declaration_payload(res)), hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify(res: Resolution, signature: object, key: bytes | None = None) -> bool:
    if not isinstance(signature, str) or not signature.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(signature, sign(res, key))


# --- local files: trust store and allowlist ---------------------------------------------------


def _config_file(name: str) -> Path:
    return paths.config_dir() / name


def _lock() -> FileLock:
    d = paths.config_dir()
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return FileLock(str(d / ".trust.lock"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise EnvlensError(
            f"cannot read {path.name}: {exc}",
            path=path,
            hint="Fix or delete the file (deleting it forgets what was approved on this machine)",
        ) from None
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _store_key(path: Path) -> str:
    return os.path.realpath(path)


def _stored_signature(path: Path) -> str | None:
    files = _read_json(_config_file(STORE_FILE)).get("files", {})
    value = files.get(_store_key(path)) if isinstance(files, dict) else None
    return value if isinstance(value, str) else None


def _record(path: Path, signature: str) -> None:
    store_path = _config_file(STORE_FILE)
    with _lock():
        data = _read_json(store_path)
        files = data.get("files")
        if not isinstance(files, dict):
            files = {}
        files[_store_key(path)] = signature
        _write_json(store_path, {"version": 1, "files": files})


def allowlist() -> set[str]:
    pkgs = _read_json(_config_file(ALLOWLIST_FILE)).get("packages", [])
    return (
        {canonicalize_name(p) for p in pkgs if isinstance(p, str)}
        if isinstance(pkgs, list)
        else set()
    )


def _allow(names: list[str]) -> None:
    if not names:
        return
    path = _config_file(ALLOWLIST_FILE)
    with _lock():
        current = allowlist()
        if set(names) <= current:
            return
        _write_json(path, {"version": 1, "packages": sorted(current | set(names))})


# --- flags -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def popular_packages() -> frozenset[str]:
    text = POPULAR_PATH.read_text(encoding="utf-8")
    return frozenset(
        canonicalize_name(line.strip())
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def damerau_levenshtein(a: str, b: str, limit: int) -> int:
    """Edit distance counting a swap of neighbours as one edit (optimal string alignment).

    Stops early and returns `limit + 1` once the distance must exceed `limit`.
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _max_distance(name: str) -> int:
    # Short names sit close to many real ones ("six", "sip"), so they need an exact match to
    # count; longer names tolerate more before a look-alike is likely a different project.
    if len(name) <= 3:
        return 0
    if len(name) <= 9:
        return 1
    return 2


@lru_cache(maxsize=4096)  # a few ms per name; the editor asks again on every trust check
def typo_of(name: str) -> str | None:
    """The popular package `name` looks like a typo of, if any.

    None for every distribution envlens knows (the most downloaded ~15,000 and the import table's):
    a popular package is never a typo of another one (`gdal` is not `adal`).
    """
    canon = canonicalize_name(name)
    popular = popular_packages()
    if canon in popular or canon in known_distributions():
        return None
    best: tuple[int, str] | None = None
    for candidate in popular:
        limit = _max_distance(candidate)
        if limit == 0:
            continue
        d = damerau_levenshtein(canon, candidate, limit)
        if 1 <= d <= limit and (best is None or (d, candidate) < best):
            best = (d, candidate)
    return best[1] if best else None


def question(name: str, allowed: set[str] | None = None) -> Flag | None:
    """Why a name deserves a second look before it is approved, or None.

    The one check behind the trust dialog's flags, `envlens add`, `envlens declare` and the editor's
    quick fixes: a look-alike of a popular package ("pandsa: did you mean pandas?"), or a name with
    no distribution on PyPI. A name approved on this machine before is the user's own: no question.
    """
    canon = canonicalize_name(name)
    if canon in (allowlist() if allowed is None else allowed):
        return None
    target = typo_of(canon)
    if target is not None:
        missing = "" if on_pypi(canon) else "; no distribution of that name is on PyPI"
        return Flag(
            canon,
            "typo",
            f"did you mean {target}? (looks like a typo of the popular package '{target}'{missing})",
        )
    if not on_pypi(canon):
        return Flag(
            canon,
            "unknown",
            "no distribution of that name is on PyPI (as far as envlens's list knows): check the name",
        )
    return None


def questions(names: list[str], allowed: set[str] | None = None) -> list[Flag]:
    allowed = allowlist() if allowed is None else allowed
    return [f for f in (question(n, allowed) for n in dict.fromkeys(names)) if f is not None]


def _names(res: Resolution) -> tuple[list[str], list[str], list[Flag]]:
    """(packages as shown, distribution names, source flags) for what the declaration installs."""
    spec = spec_for(res.declaration, res.runtime, res.lock_text)
    shown: list[str] = []
    names: list[str] = []
    flags: list[Flag] = []
    for text in spec.requirements:
        shown.append(text)
        try:
            req = Requirement(text)
        except InvalidRequirement:  # already validated by resolve; keep going for display
            continue
        name = canonicalize_name(req.name)
        names.append(name)
        if req.url:
            flags.append(
                Flag(name, "source", f"installed from {req.url}, not from the package index")
            )
    for pkg in spec.conda_packages:
        shown.append(pkg)
        base = pkg.split("::")[-1]
        for sep in "=<>!~ [":
            base = base.split(sep)[0]
        if base:
            names.append(canonicalize_name(base))
    flags += source_flags(res)
    return shown, names, flags


def _where(value: str, anchor: Path) -> str:
    """A path or URL as the user should read it: relative paths resolved as uv resolves them."""
    if "://" in value or Path(value).is_absolute():
        return value
    return str((anchor / value).resolve())


def source_flags(res: Resolution) -> list[Flag]:
    """Where packages may come from besides the package index, from the declaration's [tool.uv]:
    sources (path, git, url, index), indexes, find-links. Each is shown and approved."""
    decl = res.declaration
    settings = decl.settings()
    anchor = Path(decl.anchor) if decl.anchor else (decl.path or res.path).parent
    flags: list[Flag] = []
    named: dict[str, str] = {}
    for index in settings.get("index", []):
        if isinstance(index, dict) and isinstance(index.get("url"), str):
            url = _where(index["url"], anchor)
            if isinstance(index.get("name"), str):
                named[index["name"]] = url
            only = " (only for packages that name it)" if index.get("explicit") else ""
            flags.append(Flag("*", "source", f"packages may come from the index {url}{only}"))
    urls = settings.get("index-url")
    for url in ([urls] if isinstance(urls, str) else []) + [
        u for u in settings.get("extra-index-url", []) if isinstance(u, str)
    ]:
        flags.append(Flag("*", "source", f"packages may come from the index {_where(url, anchor)}"))
    for link in settings.get("find-links", []):
        if isinstance(link, str):
            flags.append(Flag("*", "source", f"packages may come from {_where(link, anchor)}"))
    sources = settings.get("sources", {})
    for name, entry in sources.items() if isinstance(sources, dict) else ():
        for one in entry if isinstance(entry, list) else [entry]:
            if not isinstance(one, dict):
                continue
            canon = canonicalize_name(str(name))
            if isinstance(one.get("path"), str):
                how = "editable, " if one.get("editable") else ""
                detail = f"from path {_where(one['path'], anchor)} ({how}its build backend runs)"
            elif isinstance(one.get("git"), str):
                ref = next(
                    (
                        f" {k} {one[k]}"
                        for k in ("rev", "tag", "branch")
                        if isinstance(one.get(k), str)
                    ),
                    "",
                )
                detail = f"from git {one['git']}{ref} (its build backend runs)"
            elif isinstance(one.get("url"), str):
                detail = f"from {one['url']}"
            elif isinstance(one.get("index"), str):
                detail = f"from index {named.get(one['index'], one['index'])}"
            else:
                detail = "from a source given in [tool.uv.sources]"
            flags.append(Flag(canon, "source", detail))
    return flags


def package_flags(names: list[str], allowed: set[str] | None = None) -> list[Flag]:
    allowed = allowlist() if allowed is None else allowed
    flags: list[Flag] = []
    for name in dict.fromkeys(names):
        # A name approved before is one the user knows, so it is no longer questioned.
        asked = question(name, allowed)
        if asked is not None:
            flags.append(asked)
        if name not in allowed:
            flags.append(Flag(name, "new", "new to you: not approved on this machine before"))
    return flags


# --- state, approval, gates ------------------------------------------------------------------


def _notebook_signature(res: Resolution, notebook: Notebook | None) -> object:
    if res.path.suffix != ".ipynb":
        return None
    nb = notebook
    if nb is None:
        try:
            nb = load_notebook(res.path)
        except EnvlensError:
            return None
    return nested(nb.metadata, "envlens", "trust")


def trust_state(
    res: Resolution, *, notebook: Notebook | None = None, with_flags: bool = True
) -> TrustState:
    """Whether this machine approved what `res` would install, and what to show when it did not.

    `notebook` is the notebook as open in an editor, when that differs from the file on disk.
    `with_flags=False` when only the answer matters (the look-alike check costs time per name).
    """
    kind = res.declaration.kind
    if kind == "none" or res.runtime == "deno":  # Deno kernels install nothing from a declaration
        # The default packages come from the user's own setting (application scope), not the file.
        what = (
            "ipykernel and your default packages (envlens.defaultPackages) are installed"
            if res.declaration.requirements
            else "only ipykernel is installed"
        )
        return TrustState(True, f"nothing declared: {what}", [], [], "nothing-declared")
    shown, names, flags = _names(res)
    if with_flags:
        flags = flags + package_flags(names)
    if res.declaration.from_project:
        where = res.declaration.path or res.path
        return TrustState(
            True, f"declared by a project file in your workspace ({where})", shown, flags, "project"
        )
    key = machine_key()
    signature = _notebook_signature(res, notebook)
    stored = _stored_signature(res.path)
    if verify(res, signature, key):
        return TrustState(True, "signed on this machine", shown, flags, "signed")
    if verify(res, stored, key):
        return TrustState(True, "approved on this machine", shown, flags, "approved")
    if signature is not None or stored is not None:
        reason = (
            "the declaration changed since it was approved, or it was signed on another machine"
        )
        return TrustState(False, reason, shown, flags, "changed")
    return TrustState(False, "not approved on this machine", shown, flags, "unsigned")


def _signed_notebook_text(text: str, path: Path, signature: str) -> str | None:
    """`text` with the signature set, or None when the notebook cannot be rewritten byte for byte."""
    nb = parse_notebook(text, path)
    if nb.dumps() != text:  # a layout our writer would not reproduce: do not touch the file
        return None
    envlens_md = nb.metadata.get("envlens")
    if envlens_md is None:
        envlens_md = nb.metadata["envlens"] = {}
    if not isinstance(envlens_md, dict):
        return None
    if envlens_md.get("trust") == signature:
        return text
    envlens_md["trust"] = signature
    return nb.dumps()


def remove_signature(nb: Notebook) -> None:
    """Drop `metadata.envlens.trust` (and `metadata.envlens` when nothing else is in it): for a
    notebook whose own declaration is gone, a signature would cover nothing."""
    if nested(nb.metadata, "envlens", "trust") is not None:
        prune_metadata(nb.metadata, ["envlens", "trust"])


def sign_notebook_text(text: str, path: Path) -> str:
    """The notebook text with this machine's signature of its own declaration (for editor buffers).

    Returns `text` unchanged when the layout cannot be kept byte for byte.
    """
    nb = parse_notebook(text, path)
    res = resolve(path, notebook=nb)
    signed = _signed_notebook_text(text, path, sign(res))
    return text if signed is None else signed


def approve(
    res: Resolution, *, write_file: bool = True, notebook: Notebook | None = None
) -> TrustState:
    """Approve what `res` declares: sign the notebook (or record the script) and allow its packages.

    A notebook is signed on disk only when the file's declaration is the one approved (it may be an
    editor's unsaved buffer) and its layout can be kept byte for byte; the trust store always records
    the approval, so it holds either way. `write_file=False` leaves the file alone (a notebook open
    in an editor gets the signature through the editor instead, see `sign`); `notebook` is that
    editor's notebook, passed on to `trust_state`.
    """
    _, names, _ = _names(res)
    kind = res.declaration.kind
    if kind != "none" and not res.declaration.from_project:
        signature = sign(res)
        _record(res.path, signature)
        if write_file and res.path.suffix == ".ipynb" and res.path.exists():
            text = read_text(res.path)
            on_disk = resolve(res.path, notebook=parse_notebook(text, res.path))
            if declaration_payload(on_disk) == declaration_payload(res):
                signed = _signed_notebook_text(text, res.path, signature)
                if signed is not None and signed != text:
                    # A read-only or immutable notebook stays as it is; the record above holds.
                    with contextlib.suppress(FileAccessError):
                        atomic_write_text(res.path, signed)
    _allow(names)
    return trust_state(res, notebook=notebook)


def resign_if_trusted(
    before: Resolution | TrustState,
    after_path: Path | None = None,
    *,
    after: Resolution | None = None,
    write_file: bool = True,
    confirmed: Collection[str] = (),
) -> bool:
    """After envlens itself edited a declaration (add, remove, lock): keep a trusted file trusted.

    `before` is the file's resolution (or better, its trust state) taken before the edit; the new
    resolution is `after`, or resolved from `after_path` (the notebook or script, not a project
    file). `write_file=False` when the file is open in an editor (the approval is then recorded on
    this machine only). Returns True when the new declaration is trusted.

    An added name that `question` flags (a look-alike, a name not on PyPI) is not approved along:
    the file then waits for `envlens trust` / the trust dialog, which show the flag; unless the
    user confirmed that very name when asked (`confirmed`).
    """
    state = before if isinstance(before, TrustState) else trust_state(before, with_flags=False)
    if not state.trusted:
        return False
    if after is None:
        if after_path is None:
            if not isinstance(before, Resolution):
                raise TypeError("resign_if_trusted needs after_path or after")
            after_path = before.path
        after = resolve(after_path)
    if trust_state(after, with_flags=False).trusted:
        return True
    if held_back(state, after, confirmed):
        return False
    approve(after, write_file=write_file)
    return True


def requirement_name(req: str) -> str:
    """The canonical distribution name at the start of a normalised requirement or conda spec."""
    end = len(req)
    for i, ch in enumerate(req):
        if not (ch.isalnum() or ch in "-_."):
            end = i
            break
    return canonicalize_name(req[:end])


def held_back(before: TrustState, after: Resolution, confirmed: Collection[str] = ()) -> list[Flag]:
    """The questioned names an edit added (those an approval must not carry over)."""
    had = {requirement_name(p) for p in before.packages}
    ok = {canonicalize_name(c) for c in confirmed}
    _, names, _ = _names(after)
    return questions([n for n in names if n not in had and n not in ok])


def is_trusted(res: Resolution) -> bool:
    """For status displays (EnvironmentInfo.trusted); a broken key counts as not trusted."""
    try:
        return trust_state(res, with_flags=False).trusted
    except EnvlensError:
        return False


def trust_file(path: Path) -> TrustState:
    """Approve a file's declaration as it is on disk."""
    return approve(resolve(path))


def batch_override(flag: bool = False) -> bool:
    """`--trust` on the command line, or ENVLENS_TRUST=1 in the environment (CLI only, not the server)."""
    return flag or os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


def untrusted_message(state: TrustState) -> str:
    why = f" ({state.reason})" if state.status == "changed" else ""
    lines = [f"not approved on this machine{why}: it would install {', '.join(state.packages)}"]
    for f in state.flags:
        if f.kind != "new":
            lines.append(f"{f.package}: {f.detail}")
    return "; ".join(lines)


def require_trusted(
    res: Resolution, *, override: bool = False, notebook: Notebook | None = None
) -> TrustState:
    """The gate: raise UntrustedError (exit code 3) unless the file is trusted or `override` is set."""
    if override:  # a batch run said so: the state is reported, the flags (costly) are not needed
        return trust_state(res, notebook=notebook, with_flags=False)
    state = trust_state(res, notebook=notebook)
    if state.trusted or override:
        return state
    raise UntrustedError(
        untrusted_message(state),
        path=res.path,
        hint=surface.sentence(surface.action("approve", res.path)),
    )
