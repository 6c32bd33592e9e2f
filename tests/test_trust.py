"""Trust: signatures over the declaration, tampering, the machine key, the trust store, typo flags."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from envlens import trust
from envlens.edit import apply_edit, plan_edit
from envlens.errors import UntrustedError
from envlens.resolve import resolve


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "config"
    monkeypatch.setenv("ENVLENS_CONFIG_DIR", str(d))
    monkeypatch.delenv("ENVLENS_TRUST", raising=False)
    monkeypatch.delenv("ENVLENS_PYTHON", raising=False)
    return d


def code(src: str, cid: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cid,
        "metadata": {},
        "outputs": [],
        "source": src.splitlines(keepends=True),
    }


DECL = '# /// script\n# requires-python = ">=3.10"\n# dependencies = [\n#     "numpy>=1.20",\n#     "pandas",\n# ]\n# ///'


def make_notebook(folder: Path, decl: str = DECL, name: str = "nb.ipynb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".git").mkdir(exist_ok=True)  # stop the project-file walk here
    nb = {
        "cells": [code(decl, "c1"), code("import numpy\nprint(numpy.pi)", "c2")],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    p = folder / name
    p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return p


def make_script(folder: Path, deps: str = '"requests"') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".git").mkdir(exist_ok=True)
    p = folder / "job.py"
    p.write_text(
        f"# /// script\n# dependencies = [{deps}]\n# ///\n\n# %%\nimport requests\n",
        encoding="utf-8",
    )
    return p


def edit_json(path: Path, fn: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    fn(data)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# --- key ---


def test_key_created_on_first_use_private(config_dir: Path) -> None:
    key = trust.machine_key()
    path = config_dir / "trust.key"
    assert len(key) == 32
    assert path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert trust.machine_key() == key  # stable


def test_key_creation_races_agree(config_dir: Path) -> None:
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(trust.machine_key())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1
    assert [p.name for p in config_dir.iterdir()] == ["trust.key"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_with_group_or_other_permissions_is_refused(config_dir: Path, mode: int) -> None:
    trust.machine_key()
    path = config_dir / "trust.key"
    os.chmod(path, mode)
    before = path.read_bytes()
    with pytest.raises(trust.TrustKeyError) as exc:
        trust.machine_key()
    assert f"chmod 600 {path}" in exc.value.one_line()
    assert str(path) in exc.value.one_line()
    assert path.read_bytes() == before  # nothing changed


def test_key_of_wrong_size_is_refused(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    path = config_dir / "trust.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"short")
    os.close(fd)
    with pytest.raises(trust.TrustKeyError, match="5 bytes"):
        trust.machine_key()


# --- notebooks ---


def test_unapproved_notebook_is_untrusted_and_lists_packages(tmp_path: Path) -> None:
    p = make_notebook(tmp_path / "w")
    state = trust.trust_state(resolve(p))
    assert not state.trusted
    assert state.status == "unsigned"
    assert state.packages == ["numpy>=1.20", "pandas"]
    assert {(f.package, f.kind) for f in state.flags} == {("numpy", "new"), ("pandas", "new")}


def test_approve_signs_notebook_and_keeps_rest_byte_identical(tmp_path: Path) -> None:
    p = make_notebook(tmp_path / "w")
    before = p.read_text(encoding="utf-8")
    state = trust.approve(resolve(p))
    assert state.trusted and state.status in ("signed", "approved")
    after = p.read_text(encoding="utf-8")
    data = json.loads(after)
    sig = data["metadata"]["envlens"]["trust"]
    assert sig.startswith("hmac-sha256:") and len(sig) == len("hmac-sha256:") + 64
    # Removing the signature gives back the original bytes.
    del data["metadata"]["envlens"]
    assert json.dumps(data, indent=1, ensure_ascii=False) + "\n" == before
    # Signed in the file: trusted even without the local store.
    (tmp_path / "config" / "trusted.json").unlink()
    assert trust.trust_state(resolve(p)).status == "signed"
    # Approved packages are no longer "new".
    assert trust.trust_state(resolve(p)).flags == []


def test_editing_a_code_cell_keeps_notebook_trusted(tmp_path: Path) -> None:
    p = make_notebook(tmp_path / "w")
    trust.approve(resolve(p))
    edit_json(p, lambda d: d["cells"][1].update(source=["print('changed code')\n"]))
    edit_json(p, lambda d: d["cells"].append(code("x = 1", "c3")))
    assert trust.trust_state(resolve(p)).trusted


INDEX_DECL = DECL.replace(
    "# ]\n# ///", '# ]\n# [tool.uv]\n# index-url = "https://evil.example/simple"\n# ///'
)


@pytest.mark.parametrize(
    ("what", "new_decl"),
    [
        ("added package", DECL.replace('"pandas",', '"pandas",\n#     "reqeusts",')),
        ("edited version", DECL.replace("numpy>=1.20", "numpy==1.19")),
        ("requires-python", DECL.replace(">=3.10", ">=3.8")),
        ("index", INDEX_DECL),
    ],
)
def test_changed_declaration_is_untrusted(tmp_path: Path, what: str, new_decl: str) -> None:
    p = make_notebook(tmp_path / "w")
    trust.approve(resolve(p))
    edit_json(p, lambda d: d["cells"][0].update(source=new_decl.splitlines(keepends=True)))
    state = trust.trust_state(resolve(p))
    assert not state.trusted, what
    assert state.status == "changed"
    with pytest.raises(UntrustedError) as exc:
        trust.require_trusted(resolve(p))
    assert exc.value.exit_code == 3
    assert "envlens trust" in exc.value.one_line()


def test_swapped_lock_is_untrusted(tmp_path: Path) -> None:
    p = make_notebook(tmp_path / "w")
    edit_json(p, lambda d: d["metadata"].update({"uv.lock": "version = 1\n# lock A\n"}))
    trust.approve(resolve(p))
    assert trust.trust_state(resolve(p)).trusted
    edit_json(p, lambda d: d["metadata"].update({"uv.lock": "version = 1\n# lock B\n"}))
    assert not trust.trust_state(resolve(p)).trusted


def test_signature_from_another_machine_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Machine A signs; the notebook travels to machine B (another config folder, another key).
    monkeypatch.setenv("ENVLENS_CONFIG_DIR", str(tmp_path / "machine-a"))
    p = make_notebook(tmp_path / "w")
    assert trust.approve(resolve(p)).trusted
    foreign_sig = json.loads(p.read_text())["metadata"]["envlens"]["trust"]
    monkeypatch.setenv("ENVLENS_CONFIG_DIR", str(tmp_path / "machine-b"))
    state = trust.trust_state(resolve(p))
    assert not state.trusted
    assert "another machine" in state.reason
    # Copying that signature into another notebook with the same declaration does not help either.
    q = make_notebook(tmp_path / "w2")
    edit_json(q, lambda d: d["metadata"].update({"envlens": {"trust": foreign_sig}}))
    assert not trust.trust_state(resolve(q)).trusted
    # B approves: re-signed with B's key, and A no longer recognises it.
    trust.approve(resolve(p))
    assert json.loads(p.read_text())["metadata"]["envlens"]["trust"] != foreign_sig
    assert trust.trust_state(resolve(p)).trusted


def test_approval_resigns_after_change(tmp_path: Path) -> None:
    p = make_notebook(tmp_path / "w")
    trust.approve(resolve(p))
    old = json.loads(p.read_text())["metadata"]["envlens"]["trust"]
    edit_json(
        p, lambda d: d["cells"][0].update(source=DECL.replace("pandas", "polars").splitlines(True))
    )
    assert not trust.trust_state(resolve(p)).trusted
    trust.approve(resolve(p))
    new = json.loads(p.read_text())["metadata"]["envlens"]["trust"]
    assert new != old
    assert trust.trust_state(resolve(p)).trusted


def test_nothing_declared_is_trusted(tmp_path: Path) -> None:
    p = make_notebook(tmp_path / "w", decl="print('hello')")
    state = trust.trust_state(resolve(p))
    assert state.trusted and state.status == "nothing-declared" and state.packages == []
    trust.require_trusted(resolve(p))


def test_project_file_is_trusted(tmp_path: Path) -> None:
    w = tmp_path / "w"
    p = make_notebook(w, decl="import numpy")
    (w / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "0"\ndependencies = ["numpy"]\n'
    )
    state = trust.trust_state(resolve(p))
    assert state.trusted and state.status == "project"
    assert state.packages == ["numpy"]


def test_envlens_edits_keep_a_trusted_notebook_trusted(tmp_path: Path) -> None:
    p = make_notebook(tmp_path / "w")
    trust.approve(resolve(p))
    before = resolve(p)
    apply_edit(plan_edit(p, add=["scipy"]))
    assert not trust.trust_state(resolve(p)).trusted  # the edit alone breaks the signature
    assert trust.resign_if_trusted(before, p)
    assert trust.trust_state(resolve(p)).trusted
    # A file that was untrusted before the edit stays untrusted.
    q = make_notebook(tmp_path / "w2")
    before_q = resolve(q)
    apply_edit(plan_edit(q, add=["scipy"]))
    assert not trust.resign_if_trusted(before_q, q)
    assert not trust.trust_state(resolve(q)).trusted


def test_first_declaration_added_by_envlens_is_trusted(tmp_path: Path) -> None:
    p = make_notebook(tmp_path / "w", decl="import numpy")
    before = resolve(p)
    apply_edit(plan_edit(p, add=["numpy"]))
    assert trust.resign_if_trusted(before, p)
    assert trust.trust_state(resolve(p)).trusted


def test_sign_notebook_text_for_editor_buffers(tmp_path: Path) -> None:
    p = make_notebook(tmp_path / "w")
    text = p.read_text(encoding="utf-8")
    signed = trust.sign_notebook_text(text, p)
    assert signed != text
    assert p.read_text(encoding="utf-8") == text  # nothing written
    p.write_text(signed, encoding="utf-8")
    assert trust.trust_state(resolve(p)).status == "signed"


def test_notebook_with_unusual_layout_is_approved_without_touching_it(tmp_path: Path) -> None:
    p = make_notebook(tmp_path / "w")
    text = p.read_text(encoding="utf-8").replace(
        '"cells": [', '"cells":  [', 1
    )  # not json.dumps' style
    p.write_text(text, encoding="utf-8")
    state = trust.approve(resolve(p))
    assert state.trusted and state.status == "approved"
    assert p.read_text(encoding="utf-8") == text


# --- scripts ---


def test_script_approval_recorded_without_touching_file(tmp_path: Path, config_dir: Path) -> None:
    p = make_script(tmp_path / "w")
    text = p.read_bytes()
    assert not trust.trust_state(resolve(p)).trusted
    assert trust.approve(resolve(p)).status == "approved"
    assert p.read_bytes() == text
    store = json.loads((config_dir / "trusted.json").read_text())
    assert str(p.resolve()) in store["files"]
    # The lock beside the script counts too.
    (p.parent / "job.py.lock").write_text("version = 1\n")
    assert not trust.trust_state(resolve(p)).trusted
    trust.approve(resolve(p))
    (p.parent / "job.py.lock").write_text("version = 1\n# swapped\n")
    assert not trust.trust_state(resolve(p)).trusted


def test_script_approval_is_per_path(tmp_path: Path) -> None:
    a = make_script(tmp_path / "a")
    b = make_script(tmp_path / "b")
    trust.approve(resolve(a))
    assert trust.trust_state(resolve(a)).trusted
    assert not trust.trust_state(resolve(b)).trusted


def test_batch_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    p = make_script(tmp_path / "w")
    assert not trust.batch_override(False)
    assert trust.batch_override(True)
    monkeypatch.setenv("ENVLENS_TRUST", "1")
    assert trust.batch_override(False)
    state = trust.require_trusted(resolve(p), override=trust.batch_override())
    assert not state.trusted  # allowed through, still reported as untrusted


# --- flags ---

TYPOS = {
    "reqeusts": "requests",
    "numpyy": "numpy",
    "pandsa": "pandas",
    "scikit-lean": "scikit-learn",
    "matplotlip": "matplotlib",
    "request": "requests",
    "tenserflow": "tensorflow",
    "djnago": "django",
    "python-dateutils": "python-dateutil",
    "urlib3": "urllib3",
    "seabron": "seaborn",
    "colourama": "colorama",
}

REAL = [
    "requests", "numpy", "pandas", "scikit-learn", "matplotlib", "scipy", "torch", "polars",
    "httpx", "jax", "xarray", "dask", "numba", "altair", "bokeh", "scikit-image", "lightgbm",
    "catboost", "biopython", "astropy", "nltk", "spacy", "keras", "mlflow", "optuna", "zarr",
    "h5py", "geopandas", "shapely", "statsmodels", "seaborn", "plotly", "tabulate", "rich",
]  # fmt: skip


@pytest.mark.parametrize(("name", "popular"), sorted(TYPOS.items()))
def test_typo_flags(name: str, popular: str) -> None:
    assert trust.typo_of(name) == popular
    flags = trust.package_flags([name], allowed=set())
    assert any(f.kind == "typo" and popular in f.detail for f in flags)


def test_real_names_are_not_flagged_as_typos() -> None:
    assert {n: trust.typo_of(n) for n in REAL if trust.typo_of(n)} == {}


@pytest.mark.parametrize(
    "name", ["gdal", "adal", "beautifulsoup", "trino", "trio", "jwt", "pyjwt", "earthpy"]
)
def test_a_real_distribution_is_never_questioned(name: str) -> None:
    """gdal is not a typo of adal: both are real, popular distributions (issue 12)."""
    assert trust.typo_of(name) is None
    assert trust.question(name, allowed=set()) is None


def test_names_not_on_pypi_are_questioned_until_approved_once() -> None:
    flag = trust.question("mylab-private-utils", allowed=set())
    assert flag is not None and flag.kind == "unknown" and "PyPI" in flag.detail
    assert trust.question("mylab-private-utils", allowed={"mylab-private-utils"}) is None


def test_typo_flag_in_trust_state(tmp_path: Path) -> None:
    p = make_notebook(tmp_path / "w", decl=DECL.replace("pandas", "pandsa"))
    flags = trust.trust_state(resolve(p)).flags
    [typo] = [f for f in flags if f.kind == "typo"]
    assert typo.package == "pandsa" and typo.detail.startswith("did you mean pandas?")
    with pytest.raises(UntrustedError, match="pandsa: did you mean pandas"):
        trust.require_trusted(resolve(p))


def test_direct_url_and_index_are_flagged(tmp_path: Path) -> None:
    decl = DECL.replace('"pandas",', '"pkg @ https://example.org/pkg-1.0-py3-none-any.whl",')
    p = make_notebook(tmp_path / "w", decl=decl)
    flags = trust.trust_state(resolve(p)).flags
    assert any(f.kind == "source" and f.package == "pkg" for f in flags)


def test_allowlist_grows_with_approvals(tmp_path: Path, config_dir: Path) -> None:
    p = make_notebook(tmp_path / "w")
    trust.approve(resolve(p))
    assert trust.allowlist() == {"numpy", "pandas"}
    data = json.loads((config_dir / "allowlist.json").read_text())
    assert data["packages"] == ["numpy", "pandas"]
    q = make_script(tmp_path / "s", deps='"numpy", "reqeusts"')
    flags = trust.trust_state(resolve(q)).flags
    assert {(f.package, f.kind) for f in flags} == {("reqeusts", "new"), ("reqeusts", "typo")}


def test_damerau_levenshtein() -> None:
    assert trust.damerau_levenshtein("pandsa", "pandas", 2) == 1
    assert trust.damerau_levenshtein("numpyy", "numpy", 2) == 1
    assert trust.damerau_levenshtein("abc", "abc", 2) == 0
    assert trust.damerau_levenshtein("kitten", "sitting", 5) == 3
    assert trust.damerau_levenshtein("abcdef", "uvwxyz", 2) == 3  # capped at limit + 1
