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
