"""Draft a held-out set of real imports from public repositories (docs/imports.md, "How right it is").

Run it only after the lookup is frozen (committed): it lists candidate rows, and a person labels
them from each project's own requirements; nothing here looks at what the lookup answers.

    python scripts/collect_heldout_imports.py --seed 12 --per-repo 60 --out draft.tsv \\
        --tree tests/data/heldout_imports_NAME.tree /work/.mirror/OWNER+NAME/repo ...

For each repository (a git directory, read at HEAD): every import of every .py / .ipynb file that is
not the standard library and not relative and not a module of an earlier set, grouped by top-level name (by the name one level
below a namespace such as `google.cloud`); one group per name over all the repositories; a seeded
random sample of the groups, one random import of each. Each draft row carries the file's
path and, as a hint for the label, the requirements that the file's folders and the repository
declare (requirements*.txt, pyproject.toml, setup.py, the notebook's own `pip install` lines) and
whether the repository holds a module or package of that name.

`--tree` writes what a test needs to recreate where each file sits: every entry of each folder from
the file's up to the repository's root (and of their `src/`), a sub-folder standing as one Python
file of it, so the project's own modules are found the way they would be in the checkout.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from envlens.imports import import_table, namespace_prefixes, scan_chunk

EARLIER = sorted(
    (Path(__file__).resolve().parents[1] / "tests" / "data").glob("heldout_imports*.tsv")
)
_PIP_RE = re.compile(r"^[ \t]*[!%]\s*(?:uv\s+)?pip3?\s+install\s+(.*)$", re.M)
_REQ_FILES = (
    "requirements",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "environment.yml",
    "Pipfile",
)


class Repo:
    def __init__(self, git: Path) -> None:
        self.git = git
        out = subprocess.run(
            ["git", "-C", str(git), "ls-tree", "-r", "--name-only", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        self.files = [f for f in out.split("\n") if f]
        self.fileset = set(self.files)
        self.dirs: dict[str, list[str]] = defaultdict(list)  # folder -> its entries
        for f in self.files:
            p = PurePosixPath(f)
            parts = p.parts
            for i in range(len(parts)):
                parent = "/".join(parts[:i])
                entry = parts[i] + ("/" if i < len(parts) - 1 else "")
                if entry not in self.dirs[parent]:
                    self.dirs[parent].append(entry)
        self._cat = subprocess.Popen(
            ["git", "-C", str(git), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def read(self, path: str) -> str:
        assert self._cat.stdin and self._cat.stdout
        self._cat.stdin.write(f"HEAD:{path}\n".encode())
        self._cat.stdin.flush()
        head = self._cat.stdout.readline().split()
        if head[-1] == b"missing":
            return ""
        data = self._cat.stdout.read(int(head[2]))
        self._cat.stdout.read(1)
        return data.decode("utf-8", "replace")

    def one_py(self, folder: str) -> str | None:
        """A Python file standing for a sub-folder: its __init__.py, else one directly in it, else any below."""
        below = [f for f in self.files if f.startswith(folder + "/") and f.endswith(".py")]
        if not below:
            return None
        init = f"{folder}/__init__.py"
        if init in self.fileset:
            return init
        direct = [f for f in below if "/" not in f[len(folder) + 1 :]]
        return sorted(direct or below)[0]


def code_of(repo: Repo, path: str) -> list[str]:
    text = repo.read(path)
    if path.endswith(".ipynb"):
        try:
            nb = json.loads(text)
        except ValueError:
            return []
        cells = []
        for c in nb.get("cells", []):
            if c.get("cell_type") == "code":
                src = c.get("source", "")
                cells.append("".join(src) if isinstance(src, list) else str(src))
        return cells
    return [text]


def group_key(module: str) -> str:
    parts = module.split(".")
    for n in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:n])
        # a namespace that is nobody's module (google.cloud, azure), not a package's subpackages
        if prefix in namespace_prefixes() and prefix not in import_table():
            return ".".join(parts[: n + 1])
    return parts[0]


def hints(repo: Repo, path: str, module: str) -> str:
    """The requirements the file's folders declare, and whether the repository holds the module."""
    top = module.split(".")[0]
    found = []
    parts = PurePosixPath(path).parts[:-1]
    for i in range(len(parts), -1, -1):
        folder = "/".join(parts[:i])
        for entry in repo.dirs.get(folder, []):
            if entry.startswith(_REQ_FILES) and not entry.endswith("/"):
                full = f"{folder}/{entry}" if folder else entry
                text = repo.read(full)
                names = sorted(set(re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", text)))
                near = [
                    n for n in names if top.lower()[:4] in n.lower() or n.lower()[:4] in top.lower()
                ]
                if near:
                    found.append(f"{full}: {' '.join(near[:8])}")
    for code in code_of(repo, path):
        for m in _PIP_RE.finditer(code):
            found.append(f"pip: {m.group(1).strip()[:80]}")
    own = [f for f in repo.files if re.search(rf"(^|/){re.escape(top)}(\.py$|/)", f)][:2]
    if own:
        found.append(f"in repo: {' '.join(own)}")
    return " ; ".join(found)


def tree_lines(repo: Repo, path: str) -> set[str]:
    out = set()
    parts = PurePosixPath(path).parts[:-1]
    out.add(path)
    for i in range(len(parts), -1, -1):
        folder = "/".join(parts[:i])
        for base in (folder, f"{folder}/src" if folder else "src"):
            for entry in repo.dirs.get(base, []):
                full = f"{base}/{entry}" if base else entry
                if entry.endswith("/"):
                    py = repo.one_py(full.rstrip("/"))
                    if py:
                        out.add(py)
                else:
                    out.add(full)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("repos", nargs="+", type=Path)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--per-repo", type=int, default=60)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tree", type=Path, required=True)
    args = ap.parse_args()
    earlier = set()
    for f in EARLIER:
        for line in f.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                earlier.add(line.split("\t")[0])
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    rng = random.Random(args.seed)
    rows, tree = [], {}
    seen_tops: set[str] = set()
    for git in args.repos:
        repo = Repo(git)
        name = git.parent.name.replace("+", "/")
        groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for f in repo.files:
            if not f.endswith((".py", ".ipynb")):
                continue
            for code in code_of(repo, f):
                for r in scan_chunk(code):
                    if r.top in stdlib or r.module in earlier:
                        continue
                    groups[group_key(r.module)].append((r.module, f))
        keys = sorted(k for k in groups if k not in seen_tops)
        picked = rng.sample(keys, min(args.per_repo, len(keys)))
        for k in sorted(picked):
            module, f = rng.choice(sorted(set(groups[k])))
            seen_tops.add(k)
            rows.append((module, "?", name, f, hints(repo, f, module)))
            tree.setdefault(name, set()).update(tree_lines(repo, f))
    with args.out.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write("\t".join(row) + "\n")
    with args.tree.open("w", encoding="utf-8") as out:
        for name in sorted(tree):
            for p in sorted(tree[name]):
                out.write(f"{name}\t{p}\n")
    print(f"{len(rows)} rows, {sum(len(t) for t in tree.values())} tree entries")


if __name__ == "__main__":
    main()
