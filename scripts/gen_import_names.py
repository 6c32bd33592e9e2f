#!/usr/bin/env python3
"""Rebuild envlens's import name -> distribution table from public datasets made from real metadata.

    python scripts/gen_import_names.py --upm <replit/upm git dir> --pipreqs <bndr/pipreqs git dir> \
        --typeshed <python/typeshed git dir> \
        [--ranks <PyPI package list with a download-rank column>] [--uv-cache <uv cache dir>]

writes `server/envlens/data/import_names.json`, `known_distributions.txt` and `popular_packages.txt`
and prints the cross-check between the sources. The sources (docs/imports.md says more):

1. replit/upm's `pkgs.json` (commit UPM_PKGS_COMMIT): for each of ~20,000 of the most downloaded
   distributions, the modules it installs, read from the installed distribution's own metadata
   (dotted for namespace packages: `google.cloud.storage`), with its `requires_dist`. The choice among
   several providers of one module follows upm's own guesser (gen_pypi_map/package_guesser.go): the
   only provider; else a provider whose name is the module's; else drop providers that depend on
   another provider; else the most downloaded. upm's hand-written overrides (pypi_map.override.go)
   apply first. A distribution named after a module that installs nothing itself but depends on
   the module's provider is what people install (`qiskit` -> qiskit-terra, `itk` -> itk-core).
2. bndr/pipreqs' `pipreqs/mapping` (import:distribution), for modules upm does not know.
3. python/typeshed's `stubs/<distribution>/<module>`: typeshed's stubtest installs the distribution
   its folder names and checks the modules against it, on Linux, macOS and Windows (upm's run was
   Linux only: `win32api` is pywin32's). It wins over 1 and 2.
4. PEP 794 `Import-Name` / `Import-Namespace` headers of the wheels in uv's cache: the
   distribution's own declaration, which wins over both.
5. CURATED below: a few choices envlens makes on purpose (the official build among forks), each with
   its reason.

Download ranks (to pick the most downloaded, and for the list of known distributions) come from a
PyPI package list with a `rank_among_15000_most_downloaded` column, else upm's `top_10k.json`.
Nothing here asks the package index anything.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "server" / "envlens" / "data"
UPM_PKGS_COMMIT = (
    "a5fa4e2282b7da19f13b3eb2e19c662c4f69e59e"  # "chore/gen_pypi_cache overhaul", 2024-01
)
UPM_TOP_COMMIT = "9d6a324cbb6f6e4008b28b54b27bef1d44d3e9a5"  # top_10k.json, 2022-12
UPM_DIR = "internal/backends/python"
TOP_N_POPULAR = 1000  # popular_packages.txt: look-alikes of these are flagged as typos
# A provider ranked at least this many times better than the next one is the clear choice.
DOMINANCE = 3.0
# A module that this many distributions install, none of them named after it, is nobody's module
# (`tests`, `examples`, the bare `azure` namespace): no entry.
GENERIC_PROVIDERS = 5
# ... and one this many times more downloaded than the namesake wins over it.
NAME_OVERRIDE = 2.0

# Names of a project's own folders, which many distributions also ship by mistake: nobody's module.
GENERIC = frozenset(
    [
        "api",
        "app",
        "base",
        "bench",
        "benchmarks",
        "build",
        "client",
        "common",
        "config",
        "configs",
        "conftest",
        "core",
        "data",
        "demo",
        "doc",
        "docs",
        "example",
        "examples",
        "helper",
        "helpers",
        "lib",
        "main",
        "model",
        "models",
        "sample",
        "samples",
        "scripts",
        "server",
        "settings",
        "setup",
        "src",
        "test",
        "testing",
        "tests",
        "tools",
        "util",
        "utils",
    ]
)

# Choices envlens makes among several real providers: (distribution, why).
CURATED: dict[str, tuple[str, str]] = {
    "cv2": ("opencv-python", "the official build; -headless and -contrib builds provide cv2 too"),
    "faiss": ("faiss-cpu", "faiss is published as faiss-cpu and faiss-gpu builds"),
    "psycopg2": ("psycopg2-binary", "the wheel build; psycopg2 itself compiles from source"),
    "magic": ("python-magic", "the libmagic binding most code means; file-magic is another"),
    "jwt": ("pyjwt", "PyJWT; the 'jwt' distribution is a different library"),
    "serial": ("pyserial", "pyserial; the 'serial' distribution is a different library"),
    "dotenv": ("python-dotenv", "python-dotenv; 'dotenv' is an old unrelated package"),
    "jose": ("python-jose", "python-jose; 'jose' is an old unrelated package"),
    "docx": ("python-docx", "python-docx; 'docx' is an old unrelated package"),
    "pptx": ("python-pptx", "python-pptx"),
    "telegram": ("python-telegram-bot", "python-telegram-bot; 'telegram' is a placeholder"),
    "sklearn": ("scikit-learn", "the 'sklearn' distribution is a deprecated stub"),
    "attr": ("attrs", "attrs installs both attr and attrs"),
    "google.protobuf": ("protobuf", "protobuf; many distributions depend on it"),
    "tensorflow": ("tensorflow", "the official build; tensorflow-cpu and others provide it too"),
    "torch": ("torch", "the official build"),
    "yaml": ("pyyaml", "PyYAML; forks provide yaml too"),
    "PIL": ("pillow", "Pillow; PIL itself was never released for Python 3"),
    "skimage": ("scikit-image", "scikit-image"),
    "bs4": ("beautifulsoup4", "the 'bs4' distribution is an alias of beautifulsoup4"),
    "Crypto": ("pycryptodome", "pycryptodome; pycrypto is unmaintained"),
    "skvideo": ("scikit-video", "the project; sk-video repackages it"),
    # Namespace packages that upm's module scan (pkgutil) does not see.
    "mpl_toolkits": ("matplotlib", "matplotlib ships mpl_toolkits.mplot3d and axes_grid1"),
    "mpl_toolkits.basemap": ("basemap", "basemap adds mpl_toolkits.basemap"),
}


# Modules that exist only on one platform: whatever PyPI holds under that name is not them.
PLATFORM_ONLY: dict[str, str] = {
    "google.colab": "only exists on Google Colab",
    "kaggle_secrets": "only exists in Kaggle notebooks",
    "kaggle_web_client": "only exists in Kaggle notebooks",
    "arcpy": "ships with ArcGIS Pro, not on PyPI",
    "pyodide": "only exists in Pyodide (Python in the browser)",
    "micropip": "only exists in Pyodide (Python in the browser)",
    # ROS installs its Python packages with the robot's distribution (apt, rosdep, colcon); what
    # PyPI has under these names is somebody's repackaging or an unrelated project.
    **{
        m: "comes with ROS (apt, rosdep or a colcon workspace), not from PyPI"
        for m in (
            "rospy",
            "rclpy",
            "roslib",
            "rosbag",
            "rosbag2_py",
            "rosgraph",
            "rosparam",
            "roslaunch",
            "rostopic",
            "rosnode",
            "rosservice",
            "tf",
            "tf2_ros",
            "tf2_py",
            "tf2_geometry_msgs",
            "tf_conversions",
            "cv_bridge",
            "image_geometry",
            "message_filters",
            "actionlib",
            "launch_ros",
            "ament_index_python",
            "builtin_interfaces",
            "rcl_interfaces",
            "moveit_commander",
            "interactive_markers",
            "nav2_simple_commander",
        )
    },
    # Modules that a host application gives its own embedded Python; PyPI's namesakes (`maya`, a
    # date library) are other projects.
    **{
        m: f"comes with {app}, not from PyPI"
        for app, mods in {
            "Autodesk Maya": ("maya", "pymel.core"),
            "Autodesk 3ds Max": ("pymxs", "MaxPlus"),
            "Autodesk Fusion 360": ("adsk",),
            "SideFX Houdini": ("hou",),
            "Foundry Nuke": ("nuke",),
            "Maxon Cinema 4D": ("c4d",),
            "Unreal Engine": ("unreal",),
            "Rhino": ("rhinoscriptsyntax", "scriptcontext", "Rhino"),
            "FreeCAD": ("FreeCAD", "FreeCADGui"),
            "QGIS": ("qgis", "processing"),
            "ArcMap": ("pythonaddins",),
            "GIMP": ("gimpfu",),
            "Krita": ("krita",),
            "Blender's game engine": ("bge",),
            "Substance Painter": ("substance_painter",),
            "NVIDIA Omniverse / Isaac Sim": ("omni",),
            "NVIDIA Isaac Gym (a download)": ("isaacgym",),
            "SoftBank's NAOqi SDK": ("naoqi",),
            "IDA Pro": ("idaapi", "idc", "idautils"),
            "Binary Ninja": ("binaryninja",),
            "GDB": ("gdb",),
            "LLDB": ("lldb",),
            "Vim": ("vim",),
            "Sublime Text": ("sublime", "sublime_plugin"),
            "Kodi": ("xbmc", "xbmcgui", "xbmcaddon", "xbmcplugin"),
            "Ren'Py": ("renpy",),
            "CERN ROOT (conda-forge's root)": ("ROOT",),
            "the operating system (apt, dnf)": ("apt_pkg", "rpm", "dnf"),
            "MicroPython": ("micropython", "machine", "pyb", "utime"),
            "Pyodide (Python in the browser)": ("js",),
        }.items()
        for m in mods
    },
}
# Python 2's standard library, under the names Python 3 renamed or removed: no distribution.
PY2_STDLIB = (
    "urllib2",
    "urlparse",
    "ConfigParser",
    "cPickle",
    "cStringIO",
    "StringIO",
    "Queue",
    "Tkinter",
    "tkMessageBox",
    "tkFileDialog",
    "tkSimpleDialog",
    "tkFont",
    "ScrolledText",
    "HTMLParser",
    "httplib",
    "cookielib",
    "Cookie",
    "SocketServer",
    "SimpleHTTPServer",
    "BaseHTTPServer",
    "CGIHTTPServer",
    "xmlrpclib",
    "SimpleXMLRPCServer",
    "commands",
    "thread",
    "dummy_thread",
    "__builtin__",
    "_winreg",
    "md5",
    "sha",
    "sets",
    "exceptions",
    "anydbm",
    "dbhash",
    "whichdb",
    "copy_reg",
    "UserDict",
    "UserList",
    "UserString",
    "htmlentitydefs",
    "robotparser",
    "mimetools",
    "rfc822",
    "popen2",
    "urllib2_file",
)
PLATFORM_ONLY.update(
    {m: "Python 2's standard library: Python 3 renamed or removed it" for m in PY2_STDLIB}
)
# Name endings that mark a platform's generated packages: ROS message and service definitions.
PLATFORM_ONLY_SUFFIXES: dict[str, str] = {
    "_msgs": "a ROS message package: it comes with ROS or is built in a colcon workspace",
    "_srvs": "a ROS service package: it comes with ROS or is built in a colcon workspace",
}


@dataclass
class Package:
    name: str
    modules: list[str]
    requires: set[str] = field(default_factory=set)
    # upm's older lists are install diffs: they hold the modules of the package's dependencies too.
    install_diff: bool = False
    failed: bool = False  # upm could not install it: its module list says nothing


def git_head(repo: Path) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), "rev-parse", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def git_show(repo: Path, commit: str, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(repo), "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def load_ranks(ranks: Path | None, upm: Path) -> dict[str, int]:
    """canonical name -> download rank (1 is the most downloaded)."""
    out: dict[str, int] = {}
    if ranks is not None and ranks.exists():
        csv.field_size_limit(1 << 24)
        with open(ranks, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            for row in reader:
                rank = (row.get("rank_among_15000_most_downloaded") or "").strip()
                if rank.isdigit():
                    out[canonicalize_name(row["name"])] = int(rank)
    top = json.loads(git_show(upm, UPM_TOP_COMMIT, f"{UPM_DIR}/top_10k.json"))
    base = max(out.values(), default=0)
    for i, name in enumerate(top, start=1):
        out.setdefault(canonicalize_name(name), base + i)  # after the newer list
    return out


def load_upm(upm: Path) -> list[Package]:
    pkgs = []
    for line in git_show(upm, UPM_PKGS_COMMIT, f"{UPM_DIR}/pkgs.json").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        mods = [m for m in d.get("modules") or [] if _real_module(m)]
        requires = {canonicalize_name(r) for r in d.get("requires_dist") or []}
        pkgs.append(Package(d["name"], mods, requires, failed=bool(d.get("error"))))
    return pkgs


def _real_module(m: str) -> bool:
    """A public importable name: not private, not an extension file's name (`x.cpython-311-darwin`)."""
    parts = m.split(".")
    return (
        bool(m)
        and all(p.isidentifier() for p in parts)
        and not parts[-1].startswith("_")
        and parts[-1] != "abi3"
    )


