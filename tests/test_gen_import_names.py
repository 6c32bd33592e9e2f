"""The table generator's decisions (scripts/gen_import_names.py), on small made-up inputs, and the
name list it writes read back by envlens."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "scripts" / "gen_import_names.py"
spec = importlib.util.spec_from_file_location("gen_import_names", SCRIPT)
assert spec is not None and spec.loader is not None
gen = importlib.util.module_from_spec(spec)
sys.modules["gen_import_names"] = gen
spec.loader.exec_module(gen)

RANKS = {"pymongo": 100, "bson": 5000, "python-xlib": 2600, "xlib": 6800, "pysocks": 460}


def pkg(name: str, modules: list[str], requires: set[str] | None = None) -> object:
    return gen.Package(name, modules, requires or set())


def test_the_only_provider_wins() -> None:
    assert gen.guess("skopt", [pkg("scikit-optimize", ["skopt"])], RANKS)[0] == "scikit-optimize"


def test_a_namesake_loses_to_a_provider_far_more_downloaded() -> None:
    """upm's rule is "the name wins"; bson is pymongo's, Xlib is python-xlib's."""
    bson = [pkg("bson", ["bson"]), pkg("pymongo", ["bson", "pymongo", "gridfs"])]
    assert gen.guess("bson", bson, RANKS)[0] == "pymongo"
    xlib = [pkg("xlib", ["Xlib"]), pkg("python-xlib", ["Xlib"])]
    assert gen.guess("Xlib", xlib, RANKS)[0] == "python-xlib"


def test_an_install_diff_loses_to_a_package_s_own_list() -> None:
    diff = pkg("pexels", ["pexels", "requests", "idna", "socks"])
    diff.install_diff = True
    choice, _, _ = gen.guess("socks", [diff, pkg("PySocks", ["socks", "sockshandler"])], RANKS)
    assert choice == "pysocks"


def test_a_provider_that_depends_on_another_is_dropped() -> None:
    provs = [pkg("meta-a", ["thing"], {"thing-core"}), pkg("thing-core", ["thing"])]
    assert gen.guess("thing", provs, {})[0] == "thing-core"


def test_close_providers_stay_undecided() -> None:
    provs = [pkg("alpha-x", ["shared"]), pkg("beta-y", ["shared"])]
    choice, cands, _ = gen.guess("shared", provs, {"alpha-x": 100, "beta-y": 150})
    assert choice is None and cands == ["alpha-x", "beta-y"]


def test_a_meta_package_named_after_the_module_wins() -> None:
    """qiskit installs nothing itself and depends on qiskit-terra, which installs `qiskit`."""
    terra = pkg("qiskit-terra", ["qiskit"])
    by_name = {
        "qiskit": pkg("qiskit", [], {"qiskit-terra"}),
        "qiskit-terra": terra,
        "testinfra": pkg("testinfra", [], {"pytest-testinfra"}),
        "bio": pkg("bio", ["biorun"], {"biopython"}),
    }
    ranks = {"qiskit": 4541, "qiskit-terra": 9176, "testinfra": 10137, "pytest-testinfra": 4474}
    ranks |= {"bio": 9000, "biopython": 700}
    assert gen._meta_package("qiskit", [terra], by_name, ranks) == "qiskit"
    # a leftover alias far less downloaded than what it points to is not what people install
    testinfra = pkg("pytest-testinfra", ["testinfra"])
    assert gen._meta_package("testinfra", [testinfra], by_name, ranks) is None
    # a distribution with modules of its own that depends on the provider is not a meta-package
    assert gen._meta_package("Bio", [pkg("biopython", ["Bio"])], by_name, ranks) is None


def _git_repo(root: Path, files: dict[str, str]) -> Path:
    import subprocess

    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    run = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*run[:3], "init", "-q"], check=True)
    subprocess.run([*run, "add", "-A"], check=True)
    subprocess.run([*run, "commit", "-qm", "stubs"], check=True)
    return root / ".git"


def test_typeshed_stubs_name_the_distribution_of_their_modules(tmp_path: Path) -> None:
    repo = _git_repo(
        tmp_path,
        {
            "stubs/pywin32/METADATA.toml": 'version = "311.*"\n',
            "stubs/pywin32/win32api.pyi": "",
            "stubs/pywin32/win32com/__init__.pyi": "",
            "stubs/pywin32/win32com/client/__init__.pyi": "",
            "stubs/protobuf/METADATA.toml": 'version = "6.*"\n',
            "stubs/protobuf/google/protobuf/__init__.pyi": "",
            "stubs/protobuf/google/_upb/_message.pyi": "",
            "stubs/protobuf/@tests/stubtest_allowlist.txt": "",
            "stubs/google-cloud-ndb/METADATA.toml": 'version = "2.*"\n',
            "stubs/google-cloud-ndb/google/cloud/ndb/__init__.pyi": "",
            "stubs/gdb/METADATA.toml": "[tool.stubtest]\nskip = true\n",
            "stubs/gdb/gdb/__init__.pyi": "",
        },
    )
    assert gen.load_typeshed(repo) == {
        "win32api": "pywin32",
        "win32com": "pywin32",
        "google.protobuf": "protobuf",
        "google.cloud.ndb": "google-cloud-ndb",
    }, "namespaces read one level down; private modules, tests and unchecked stubs left out"


@pytest.mark.parametrize(
    ("module", "ok"),
    [("numpy", True), ("PyQt5.QtCore", True), ("pyodbc.cpython-311-darwin", False),
     ("PyQt5.Qsci.abi3", False), ("_yaml", False), ("", False)],
)  # fmt: skip
def test_only_real_module_names_are_read(module: str, ok: bool) -> None:
    assert gen._real_module(module) is ok


def test_the_name_list_reads_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from envlens import names

    path = tmp_path / "names.bloom"
    gen.write_bloom([f"pkg-{i}" for i in range(5000)], path)
    monkeypatch.setattr(names, "BLOOM_PATH", path)
    monkeypatch.setattr(names, "known_distributions", lambda: frozenset())
    names._bloom.cache_clear()
    try:
        assert all(names.on_pypi(f"pkg-{i}") for i in range(5000)), "no false 'not on PyPI'"
        false_yes = sum(names.on_pypi(f"other-{i}") for i in range(5000))
        assert false_yes < 150, "about 1 in 100 reads as present"
        assert names.on_pypi("PKG_1"), "names are compared canonical"
    finally:
        names._bloom.cache_clear()
