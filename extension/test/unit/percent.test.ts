import { test } from "node:test";
import assert from "node:assert/strict";
import { cellAtLine, isPercentScript, percentCells } from "../../src/core/percent";

const script = [
  "# /// script",
  "# dependencies = [\"rich\"]",
  "# ///",
  "import os",
  "",
  "# %% Load",
  "x = 1",
  "",
  "# %% [markdown]",
  "# Some text",
  "# %%",
  "print(x)",
].join("\n");

test("cells of a percent script, the PEP 723 block left out of the first one", () => {
  const cells = percentCells(script);
  assert.equal(isPercentScript(script), true);
  assert.deepEqual(
    cells.map((c) => [c.startLine, c.endLine, c.kind, c.title, c.code]),
    [
      [0, 4, "code", "", "import os"],
      [5, 7, "code", "Load", "x = 1"],
      [8, 9, "markdown", "", "# Some text"],
      [10, 11, "code", "", "print(x)"],
    ],
  );
  assert.equal(cellAtLine(cells, 6)?.title, "Load");
  assert.equal(cellAtLine(cells, 11)?.code, "print(x)");
});

test("a header of only the PEP 723 block is not a cell", () => {
  const cells = percentCells("# /// script\n# dependencies = []\n# ///\n\n# %%\n1+1\n");
  assert.deepEqual(cells.map((c) => c.code), ["1+1"]);
  assert.equal(isPercentScript("print(1)\n"), false);
});
