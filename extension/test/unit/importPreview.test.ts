import { test } from "node:test";
import assert from "node:assert/strict";
import {
  exportRequirementsTxt,
  importEdits,
  importPreview,
  parseEnvironmentYml,
  parseRequirementsFile,
  parseRequirementsTxt,
} from "../../src/core/importPreview";

test("requirements.txt: comments, options, includes and continuations", () => {
  const text = [
    "# data stack",
    "numpy >= 1.26  # arrays",
    "pandas==2.2.*",
    "-r other.txt",
    "--index-url https://example.invalid/simple",
    "-e ./local",
    "requests \\",
    "  [socks] ; python_version > '3.9'",
    "",
  ].join("\n");
  const parsed = parseRequirementsTxt(text);
  assert.deepEqual(parsed.requirements, ["numpy>=1.26", "pandas==2.2.*", "requests [socks]; python_version>'3.9'"]);
  assert.deepEqual(parsed.skipped, ["-r other.txt", "--index-url https://example.invalid/simple", "-e ./local"]);
});

test("environment.yml: the pip part is imported, conda packages are listed as skipped", () => {
  const yml = [
    "name: analysis",
    "channels:",
    "  - conda-forge",
    "dependencies:",
    "  - python=3.11",
    "  - numpy",
    "  - pip",
    "  - pip:",
    "      - rich>=13   # pretty",
    "      - 'httpx'",
    "      - -r extra.txt",
    "variables:",
    "  A: 1",
  ].join("\n");
  const parsed = parseEnvironmentYml(yml);
  assert.deepEqual(parsed.requirements, ["rich>=13", "httpx"]);
  assert.deepEqual(parsed.skipped, ["conda: python=3.11", "conda: numpy", "conda: pip", "-r extra.txt"]);
  assert.deepEqual(parseRequirementsFile("environment.yaml", yml).requirements, ["rich>=13", "httpx"]);
  assert.deepEqual(parseEnvironmentYml("name: x\n").requirements, []);
});

test("the preview lists additions, removals, changed and unchanged entries by canonical name", () => {
  const p = importPreview(["numpy>=1.26", "Pandas", "rich"], ["numpy >= 1.26", "pandas==2.2.*", "httpx"]);
  assert.deepEqual(p.additions, ["httpx"]);
  assert.deepEqual(p.removals, ["rich"]);
  assert.deepEqual(p.changed, [["Pandas", "pandas==2.2.*"]]);
  assert.deepEqual(p.unchanged, ["numpy>=1.26"]);
});

test("applying only the chosen parts of a preview", () => {
  const p = importPreview(["numpy", "rich", "pandas"], ["numpy", "httpx", "pandas>=2"]);
  assert.deepEqual(importEdits(p, { additions: ["httpx"], removals: [], changed: ["pandas>=2"] }), {
    remove: ["pandas"],
    add: ["httpx", "pandas>=2"],
  });
  assert.deepEqual(importEdits(p, { additions: [], removals: ["rich"], changed: [] }), { remove: ["rich"], add: [] });
});

test("export writes the declared requirements, or the installed pins", () => {
  assert.equal(exportRequirementsTxt("a.ipynb", ["numpy>=1", "rich"]), "# Exported by envlens from a.ipynb\nnumpy>=1\nrich\n");
  const pinned = exportRequirementsTxt("a.ipynb", ["numpy>=1"], [
    { name: "numpy", version: "2.1.0" },
    { name: "ipykernel", version: "6.29.5" },
  ]);
  assert.equal(pinned, "# Exported by envlens from a.ipynb\n# Pinned to the versions installed in the environment\nnumpy==2.1.0\n");
});
