"""What a declaration means is what uv makes of it, everywhere: the environment key covers every
[tool.uv] setting, approval covers sources, indexes and find-links, the first lock of every
declaration kind is fresh, and a declaration whose range admits Pythons its packages do not support
still locks the way a user expects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envlens import trust
from envlens.edit import apply_edit, plan_edit
from envlens.errors import UntrustedError
from envlens.locking.drift import lock_state
from envlens.locking.versions import lock_file
from envlens.resolve import resolve


def envlens(*args: str, cwd: Path, trusted: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if trusted:
        env["ENVLENS_TRUST"] = "1"
    else:
        env.pop("ENVLENS_TRUST", None)
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def script(path: Path, body: str) -> Path:
    path.write_text(
        "# /// script\n"
        + "".join(f"# {x}\n" if x else "#\n" for x in body.splitlines())
        + "# ///\nimport sys\n"
    )
    return path


def notebook(
    path: Path, *, cell: str | None = None, metadata: dict[str, Any] | None = None
) -> Path:
    cells = []
    if cell is not None:
        cells.append(
            {"cell_type": "code", "execution_count": None, "id": "decl", "metadata": {},
             "outputs": [], "source": cell.splitlines(keepends=True)}
        )  # fmt: skip
    cells.append(
        {"cell_type": "code", "execution_count": None, "id": "work", "metadata": {},
         "outputs": [], "source": ["import tinyalpha\n", "print(tinyalpha.__version__)"]}
    )  # fmt: skip
    data = {"cells": cells, "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


# --- the key -------------------------------------------------------------------------------------


def test_every_tool_uv_setting_changes_the_environment(
    isolated_cache: Path, tmp_path: Path
) -> None:
    base = 'dependencies = ["six"]'
    variants = [
        "",
        '[tool.uv]\nexclude-newer = "2020-01-01T00:00:00Z"',
        '[tool.uv]\nexclude-newer = "2021-01-01T00:00:00Z"',
        '[tool.uv]\nconstraint-dependencies = ["six<1.16"]',
        '[tool.uv]\noverride-dependencies = ["six==1.14.0"]',
        '[tool.uv]\nprerelease = "allow"',
        '[tool.uv]\nindex-strategy = "unsafe-best-match"',
        '[tool.uv.sources]\nsix = { path = "./six" }',
    ]
    keys = set()
    for i, extra in enumerate(variants):
        keys.add(resolve(script(tmp_path / f"v{i}.py", f"{base}\n{extra}")).key)
    assert len(keys) == len(variants)
    # The same block elsewhere shares its environment, unless it names relative paths.
    other = tmp_path / "other"
    other.mkdir()
    same = resolve(script(other / "a.py", f"{base}\n{variants[1]}"))
    assert same.key == resolve(tmp_path / "v1.py").key
    moved = resolve(script(other / "b.py", f"{base}\n{variants[-1]}"))
    assert moved.key != resolve(tmp_path / f"v{len(variants) - 1}.py").key


def test_bad_settings_are_named_at_their_line(isolated_cache: Path, tmp_path: Path) -> None:
    cases = {
        'dependencies = []\ntool = "x"': ("'tool' in the script block must be a table", 3),
        'dependencies = []\n[tool.uv]\nindex-url = 5': ("'index-url' under [tool.uv] must be a string", 4),
        'dependencies = []\n[tool.uv]\nfind-links = "./w"': ("'find-links' under [tool.uv] must be a list", 4),
        'dependencies = []\n[tool.uv]\nconstraint-dependencies = ["six<<1"]': ("six<<1", 4),
    }  # fmt: skip
    for i, (body, (words, line)) in enumerate(cases.items()):
        path = script(tmp_path / f"bad{i}.py", body)
        before = path.read_bytes()
        proc = envlens("install", str(path), cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert f"bad{i}.py:{line}:" in proc.stderr and words in proc.stderr
        assert path.read_bytes() == before


def test_unknown_nteract_fields_are_named(isolated_cache: Path, tmp_path: Path) -> None:
    nb = notebook(
        tmp_path / "n.ipynb",
        metadata={"uv": {"dependencies": ["tinyalpha"], "prerelease": "allow", "channels": ["x"]}},
    )
    res = resolve(nb)
    assert res.declaration.settings() == {"prerelease": "allow"}
    assert res.declaration.ignored == ("metadata.uv.channels",)
    proc = envlens("resolve", str(nb), cwd=tmp_path)
    assert "metadata.uv.channels" in proc.stdout + proc.stderr


# --- approval ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "added",
    [
        '[tool.uv.sources]\ntinyalpha = { path = "./evil" }',
        '[[tool.uv.index]]\nname = "mirror"\nurl = "https://mirror.example.invalid/simple"',
        '[tool.uv]\nfind-links = ["./wheels"]',
    ],
    ids=["source", "index", "find-links"],
)
def test_a_source_added_after_approval_voids_it(
    offline_index: Path, tmp_path: Path, added: str
) -> None:
    path = script(tmp_path / "a.py", 'dependencies = ["tinyalpha"]')
    trust.approve(resolve(path))
    assert trust.trust_state(resolve(path)).trusted
    lock_file(path)  # approved and locked; then the source arrives (a pull, a colleague's edit)
    script(path, f'dependencies = ["tinyalpha==2.0"]\n{added}')
    state = trust.trust_state(resolve(path))
    assert not state.trusted and state.status == "changed"
    details = [f.detail for f in state.flags if f.kind == "source"]
    if "path" in added:
        assert details == [f"from path {tmp_path / 'evil'} (its build backend runs)"]
    elif "index" in added:
        assert details == ["packages may come from the index https://mirror.example.invalid/simple"]
    else:
        assert details == [f"packages may come from {tmp_path / 'wheels'}"]
    # The command line shows it, and refuses to lock, check or export it.
    shown = envlens("trust", str(path), cwd=tmp_path, trusted=False)
    assert shown.returncode == 3 and details[0] in shown.stderr
    for command in (["lock"], ["check"], ["export"], ["install"]):
        proc = envlens(*command, str(path), cwd=tmp_path, trusted=False)
        assert proc.returncode == 3, (command, proc.stderr)
        assert f"envlens trust {path}" in proc.stderr


def test_lock_of_an_unapproved_source_runs_nothing(
    offline_index: Path, tmp_path: Path, slow_sdist_maker: Any
) -> None:
    """A path source's build backend is code from the file's author: not before approval."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    sdist = slow_sdist_maker(pkg)
    import tarfile

    with tarfile.open(sdist) as tf:
        tf.extractall(pkg, filter="data")
    started = tmp_path / "backend-ran"
    path = script(
        tmp_path / "a.py",
        'dependencies = ["tinyslow"]\n[tool.uv.sources]\ntinyslow = { path = "./pkg/tinyslow-1.0" }',
    )
    env_started = {"TINYSLOW_STARTED": str(started)}
    os.environ.update(env_started)
    try:
        for command in ("lock", "check", "export", "install", "run"):
            proc = envlens(command, str(path), cwd=tmp_path, trusted=False)
            # export of a file with no lock says so first (1); every other command refuses (3)
            assert proc.returncode == (1 if command == "export" else 3), (command, proc.stderr)
        assert not started.exists()
        with pytest.raises(UntrustedError):
            trust.require_trusted(resolve(path))
        # Approved, the same backend runs (so the check above could have seen it).
        trust.approve(resolve(path))
        proc = envlens("install", str(path), cwd=tmp_path, trusted=False)
        assert proc.returncode == 0, proc.stderr
        assert started.exists()
    finally:
        for k in env_started:
            os.environ.pop(k, None)


