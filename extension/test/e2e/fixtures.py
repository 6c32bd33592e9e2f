"""Files and an offline package index for the extension's end-to-end test.

Prints JSON: {"wheelhouse", "tinyIndex", "emptyIndex"}. Reuses the Python tests' fixtures
(tests/conftest.py): the ipykernel wheelhouse (downloaded once per machine) and tiny wheels.
Run with the dev venv's Python: `.venv/bin/python extension/test/e2e/fixtures.py <work dir>`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests"))
import conftest  # noqa: E402

work = Path(sys.argv[1])
tiny = work / "tiny-index"
tiny.mkdir(parents=True, exist_ok=True)
conftest.make_wheel(tiny, "tinyalpha", "1.0", {"tinyalpha": "__version__ = '1.0'\n"})
conftest.make_wheel(tiny, "tinybeta", "1.0", {"tinybeta": "__version__ = '1.0'\n"})
conftest.make_wheel(tiny, "tinyimg", "1.0", {"timg": "__version__ = '1.0'\n"})
empty = work / "empty-index"
empty.mkdir(exist_ok=True)
print(json.dumps({"wheelhouse": str(conftest.ensure_wheelhouse()), "tinyIndex": str(tiny), "emptyIndex": empty.as_uri()}))
