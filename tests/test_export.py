"""Export (requirements with hashes, pylock.toml, Apptainer) and import with a preview."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envlens.errors import BadInputError, LockError
from envlens.export import apptainer_definition, export
from envlens.importer import preview_import
from envlens.locking.versions import lock_file
from envlens.resolve import resolve

ENVLENS = [sys.executable, "-m", "envlens"]
UV = sys.executable.replace("python", "uv")


def envlens(*args: str) -> subprocess.CompletedProcess[str]:
    # Approval is tested in test_trust_cli and test_fidelity; exports of approved files here.
    return subprocess.run(
        [*ENVLENS, *args],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "ENVLENS_TRUST": "1"},
    )


@pytest.mark.pypi
def test_exports_from_the_lock(isolated_cache: Path, tmp_path: Path, write_script) -> None:
    script = write_script(tmp_path / "a.py", ["six"], requires_python=">=3.10")
    result = lock_file(script)
    six = result.versions["six"]
    res = resolve(script)

    reqs = export(res, "requirements")
    assert f"six=={six} \\\n    --hash=sha256:" in reqs
    assert reqs.startswith("# Pinned requirements with hashes of a.py, exported by envlens")

    pylock = export(res, "pylock")
    assert 'lock-version = "1.0"' in pylock and 'name = "six"' in pylock
    assert f'version = "{six}"' in pylock


def test_export_needs_a_fresh_lock(offline_index: Path, tmp_path: Path, write_script) -> None:
    script = write_script(tmp_path / "a.py", ["tinyalpha"])
    out = envlens("export", str(script), "--format", "requirements")
    assert out.returncode == 1
    assert "a.py has no lock" in out.stderr and "envlens lock a.py" in out.stderr
    lock_file(script)
    script.write_text(script.read_text().replace('"tinyalpha==2.0"', '"tinyalpha", "tinyimg"'))
    with pytest.raises(LockError, match="out of date: tinyimg"):
        export(resolve(script), "pylock")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "a.py.lock"]


def test_import_environment_yml_previews_then_applies(
    offline_index: Path, tmp_path: Path, write_script
) -> None:
    script = write_script(tmp_path / "a.py", ["tinyalpha", "tiny-gamma"])
    yml = tmp_path / "environment.yml"
    yml.write_text(
        "name: analysis\nchannels: [conda-forge]\ndependencies:\n"
        "  - python=3.11\n  - tinyalpha=1.0\n  - conda-forge::tinyimg\n  - gdal\n  - pip\n"
        "  - pip:\n    - tinybeta>=1\n"
    )
    preview = preview_import(script, yml)
    assert preview.added == ["tinybeta>=1", "tinyimg"]
    assert preview.changed == [("tinyalpha", "tinyalpha==1.0.*")]
    assert preview.removed == ["tiny-gamma"]
    assert preview.unchanged == []
    assert preview.skipped == [
        "python=3.11: provided by the environment itself, skipped",
        "pip: provided by the environment itself, skipped",
        "gdal: not on PyPI under that name, skipped",
    ]
    before = script.read_text()

    dry = envlens("import", str(script), str(yml), "--dry-run")
    assert dry.returncode == 0
    assert (
        "  + tinybeta>=1" in dry.stdout
        and "  ! gdal: not on PyPI under that name, skipped" in dry.stdout
    )
    assert script.read_text() == before

    no_tty = envlens("import", str(script), str(yml))
    assert no_tty.returncode == 0 and "run again with --yes" in no_tty.stderr
    assert "  - tiny-gamma" in no_tty.stdout
    assert script.read_text() == before

    yes = envlens("import", str(script), str(yml), "--yes")
    assert yes.returncode == 0, yes.stderr
    declared = resolve(script).declaration.requirements
    assert sorted(declared) == ["tinyalpha==1.0.*", "tinybeta>=1", "tinyimg"]


def test_import_requirements_txt(offline_index: Path, tmp_path: Path, write_script) -> None:
    script = write_script(tmp_path / "a.py", ["tinyalpha==2.0"])
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\ntinyalpha==2.0 \\\n    --hash=sha256:abc\n-e ./local\ntinyimg\n")
    preview = preview_import(script, req)
    assert preview.added == ["tinyimg"]
    assert preview.unchanged == ["tinyalpha==2.0"]
    assert preview.skipped == ["line 4: -e options are not imported, skipped"]
    bad = tmp_path / "bad.txt"
    bad.write_text("tinyalpha\nnot a requirement!!\n")
    with pytest.raises(BadInputError) as err:
        preview_import(script, bad)
    assert err.value.one_line().startswith(f"{bad}:2: invalid requirement")


# --- Apptainer: an image that runs the notebook ---------------------------------------------------

# The %files splitter of Apptainer (pkg/build/types/parser/deffile.go).
_FILES_SPLIT = re.compile(r"""([^\s"']*{{\s*\w+\s*}}*[^\s{}"']*)+|([^\s"']+|"([^"]*)"|'([^']*))""")