# --- locks of every kind --------------------------------------------------------------------------


KINDS = {
    "script": lambda d: script(d / "k.py", 'dependencies = ["tinyalpha>=1"]'),
    "pep723-cell": lambda d: notebook(
        d / "k.ipynb", cell='# /// script\n# dependencies = ["tinyalpha>=1"]\n# ///'
    ),
    "metadata.uv": lambda d: notebook(d / "k.ipynb", metadata={"uv": {"dependencies": ["tinyalpha>=1"]}}),
    "metadata.runt.uv": lambda d: notebook(
        d / "k.ipynb", metadata={"runt": {"uv": {"dependencies": ["tinyalpha>=1"]}}}
    ),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_first_lock_is_fresh_for_every_kind(offline_index: Path, tmp_path: Path, kind: str) -> None:
    path = KINDS[kind](tmp_path)
    assert envlens("lock", str(path), cwd=tmp_path).returncode == 0
    res = resolve(path)
    assert res.declaration.requirements == ("tinyalpha==2.0",)
    assert lock_state(res) == "fresh"
    proc = envlens("run", str(path), "--locked", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


# --- requires-python -------------------------------------------------------------------------------


def test_a_new_declaration_names_the_python_it_builds_with(
    isolated_cache: Path, tmp_path: Path
) -> None:
    from envlens.envs.interpreters import discover
    from envlens.envs.uv import find_uv

    newest = discover(find_uv())[0]
    path = tmp_path / "plain.py"
    path.write_text("import os\n")
    apply_edit(plan_edit(path, add=["tinyalpha"]))
    assert resolve(path).declaration.requires_python == f">={newest.short}"
    nb = notebook(tmp_path / "plain.ipynb")
    apply_edit(plan_edit(nb, add=["tinyalpha"]))
    assert resolve(nb).declaration.requires_python == f">={newest.short}"


def test_add_python_sets_requires_python_and_keeps_approval(
    isolated_cache: Path, tmp_path: Path
) -> None:
    path = script(tmp_path / "a.py", 'dependencies = ["tinyalpha"]')
    trust.approve(resolve(path))
    proc = envlens("add", str(path), "--python", "3.12", cwd=tmp_path, trusted=False)
    assert proc.returncode == 0, proc.stderr
    res = resolve(path)
    assert res.declaration.requires_python == ">=3.12"
    assert trust.trust_state(res).trusted
    proc = envlens("add", str(path), "--python", ">=3.11,<3.13", cwd=tmp_path, trusted=False)
    assert resolve(path).declaration.requires_python == "<3.13,>=3.11"
    bad = envlens("add", str(path), "--python", "three", cwd=tmp_path, trusted=False)
    assert bad.returncode == 2 and "requires-python" in bad.stderr
    assert envlens("add", str(path), cwd=tmp_path).returncode == 2  # nothing to add


NUMPY = "numpy"


@pytest.mark.pypi
@pytest.mark.slow
@pytest.mark.parametrize("requires_python", [None, ">=3.10"], ids=["none", "3.10"])
def test_lock_numpy_with_a_wide_python_range(
    isolated_cache: Path, tmp_path: Path, requires_python: str | None
) -> None:
    """The newest numpy needs a newer Python than the range allows: the lock is made for the
    Pythons the pins support, and the user is told which."""
    body = (f'requires-python = "{requires_python}"\n' if requires_python else "") + (
        f'dependencies = ["{NUMPY}"]'
    )
    path = script(tmp_path / "np.py", body)
    result = lock_file(path)
    res = resolve(path)
    assert lock_state(res) == "fresh"
    pinned = res.declaration.requirements[0]
    assert pinned.startswith("numpy==")
    if result.requires_python is not None:
        declared, locked = result.requires_python
        assert declared == requires_python
        assert res.declaration.requires_python == locked
    proc = envlens("lock", str(path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_a_declaration_of_5000_packages_says_what_it_does(
    offline_index: Path, tmp_path: Path
) -> None:
    """Progress before the long part, and the unknown name named, for install and lock."""
    names = [f"nosuchpkg{i}" for i in range(5000)]
    path = tmp_path / "huge.py"
    path.write_text(
        "# /// script\n# dependencies = [\n"
        + "".join(f'#   "{n}",\n' for n in names)
        + "# ]\n# ///\n"
    )
    before = path.read_bytes()
    install = envlens("install", str(path), cwd=tmp_path)
    assert install.returncode == 1
    lines = install.stderr.splitlines()
    assert any("Installing 5000 packages and ipykernel" in line for line in lines[:4]), lines[:4]
    assert "No version of 'nosuchpkg" in lines[-1] and "huge.py:" in lines[-1]
    lock = envlens("lock", str(path), cwd=tmp_path)
    assert lock.returncode == 1
    assert "Locking 5000 declared packages with uv" in lock.stderr.splitlines()[0]
    assert "nosuchpkg" in lock.stderr.splitlines()[-1]
    assert path.read_bytes() == before and not (tmp_path / "huge.py.lock").exists()
