"""Import scanning, the stdlib check, and import name -> distribution."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from envlens.imports import (
    distribution_for,
    import_table,
    is_stdlib,
    scan_imports,
    third_party,
)


def names(text: str) -> list[str]:
    return [r.module for r in scan_imports(text)]


def test_scan_finds_absolute_imports_with_positions() -> None:
    text = "import numpy as np, os\nfrom skimage import data\nfrom . import local\nimport  google . protobuf\n"
    refs = scan_imports(text)
    assert [r.module for r in refs] == ["numpy", "os", "skimage", "google.protobuf"]
    lines = text.split("\n")
    for r in refs:
        assert lines[r.line][r.start : r.end].replace(" ", "") == r.module


def test_scan_survives_magics_and_syntax_errors() -> None:
    cell = "%matplotlib inline\n!pip install x\nimport pandas\nfiles = !ls\n"
    assert names(cell) == ["pandas"]
    typing = "import numpy\nfrom pandas import (\ndef broken(:\nimport sklearn.svm as svm\n"
    assert names(typing) == ["numpy", "pandas", "sklearn.svm"]
    assert names("\x00\xff garbage import\n") == []


def test_imports_in_try_except_importerror_are_optional() -> None:
    refs = scan_imports("try:\n    import ujson as json\nexcept ImportError:\n    import json\n")
    assert [(r.module, r.optional) for r in refs] == [("ujson", True), ("json", False)]


def test_percent_cells_are_scanned_separately() -> None:
    text = "# %%\nimport a\n# %%\nimport b(\n# %%\nimport c\n"
    refs = scan_imports(text)
    assert [(r.module, r.line) for r in refs] == [("a", 1), ("b", 3), ("c", 5)]


def test_stdlib_and_local_modules_are_not_dependencies(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("")
    refs = scan_imports("import os\nimport helpers\nimport numpy\nimport __future__\n")
    assert [r.module for r in third_party(refs, folder=tmp_path)] == ["numpy"]
    assert is_stdlib("tomllib", frozenset({"tomllib"}))
    assert not is_stdlib("tomllib", frozenset({"os"})), "the target's stdlib list decides"


def test_distribution_order_env_then_table_then_name() -> None:
    assert distribution_for("sklearn.linear_model") == "scikit-learn"
    assert distribution_for("google.protobuf.message") == "protobuf"
    assert distribution_for("numpy") == "numpy"
    assert distribution_for("yaml", {"yaml": ["ruamel-yaml-fork"]}) == "ruamel-yaml-fork"


def _wheel_top_level(dist: str) -> set[str]:
    api = f"https://pypi.org/pypi/{dist}/json"
    with urllib.request.urlopen(api, timeout=30) as resp:
        data = json.load(resp)
    wheels = [u for u in data["urls"] if u["packagetype"] == "bdist_wheel"]
    wheel = min(wheels, key=lambda u: u["size"])
    with urllib.request.urlopen(urllib.parse.urljoin(api, wheel["url"]), timeout=60) as resp:
        zf = zipfile.ZipFile(io.BytesIO(resp.read()))
    tops: set[str] = set()
    for name in zf.namelist():
        if name.endswith(".dist-info/top_level.txt"):
            tops |= {t.strip() for t in zf.read(name).decode().splitlines() if t.strip()}
    if not tops:  # no top_level.txt: the wheel's own top-level entries
        for name in zf.namelist():
            first = name.split("/")[0]
            if not first.endswith((".dist-info", ".data")):
                tops.add(first.removesuffix(".py"))
    return tops


SAMPLE = [
    "yaml",
    "bs4",
    "dateutil",
    "dotenv",
    "jwt",
    "attr",
    "serial",
    "socks",
    "websocket",
    "absl",
    "git",
    "dns",
]


@pytest.mark.pypi
@pytest.mark.parametrize("module", SAMPLE)
def test_table_matches_wheels(module: str) -> None:
    """The table's facts: the distribution's own wheel provides the import name."""
    dist = import_table()[module]
    assert module in _wheel_top_level(dist), f"{dist}'s wheel does not provide {module!r}"


def test_imports_of_a_long_script_keep_their_lines_through_edits() -> None:
    from envlens.imports import scan_imports

    def script(n: int, extra: int) -> str:
        cells = [f"# %%\nimport mod{i}\n" + "x = 1\n" * (i % 3) for i in range(n)]
        cells.insert(50, "# %%\n" + "\n" * extra + "import inserted\n")
        return "".join(cells)

    for extra in (0, 3):  # the second: lines added in one cell shift every later import
        text = script(120, extra)
        lines = text.split("\n")
        found = scan_imports(text)
        assert len(found) == 121
        for ref in found:
            assert lines[ref.line].startswith(f"import {ref.module}")


def test_namespace_packages_map_by_their_longest_known_prefix() -> None:
    from envlens.imports import lookup

    expected = {
        "google.cloud.storage": "google-cloud-storage",
        "azure.storage.blob": "azure-storage-blob",
        "ruamel.yaml": "ruamel-yaml",
        "googleapiclient.discovery": "google-api-python-client",
        "skopt": "scikit-optimize",
        "imblearn.over_sampling": "imbalanced-learn",
        "haiku": "dm-haiku",
        "Xlib.display": "python-xlib",
        "skvideo.io": "scikit-video",
        "mpl_toolkits.mplot3d": "matplotlib",
    }
    assert {m: lookup(m).distribution for m in expected} == expected
    # A namespace alone is nobody's module; a platform's own module is not on PyPI.
    assert lookup("google").distribution is None
    colab = lookup("google.colab")
    assert colab.distribution is None and "Colab" in colab.note
    assert lookup("utils").distribution is None, "a project folder's name"


def test_submodules_and_renamed_packages_map_to_what_people_install() -> None:
    from envlens.imports import lookup

    expected = {
        # a versioned API module of a namespace package (Google's generated clients)
        "google.cloud.pubsub_v1": "google-cloud-pubsub",
        "google.cloud.speech_v1p1beta1": "google-cloud-speech",
        # a meta-distribution named after the module, over the one that installs it
        "qiskit.visualization": "qiskit",
        "itk": "itk",
        # typeshed's stubs: the Windows modules upm's Linux run could not see
        "win32api": "pywin32",
        "win32com.client": "pywin32",
        "MySQLdb": "mysqlclient",
        "RPi.GPIO": "rpi-gpio",
        # a dotted name's own, popular distribution; unless the top-level one is far ahead
        "llama_index.vector_stores.pinecone": "llama-index-vector-stores-pinecone",
        "mcp.server.fastmcp": "mcp",
    }
    assert {m: lookup(m).distribution for m in expected} == expected


@pytest.mark.parametrize(
    ("module", "why"),
    [
        ("rospy", "ROS"),
        ("sensor_msgs.msg", "ROS"),
        ("maya.cmds", "Maya"),
        ("qgis.core", "QGIS"),
        ("urllib2", "Python 2"),
    ],
)
def test_modules_no_distribution_provides_are_unknown_with_the_reason(
    module: str, why: str
) -> None:
    """PyPI has namesakes (py3rosmsgs repackages ROS; `maya` is a date library): not the module."""
    from envlens.imports import lookup

    p = lookup(module)
    assert (p.distribution, p.source) == (None, "unknown")
    assert why in p.note


def test_from_a_namespace_import_names_the_module() -> None:
    refs = scan_imports("from google.cloud import storage, bigquery as bq\nfrom os import path\n")
    assert [r.module for r in refs] == ["google.cloud.storage", "google.cloud.bigquery", "os"]
    line = "from google.cloud import storage, bigquery as bq"
    assert line[refs[0].start : refs[0].end] == "google.cloud"


def test_the_environment_first_but_not_for_someone_else_s_namespace() -> None:
    from envlens.imports import lookup

    fork = lookup("cv2", {"cv2": ["opencv-python-headless"]})
    assert (fork.distribution, fork.source) == ("opencv-python-headless", "installed")
    # protobuf installed provides `google` too, not google.cloud.storage.
    assert lookup("google.cloud.storage", {"google": ["protobuf"]}).distribution == (
        "google-cloud-storage"
    )
    both = {"google": ["protobuf", "google-cloud-storage"]}
    assert lookup("google.cloud.storage", both).source == "installed"


def test_undeclared_knows_every_provider_of_a_module() -> None:
    from envlens.imports import undeclared

    mods = ["cv2", "sklearn.svm", "kaggle_secrets", "numpy"]
    missing = undeclared(mods, {"opencv-python-headless", "numpy"})
    assert sorted(missing) == ["kaggle_secrets", "sklearn.svm"]
    assert missing["sklearn.svm"].distribution == "scikit-learn"
    assert missing["kaggle_secrets"].source == "unknown"
