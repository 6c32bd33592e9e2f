import { test } from "node:test";
import assert from "node:assert/strict";
import { declarationLine, RESTRICTED_LENS, restrictedNotice } from "../../src/core/restricted";

test("the restricted notice names the file and what to do", () => {
  const m = restrictedNotice("study.ipynb");
  assert.match(m, /Restricted Mode: envlens builds no environment for study\.ipynb and runs none of its cells/);
  assert.match(m, /Trust the folder/);
  assert.match(RESTRICTED_LENS, /installs and runs nothing/);
});

test("the restricted lens goes on the PEP 723 opener, and nowhere without one", () => {
  assert.equal(declarationLine('import os\n# /// script\n# dependencies = ["x"]\n# ///\n'), 1);
  assert.equal(declarationLine("# %%\nprint(1)\n"), -1);
  assert.equal(declarationLine("#/// script\n"), -1);
});
