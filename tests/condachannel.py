"""A local conda channel written by the tests: tiny packages, no conda-build, no network.

A conda package is a `.tar.bz2` archive holding its files and `info/index.json` (name, version,
build, depends, subdir) and `info/paths.json` (every file with its sha256, size, type and, for text
files that mention the install prefix, the placeholder to replace). `repodata.json` per subdir is
written by rattler's own indexer (`rattler.index.index_fs`), as a real channel's would be.

Packages (`make_channel`):
- `tinytool` 1.0 and 2.0 (noarch): `bin/tinytool`, a shell script that prints its version and the
  prefix it was installed into (a prefix placeholder, so relocation is visible).
- `tinylib` 1.0 (noarch): depends on `tinytool >=2`; `share/tinylib/data.txt`.
- `tinylinux` 1.0 (linux-64 only): for "not available on this platform".
- `python` X.Y.Z (this machine's subdir): wraps a real interpreter of this machine as a venv
  (a copy of its executable, whose libpython it finds by rpath, and `pyvenv.cfg` naming its home),
  so `<env>/bin/python` has the environment as its prefix and ipykernel really runs in it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"


@dataclass
class CondaFile:
    path: str
    data: bytes
    mode: int = 0o644
    prefix: bool = False  # holds PLACEHOLDER, replaced by the install prefix
    link: str | None = None  # a symlink to this target instead of a file


@dataclass
class CondaPackage:
    name: str
    version: str
    subdir: str = "noarch"
    depends: list[str] = field(default_factory=list)
    files: list[CondaFile] = field(default_factory=list)
    build: str = "0"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.build}.tar.bz2"


def _add(tf: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = len(data), 1577836800, mode
    tf.addfile(ti, io.BytesIO(data))


def write_package(channel: Path, pkg: CondaPackage) -> Path:
    folder = channel / pkg.subdir
    folder.mkdir(parents=True, exist_ok=True)
    index = {
        "name": pkg.name,
        "version": pkg.version,
        "build": pkg.build,
        "build_number": 0,
        "depends": pkg.depends,
        "license": "MIT",
        "subdir": pkg.subdir,
        "timestamp": 1577836800000,
    }
    if pkg.subdir == "noarch":
        index["noarch"] = "generic"
    else:
        index["platform"], index["arch"] = pkg.subdir.split("-")[0], "x86_64"
    paths = []
    for f in pkg.files:
        if f.link is not None:
            paths.append({"_path": f.path, "path_type": "softlink"})
            continue
        entry = {
            "_path": f.path,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(f.data).hexdigest(),
            "size_in_bytes": len(f.data),
        }
        if f.prefix:
            entry["file_mode"], entry["prefix_placeholder"] = "text", PLACEHOLDER
        paths.append(entry)
    target = folder / pkg.filename
    with tarfile.open(target, "w:bz2") as tf:
        _add(tf, "info/index.json", json.dumps(index, indent=2).encode())
        _add(tf, "info/paths.json", json.dumps({"paths": paths, "paths_version": 1}).encode())
        _add(tf, "info/files", "".join(f"{f.path}\n" for f in pkg.files).encode())
        prefixed = [f for f in pkg.files if f.prefix]
        if prefixed:
            lines = "".join(f"{PLACEHOLDER} text {f.path}\n" for f in prefixed)
            _add(tf, "info/has_prefix", lines.encode())
        for f in pkg.files:
            if f.link is not None:
                ti = tarfile.TarInfo(f.path)
                ti.type, ti.linkname, ti.mtime = tarfile.SYMTYPE, f.link, 1577836800
                tf.addfile(ti)
            else:
                _add(tf, f.path, f.data, f.mode)
    return target


def index_channel(channel: Path, subdirs: tuple[str, ...]) -> None:
    """repodata.json for every subdir (rattler's indexer), and an empty one where none exist."""
    from rattler.index import index_fs

    from envlens.envs.aio import run_coroutine  # also from tests whose event loop is running

    for sub in ("noarch", *subdirs):
        (channel / sub).mkdir(parents=True, exist_ok=True)
    run_coroutine(lambda: index_fs(channel, write_zst=False, write_shards=False, force=True))


def tool_package(version: str) -> CondaPackage:
    script = f'#!/bin/sh\necho "tinytool {version} in {PLACEHOLDER}"\n'.encode()
    return CondaPackage(
        "tinytool",
        version,
        files=[CondaFile("bin/tinytool", script, mode=0o755, prefix=True)],
    )


def python_package(base: Path, version: str, subdir: str) -> CondaPackage:
    """A `python` package wrapping the interpreter `base` (its real executable) as a venv."""
    real = Path(os.path.realpath(base))
    short = ".".join(version.split(".")[:2])
    cfg = f"home = {real.parent}\ninclude-system-site-packages = false\nversion = {version}\n"
    return CondaPackage(
        "python",
        version,
        subdir=subdir,
        files=[
            CondaFile(f"bin/python{short}", real.read_bytes(), mode=0o755),
            CondaFile("bin/python", b"", link=f"python{short}"),
            CondaFile("bin/python3", b"", link=f"python{short}"),
            CondaFile("pyvenv.cfg", cfg.encode()),
            CondaFile(f"lib/python{short}/site-packages/README.tinypython", b"site-packages\n"),
        ],
    )


def current_subdir() -> str:
    from rattler import Subdir

    return str(Subdir.current())


def make_channel(folder: Path, python: Path | None = None, python_version: str = "") -> Path:
    sub = current_subdir()
    pkgs = [
        tool_package("1.0"),
        tool_package("2.0"),
        CondaPackage(
            "tinylib",
            "1.0",
            depends=["tinytool >=2"],
            files=[CondaFile("share/tinylib/data.txt", b"tinylib data\n")],
        ),
        CondaPackage(
            "tinylinux",
            "1.0",
            subdir="linux-aarch64" if sub != "linux-aarch64" else "linux-64",
            files=[CondaFile("share/tinylinux.txt", b"x\n")],
        ),
    ]
    if python is not None:
        pkgs.append(python_package(python, python_version, sub))
    for p in pkgs:
        write_package(folder, p)
    index_channel(folder, tuple({p.subdir for p in pkgs} - {"noarch"} | {sub}))
    return folder


def copy_channel(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    for p in dest.rglob("*"):
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    return dest