def load_upm_overrides(upm: Path) -> dict[str, str]:
    text = git_show(upm, "HEAD", f"{UPM_DIR}/pypi_map.override.go")
    out = {}
    for m in re.finditer(r'^\s*"([\w.]+)":\s*\{"([^"]+)"', text, re.M):
        out[m.group(1)] = m.group(2)
    for m in re.finditer(r'^\s*"([\w.]+)":\s*"([^"]+)"', text, re.M):
        out[m.group(1)] = m.group(2)
    return out


def load_pipreqs(pipreqs: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for line in git_show(pipreqs, "HEAD", "pipreqs/mapping").splitlines():
        mod, _, dist = line.strip().partition(":")
        if mod and dist:
            out[mod].append(dist)
    return dict(out)


def load_typeshed(typeshed: Path) -> dict[str, str]:
    """module -> distribution from typeshed's `stubs/<distribution>/`: each stub package's modules.

    A folder without `__init__.pyi` is a namespace (`google/`), whose packages are read one level
    further down (`google.cloud.ndb`). Stubs whose stubtest is skipped were never checked against
    an installed distribution (`gdb` cannot be installed with pip): they are left out.
    """
    files = subprocess.run(
        ["git", "--git-dir", str(typeshed), "ls-tree", "-r", "--name-only", "HEAD", "stubs/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    by_dist: dict[str, list[list[str]]] = defaultdict(list)
    for f in files:
        parts = f.split("/")[1:]
        if len(parts) >= 2 and not parts[1].startswith("@") and parts[-1].endswith(".pyi"):
            by_dist[parts[0]].append(parts[1:])
    out: dict[str, str] = {}
    for dist, paths in sorted(by_dist.items()):
        meta = git_show(typeshed, "HEAD", f"stubs/{dist}/METADATA.toml")
        if re.search(r"^skip\s*=\s*true", meta, re.M):
            continue
        packages = {tuple(p[:-1]) for p in paths if p[-1] == "__init__.pyi"}
        for p in paths:
            if len(p) == 1:  # a module file at the top: `six.pyi`
                mod = [p[0][: -len(".pyi")]]
            else:
                # the shallowest package on this path; above it, namespace folders
                depth = next((i for i in range(1, len(p)) if tuple(p[:i]) in packages), None)
                mod = p[:depth] if depth is not None else [*p[:-1], p[-1][: -len(".pyi")]]
            name = ".".join(mod)
            if _real_module(name) and name not in GENERIC:
                out.setdefault(name, canonicalize_name(dist))
    return out


def load_import_names(cache: Path | None) -> dict[str, str]:
    """PEP 794: `Import-Name` / `Import-Namespace` in the METADATA of wheels uv has unpacked."""
    out: dict[str, str] = {}
    if cache is None or not (cache / "archive-v0").is_dir():
        return out
    for meta in (cache / "archive-v0").glob("*/*.dist-info/METADATA"):
        name = None
        names: list[str] = []
        for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            if key == "Name":
                name = value.strip()
            elif key in ("Import-Name", "Import-Namespace"):
                value = value.split(";")[0].strip()  # "; private" marks a private name
                if value:
                    names.append(value)
        for mod in names:
            if name:
                out.setdefault(mod, canonicalize_name(name))
    return out


def _squash(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace(".", "")


def name_match(module: str, dist: str) -> bool:
    """upm's rule: the distribution is named after the module (ignoring case, - and _)."""
    return _squash(dist) == _squash(module) or _squash(dist) == _squash(module.replace(".", "-"))


def _meta_package(
    module: str, providers: list[Package], by_name: dict[str, Package], ranks: dict[str, int]
) -> str | None:
    """A distribution named after `module` that does not install it but depends on a provider."""
    for cand in {canonicalize_name(module), canonicalize_name(module.replace(".", "-"))}:
        meta = by_name.get(cand)
        if meta is None or meta.modules or meta.failed or cand not in ranks:
            continue  # `bio` installs modules of its own and depends on biopython: not a meta
        deps = [p for p in providers if canonicalize_name(p.name) in meta.requires]
        best = min((ranks.get(canonicalize_name(p.name), 10**9) for p in deps), default=None)
        # ... and is about as downloaded (testinfra, a leftover alias of pytest-testinfra, is not)
        if best is not None and ranks[cand] <= best * NAME_OVERRIDE:
            return cand
    return None


def guess(
    module: str, providers: list[Package], ranks: dict[str, int]
) -> tuple[str | None, list[str], str]:
    """(choice or None when undecided, candidates by rank, reason): upm's guesser, plus dominance."""

    def rank(p: Package) -> int:
        return ranks.get(canonicalize_name(p.name), 10**9)

    if len(providers) == 1:
        return canonicalize_name(providers[0].name), [], "only provider"
    # A list of the package's own modules beats an install diff that merely holds the module.
    own = [p for p in providers if not p.install_diff or name_match(module, p.name)]
    providers = own or providers
    if len(providers) == 1:
        return canonicalize_name(providers[0].name), [], "only provider with its own list"
    by_rank = sorted(providers, key=rank)
    requires = {canonicalize_name(p.name): p.requires for p in providers}

    def depends_on_another(p: Package) -> bool:
        me = canonicalize_name(p.name)
        # A mutual dependency does not count (upm's rule).
        return any(d in requires and d != me and me not in requires[d] for d in p.requires)

    # A provider that depends on another provider is not where the module comes from (upm's
    # lists of older packages hold their dependencies' modules too).
    kept = [p for p in by_rank if not depends_on_another(p)] or by_rank
    cands = [canonicalize_name(p.name) for p in kept]
    matches = [p for p in kept if name_match(module, p.name)] or [
        p for p in by_rank if name_match(module, p.name)
    ]
    if matches:
        match = matches[0]
        # upm's rule, the name wins; unless another provider is far more downloaded (`bson`:
        # pymongo's, not the little `bson` distribution).
        if rank(kept[0]) * NAME_OVERRIDE <= rank(match) and rank(kept[0]) < 10**9:
            return (
                cands[0],
                [canonicalize_name(match.name)],
                "far more downloaded than the namesake",
            )
        others = [c for c in cands if c != canonicalize_name(match.name)]
        return canonicalize_name(match.name), others, "named after the module"
    if len(kept) == 1:
        return cands[0], [], "only provider once dependents are dropped"
    if len(kept) >= GENERIC_PROVIDERS:
        return None, [], "generic"
    first, second = rank(kept[0]), rank(kept[1])
    if first < 10**9 and second >= DOMINANCE * first:
        return cands[0], cands[1:], "the most downloaded by far"
    return None, cands, "several providers, none clearly the one"


def build(args: argparse.Namespace) -> dict[str, object]:
    ranks = load_ranks(args.ranks, args.upm)
    upm = load_upm(args.upm)
    upm_overrides = load_upm_overrides(args.upm)
    pipreqs = load_pipreqs(args.pipreqs)
    pep794 = load_import_names(args.uv_cache)
    typeshed = load_typeshed(args.typeshed) if args.typeshed else {}

    named = {_squash(p.name) for p in upm} | {_squash(n) for n in ranks}
    for p in upm:
        # Two or more modules named after other distributions (requests, six ...): an install diff.
        foreign = sum(1 for m in p.modules if _squash(m) in named and not name_match(m, p.name))
        p.install_diff = foreign >= 2
    providers: dict[str, list[Package]] = defaultdict(list)
    for p in upm:
        for m in dict.fromkeys(p.modules):
            providers[m].append(p)
    namespaces = {".".join(m.split(".")[:i]) for m in providers for i in range(1, m.count(".") + 1)}

    table: dict[str, str] = {}
    alternatives: dict[str, list[str]] = {}
    ambiguous: dict[str, list[str]] = {}
    origin: dict[str, str] = {}
    by_name = {canonicalize_name(p.name): p for p in upm}
    for mod, provs in providers.items():
        if mod in GENERIC:
            continue
        meta = _meta_package(mod, provs, by_name, ranks)
        if meta is not None:
            # `qiskit` installs nothing itself and depends on qiskit-terra, which installs the
            # module: people install (and the docs name) qiskit.
            table[mod] = meta
            origin[mod] = "upm meta-package"
            alternatives[mod] = [canonicalize_name(p.name) for p in provs][:4]
            continue
        if mod in namespaces and not any(name_match(mod, p.name) for p in provs):
            continue  # `google`, `azure`: a namespace; its packages are mapped one by one
        choice, cands, _reason = guess(mod, provs, ranks)
        if choice is not None:
            table[mod] = choice
            origin[mod] = "upm"
            popular_alts = [c for c in cands if ranks.get(c, 10**9) <= 15000]
            if popular_alts:
                alternatives[mod] = popular_alts[:4]
        elif cands:
            ambiguous[mod] = cands[:6]
    for mod, dist in upm_overrides.items():
        table[mod] = canonicalize_name(dist)
        origin[mod] = "upm override"
        ambiguous.pop(mod, None)

    # pipreqs: cross-check what upm knows, fill in what it does not.
    agree = disagree = added = 0
    disagreements: list[str] = []
    for mod, dists in pipreqs.items():
        canon = [canonicalize_name(d) for d in dists]
        if mod in table or mod in ambiguous:
            mine = [table[mod]] if mod in table else ambiguous[mod]
            if set(canon) & set(mine):
                agree += 1
            else:
                disagree += 1
                disagreements.append(f"{mod}: upm {mine[0]}, pipreqs {', '.join(canon)}")
            continue
        if mod in GENERIC or mod in namespaces or mod.split(".")[0] in ("google", "azure"):
            continue  # a namespace: its packages are mapped one by one
        if len(canon) == 1:
            table[mod] = canon[0]
        else:
            best = sorted(canon, key=lambda d: ranks.get(d, 10**9))
            if ranks.get(best[0], 10**9) * DOMINANCE <= ranks.get(best[1], 10**9):
                table[mod] = best[0]
            else:
                ambiguous[mod] = best[:6]
                continue
        origin[mod] = "pipreqs"
        added += 1

    ts_agree = ts_disagree = ts_added = 0
    for mod, dist in typeshed.items():
        if mod in table or mod in ambiguous:
            mine = [table[mod]] if mod in table else ambiguous[mod]
            if dist in mine[:1]:
                ts_agree += 1
                continue
            ts_disagree += 1
            disagreements.append(f"{mod}: table {mine[0]}, typeshed {dist}")
            if mod in table:
                alternatives[mod] = [table[mod]] + [
                    a for a in alternatives.get(mod, []) if a != dist
                ]
        else:
            ts_added += 1
        table[mod] = dist
        origin[mod] = "typeshed"
        ambiguous.pop(mod, None)

    pep_agree = pep_disagree = 0
    for mod, dist in pep794.items():
        if mod in table:
            if table[mod] == dist:
                pep_agree += 1
            else:
                pep_disagree += 1
                disagreements.append(f"{mod}: table {table[mod]}, Import-Name {dist}")
        table[mod] = dist
        origin[mod] = "Import-Name"
        ambiguous.pop(mod, None)

    for mod in list(table):
        top = mod.split(".", 1)[0]
        if top in PLATFORM_ONLY or any(top.endswith(x) for x in PLATFORM_ONLY_SUFFIXES):
            del table[mod]  # ROS's modules in a repackaging (py3rosmsgs): not where they come from

    for mod, (dist, _why) in CURATED.items():
        table[mod] = canonicalize_name(dist)
        origin[mod] = "curated"
        was = (alternatives.pop(mod, None) or []) + (ambiguous.pop(mod, None) or [])
        alts = [d for d in dict.fromkeys(was) if d != table[mod]]
        if alts:
            alternatives[mod] = alts

    # Only what the lookup cannot work out itself: names that differ from their distribution, and
    # every dotted name (the fallback is the top-level name, which for a namespace is nobody's).
    imports = {
        m: d
        for m, d in sorted(table.items(), key=lambda kv: kv[0].lower())
        if "." in m or canonicalize_name(m) != d
    }
    known = dict.fromkeys(sorted(ranks, key=lambda n: ranks[n]))
    for d in sorted(set(table.values()) | {canonicalize_name(p.name) for p in upm}):
        known.setdefault(d, None)
    for cands in ambiguous.values():
        for d in cands:
            known.setdefault(d, None)
    # Modules named like their distribution: "known" as imports, without an entry each.
    same_name = sorted({m for m, d in table.items() if "." not in m and canonicalize_name(m) == d})
    stats = {
        "upm packages": len(upm),
        "upm modules": len(providers),
        "pipreqs entries": len(pipreqs),
        "pipreqs agrees with upm": agree,
        "pipreqs disagrees with upm": disagree,
        "pipreqs adds": added,
        "typeshed modules": len(typeshed),
        "typeshed agrees": ts_agree,
        "typeshed disagrees (typeshed kept)": ts_disagree,
        "typeshed adds": ts_added,
        "Import-Name headers": len(pep794),
        "Import-Name agrees": pep_agree,
        "Import-Name disagrees": pep_disagree,
        "entries": len(imports),
        **{f"decided by {k}": v for k, v in sorted(Counter(origin.values()).items())},
        "ambiguous": len(ambiguous),
    }
    return {
        "imports": imports,
        "alternatives": {m: alternatives[m] for m in sorted(alternatives) if m in table},
        "ambiguous": dict(sorted(ambiguous.items())),
        "same_name": same_name,
        "known": list(known),
        "ranked": len(ranks),
        "pipreqs_commit": git_head(args.pipreqs),
        "typeshed_commit": git_head(args.typeshed) if args.typeshed else "",
        "ranks": ranks,
        "stats": stats,
        "disagreements": disagreements,
    }


def write(result: dict[str, object], out: Path) -> None:
    stats = result["stats"]
    assert isinstance(stats, dict)
    doc = {
        "about": "Import name -> distribution, generated by scripts/gen_import_names.py from replit/upm's "
        "pkgs.json, pipreqs' mapping and PEP 794 Import-Name headers (see docs/imports.md). Do not "
        "edit by hand: change CURATED in the script and run it again.",
        "sources": {
            "upm pkgs.json": f"replit/upm@{UPM_PKGS_COMMIT}",
            "upm top_10k.json": f"replit/upm@{UPM_TOP_COMMIT}",
            "pipreqs mapping": f"bndr/pipreqs@{result['pipreqs_commit']}",
            "typeshed stubs": f"python/typeshed@{result['typeshed_commit']}",
            **{k: v for k, v in stats.items()},
        },
        "imports": result["imports"],
        "alternatives": result["alternatives"],
        "ambiguous": result["ambiguous"],
        "same_name": result["same_name"],
        "generic": sorted(GENERIC),
        "platform_only": PLATFORM_ONLY,
        "platform_only_suffixes": PLATFORM_ONLY_SUFFIXES,
    }
    (out / "import_names.json").write_text(
        json.dumps(doc, indent=0, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8"
    )
    known = result["known"]
    assert isinstance(known, list)
    ranked = result["ranked"]
    (out / "known_distributions.txt").write_text(
        "# Distributions envlens knows exist (canonical names): the most downloaded first, then every\n"
        "# distribution of the import table. Generated by scripts/gen_import_names.py.\n"
        f"# ranked: {ranked} (the first {ranked} names are in download order)\n"
        + "\n".join(known)
        + "\n",
        encoding="utf-8",
    )
    ranks = result["ranks"]
    assert isinstance(ranks, dict)
    popular = [n for n in sorted(ranks, key=lambda n: ranks[n])][:TOP_N_POPULAR]
    (out / "popular_packages.txt").write_text(
        f"# The {TOP_N_POPULAR} most downloaded PyPI distributions (canonical names), from the download rank column of\n"
        "# the PyPI package list (see docs/trust.md). Used to flag names that look like typos of these.\n"
        + "\n".join(popular)
        + "\n",
        encoding="utf-8",
    )


def write_bloom(names: list[str], path: Path, fp_rate: float = 0.01) -> None:
    """Every distribution name on PyPI (canonical), as a Bloom filter: envlens.names reads it."""
    import hashlib
    import math
    import struct

    n = max(len(names), 1)
    m = int(-n * math.log(fp_rate) / (math.log(2) ** 2))
    m = (m + 7) // 8 * 8
    k = max(1, round(m / n * math.log(2)))
    bits = bytearray(m // 8)
    for name in names:
        d = hashlib.blake2b(name.encode(), digest_size=16).digest()
        h1, h2 = struct.unpack("<QQ", d)
        for i in range(k):
            b = (h1 + i * h2) % m
            bits[b >> 3] |= 1 << (b & 7)
    path.write_bytes(b"ELBF1" + struct.pack("<IQ", k, m) + bytes(bits))


def all_pypi_names(ranks: Path | None) -> list[str]:
    if ranks is None or not ranks.exists():
        return []
    names = set()
    with open(ranks, encoding="utf-8", errors="replace") as f:
        next(f)
        for line in f:
            name = line.split("\t", 1)[0].strip()
            if name:
                names.add(canonicalize_name(name))
    return sorted(names)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--upm", type=Path, required=True, help="git dir of replit/upm")
    p.add_argument("--pipreqs", type=Path, required=True, help="git dir of bndr/pipreqs")
    p.add_argument("--typeshed", type=Path, help="git dir of python/typeshed")
    p.add_argument("--ranks", type=Path, help="PyPI package list (TSV) with download ranks")
    default_cache = os.environ.get("UV_CACHE_DIR") or str(Path.home() / ".cache" / "uv")
    p.add_argument("--uv-cache", type=Path, default=Path(default_cache))
    p.add_argument("--out", type=Path, default=DATA)
    args = p.parse_args()
    result = build(args)
    write(result, args.out)
    names = all_pypi_names(args.ranks)
    if names:
        write_bloom(sorted(set(names) | set(result["known"])), args.out / "pypi_names.bloom")  # type: ignore[arg-type]
        print(f"PyPI names in the Bloom filter: {len(names)}")
    for k, v in result["stats"].items():  # type: ignore[union-attr]
        print(f"{k}: {v}")
    dis = result["disagreements"]
    assert isinstance(dis, list)
    print(f"disagreements ({len(dis)}), :")
    for line in dis:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