def sections(definition: str) -> tuple[dict[str, str], dict[str, str]]:
    """(header keywords, section bodies) as Apptainer's parser splits a definition."""
    header: dict[str, str] = {}
    body: dict[str, list[str]] = {}
    current: str | None = None
    for line in definition.splitlines():
        if line.startswith("%"):
            current = line[1:].split()[0]
            body[current] = []
        elif current is not None:
            body[current].append(line)
        elif ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            header[key.strip()] = value.strip()
    return header, {k: "\n".join(v) for k, v in body.items()}


def files_of(section: str) -> list[tuple[str, str]]:
    out = []
    for line in section.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            src, dst = (m.group(0).strip('"') for m in _FILES_SPLIT.finditer(line))
            out.append((src, dst))
    return out


def heredoc(section: str, marker: str) -> str:
    return section.split(f"<<'{marker}'\n")[1].split(f"{marker}\n")[0]


def notebook(path: Path, cells: list[str], kind: str = "code") -> Path:
    nb = {
        "cells": [
            {"cell_type": kind, "execution_count": None, "id": f"c{i}", "metadata": {},
             "outputs": [], "source": src}
            for i, src in enumerate(cells)
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }  # fmt: skip
    path.write_text(json.dumps(nb, indent=1))
    return path


def outputs_text(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "".join(
        "".join(o.get("text", "")) + json.dumps(o.get("data", {})) + o.get("evalue", "")
        for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]
    )  # fmt: skip


def test_apptainer_definition_structure_and_its_runner(
    isolated_cache: Path, tmp_path: Path
) -> None:
    """The definition's parts (checked as Apptainer's parser reads them) and its runscript's
    command path run here: the runner it carries executes the notebook with nbclient and writes
    the executed notebook, also when a cell fails (exit 1)."""
    folder = tmp_path / "my runs"
    folder.mkdir()
    nb = notebook(
        folder / "train v2.ipynb", ["import sys\nprint('prefix', sys.prefix)", "x = 6 * 7\nx"]
    )
    res = resolve(nb)
    reqs = "six==1.17.0 \\\n    --hash=sha256:abc\n"
    text = apptainer_definition(res, reqs, python="3.12", uv_version="0.9.1",
                                definition=folder / "train v2.def")  # fmt: skip
    header, part = sections(text)
    assert header == {"Bootstrap": "docker", "From": "python:3.12-slim"}
    assert files_of(part["files"]) == [("train v2.ipynb", "/opt/envlens/train_v2.ipynb")]
    assert heredoc(part["post"], "ENVLENS_REQUIREMENTS") == reqs
    runner = heredoc(part["post"], "ENVLENS_RUNNER")
    assert '"uv==0.9.1"' in part["post"] and "--require-hashes" in part["post"]
    assert "run.py /opt/envlens/train_v2.ipynb 'train v2.out.ipynb' \"$@\"" in part["runscript"]
    assert "import nbclient, ipykernel" in part["test"]

    # The runscript's command, here: this .venv has ipykernel, nbclient and jupytext, as the image.
    (tmp_path / "run.py").write_text(runner)
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.txt").write_text("beside you\n")
    nb2 = notebook(
        tmp_path / "nb.ipynb", ["print(open('data.txt').read())", "1 / 0", "print('never')"]
    )
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "run.py"), str(nb2), "nb.out.ipynb"],
        cwd=work, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "a cell failed: ZeroDivisionError: division by zero" in proc.stderr
    done = outputs_text(work / "nb.out.ipynb")
    assert "beside you" in done and "division by zero" in done and "never" not in done
    script = tmp_path / "sweep.py"
    script.write_text(
        '# %% tags=["parameters"]\nalpha = 2\n\n# %%\n%time y = alpha * 21\nprint("y", y)\n'
    )
    ok = subprocess.run(
        [sys.executable, str(tmp_path / "run.py"), str(script), "sweep.out.ipynb", "mine.ipynb"],
        cwd=work, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "y 42" in outputs_text(work / "mine.ipynb")
    assert not (work / "sweep.out.ipynb").exists()


@pytest.mark.parametrize("name", ["a$(touch PWNED).ipynb", "a'b.ipynb", "a\nb.ipynb", "*.ipynb"])
def test_apptainer_refuses_a_name_it_cannot_copy(
    isolated_cache: Path, tmp_path: Path, name: str
) -> None:
    nb = notebook(tmp_path / name, ["1"])
    with pytest.raises(BadInputError, match="Apptainer's %files cannot name"):
        apptainer_definition(resolve(nb), "", python="3.12", uv_version=None,
                             definition=tmp_path / "x.def")  # fmt: skip
    assert not list(tmp_path.glob("PWNED*"))


@pytest.mark.pypi
def test_apptainer_image_runs_the_notebook(isolated_cache: Path, tmp_path: Path) -> None:
    """The whole definition, built as Apptainer would (no apptainer here): %files copied, %post run
    with /opt/envlens under a temporary root and a fresh Python as the image's, then the runscript
    run from another folder. The notebook runs in the image's locked environment."""
    nb = notebook(
        tmp_path / "train.ipynb",
        ['# /// script\n# requires-python = ">=3.10"\n# dependencies = ["six"]\n# ///',
         "import six, sys\nprint('six', six.__version__, 'in', sys.prefix)"],
    )  # fmt: skip
    six = lock_file(nb).versions["six"]
    out = envlens("export", str(nb), "--format", "apptainer")
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "train.def").read_text()
    header, part = sections(text)
    body = heredoc(part["post"], "ENVLENS_REQUIREMENTS")
    assert f"six=={six} \\\n    --hash=sha256:" in body
    for name in ("ipykernel", "nbclient"):  # the runner's packages, locked and hashed too
        assert f"\n{name}==" in body
    entries = [e for e in body.split("\n") if e and not e.startswith(" ")]
    assert all(e.endswith("\\") for e in entries), entries

    root = tmp_path / "root"
    for src, dst in files_of(part["files"]):
        target = root / dst.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / src, target)
    base = tmp_path / "base"  # the image's Python (python:3.x-slim has python and pip)
    python = header["From"].removeprefix("python:").removesuffix("-slim")
    from envlens.envs.interpreters import find_interpreter
    from envlens.envs.uv import find_uv

    interpreter = find_interpreter(f"=={python}.*", uv=find_uv())  # the one the export chose
    made = subprocess.run(
        [
            UV,
            "venv",
            "--seed",
            "--no-python-downloads",
            "--python",
            str(interpreter.path),
            str(base),
        ],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    env = {**os.environ, "PATH": f"{base / 'bin'}:{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    opt = str(root / "opt" / "envlens")
    post = subprocess.run(["bash", "-c", part["post"].replace("/opt/envlens", opt)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert post.returncode == 0, post.stderr[-3000:]
    work = tmp_path / "work"
    work.mkdir()
    runscript = part["environment"] + "\n" + part["runscript"]
    ran = subprocess.run(["sh", "-c", runscript.replace("/opt/envlens", opt), "runscript"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert f"six {six} in {opt}/env" in outputs_text(work / "train.out.ipynb")
