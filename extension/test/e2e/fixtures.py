"""Files and an offline package index for the extension's end-to-end test.

Prints JSON: {"wheelhouse", "tinyIndex", "emptyIndex", "foreign": {"path", "envDir", "signature"}}.
Reuses the Python tests' fixtures (tests/conftest.py): the ipykernel wheelhouse (downloaded once
per machine) and tiny wheels. Run with the dev venv's Python:
`.venv/bin/python extension/test/e2e/fixtures.py <work dir>` (the harness's CodeServer.work: its
workspace/ and envlens-cache/ folders are used).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
import conftest

work = Path(sys.argv[1])
tiny = work / "tiny-index"
tiny.mkdir(parents=True, exist_ok=True)
conftest.make_wheel(tiny, "tinyalpha", "1.0", {"tinyalpha": "__version__ = '1.0'\n"})
conftest.make_wheel(tiny, "tinybeta", "1.0", {"tinybeta": "__version__ = '1.0'\n"})
conftest.make_wheel(tiny, "tinyimg", "1.0", {"timg": "__version__ = '1.0'\n"})
# Two versions: changing the pin cannot reach a running kernel in place (the restart question).
conftest.make_wheel(tiny, "tinydelta", "1.0", {"tinydelta": "__version__ = '1.0'\n"})
conftest.make_wheel(tiny, "tinydelta", "2.0", {"tinydelta": "__version__ = '2.0'\n"})
# A look-alike of a popular name ("requests"): the trust dialog must flag it.
conftest.make_wheel(tiny, "reqeusts", "1.0", {"reqeusts": "__version__ = '1.0'\n"})


def platform_wheel(folder: Path, name: str, version: str, tag: str) -> Path:
    """A wheel installable on one platform only (no sdist): Check Portability fails elsewhere."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"__version__ = '{version}'\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: envlens-tests\nRoot-Is-Purelib: false\nTag: {tag}\n",
    }
    record = [conftest._record_line(n, t.encode()) for n, t in files.items()] + [f"{info}/RECORD,,"]
    path = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, text in [*files.items(), (f"{info}/RECORD", "\n".join(record) + "\n")]:
            zf.writestr(zipfile.ZipInfo(n, conftest._ZIP_DATE), text)
    return path


platform_wheel(tiny, "tinyplat", "1.0", "py3-none-manylinux_2_17_x86_64")
empty = work / "empty-index"
empty.mkdir(exist_ok=True)


def code_cell(source: str) -> dict[str, object]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": source.splitlines(keepends=True),
    }


def foreign_notebook(path: Path) -> dict[str, str]:
    """A notebook signed on "another machine": a different ENVLENS_CONFIG_DIR holds another key."""
    nb = {
        "cells": [
            code_cell(
                '# /// script\n# requires-python = ">=3.10"\n'
                '# dependencies = ["tinyalpha", "reqeusts"]\n# ///\n'
                "import reqeusts\n"
                'print("reqeusts", reqeusts.__version__)'
            ),
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    os.environ["ENVLENS_CONFIG_DIR"] = str(work / "other-machine-config")
    os.environ["ENVLENS_CACHE_DIR"] = str(work / "envlens-cache")  # the harness's: envDir matches
    from envlens import trust
    from envlens.resolve import resolve

    res = resolve(path)
    signature = trust.sign(res)
    nb["metadata"]["envlens"] = {"trust": signature}  # type: ignore[index]
    path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    assert trust.trust_state(resolve(path)).status == "signed"  # valid there, foreign here
    return {"path": str(path), "envDir": str(res.env_dir), "signature": signature}


# The real widget libraries from PyPI (the widget tests need the real thing): downloaded once per
# machine into the dev cache, then installed offline like the tiny wheels.
WIDGET_PACKAGES = ("ipywidgets", "tqdm", "anywidget")


def widget_wheels() -> Path:
    target = conftest.DEV_CACHE / f"widget-wheels-{'-'.join(WIDGET_PACKAGES)}"
    done = target / ".complete"
    if done.exists():
        return target
    conftest.DEV_CACHE.mkdir(parents=True, exist_ok=True)
    with conftest.FileLock(str(target) + ".lock"):
        if done.exists():
            return target
        target.mkdir(exist_ok=True)
        for version in conftest.WHEELHOUSE_PYTHONS:
            proc = subprocess.run(
                [conftest._uv(), "tool", "run", "--from", "pip", "pip", "download", "--quiet",
                 "--disable-pip-version-check", "--only-binary=:all:", "--python-version", version,
                 "--dest", str(target), *WIDGET_PACKAGES],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise RuntimeError(
                    f"downloading {WIDGET_PACKAGES} failed:\n{proc.stdout}{proc.stderr}"
                )
        done.write_text("ok\n")
    return target


foreign = foreign_notebook(work / "workspace" / "foreign.ipynb")
print(
    json.dumps(
        {
            "wheelhouse": str(conftest.ensure_wheelhouse()),
            "tinyIndex": str(tiny),
            "widgetWheels": str(widget_wheels()) if "--widgets" in sys.argv else None,
            "emptyIndex": empty.as_uri(),
            "foreign": foreign,
        }
    )
)
