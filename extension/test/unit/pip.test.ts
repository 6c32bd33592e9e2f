import { test } from "node:test";
import assert from "node:assert/strict";
import { hasPipInstall, pipReport } from "../../src/core/pip";

test("pip install lines are spotted in their usual spellings, not in strings or comments", () => {
  for (const code of ["%pip install pandas", "!pip install -q tqdm", "x = 1\n  !pip3 install a b", "!python -m pip install x", "%uv pip install x", "!{sys.executable} -m pip install x"]) {
    assert.ok(hasPipInstall(code), code);
  }
  for (const code of ["print('pip install x')", "# %pip install x", "!pip list", "import pip"]) assert.ok(!hasPipInstall(code), code);
});

test("the cell says what was declared and whether the kernel has it", () => {
  const pip = { requirements: ["tinyimg"], problems: [], remaining: "", lines: ["%pip install tinyimg"] };
  assert.equal(
    pipReport("study.ipynb", pip, "added"),
    "envlens: tinyimg is now declared in study.ipynb and installed in its environment; the running kernel can import it (no restart, nothing installed with pip).\n",
  );
  assert.match(pipReport("study.ipynb", pip, "kept"), /cannot take it without a restart: use envlens: Restart Kernel\.\n$/);
  assert.match(pipReport("study.ipynb", pip, "restarted"), /the kernel restarted into the new environment/);
  const bad = { requirements: [], problems: ["'-r req.txt' installs from a file or folder, which a declaration cannot hold"], remaining: "", lines: [] };
  assert.equal(
    pipReport("a.ipynb", bad, "none"),
    "envlens: not installed: '-r req.txt' installs from a file or folder, which a declaration cannot hold. Add it with envlens: Add Package... or Import requirements.txt or environment.yml...\n",
  );
});
