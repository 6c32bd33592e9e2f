import { test } from "node:test";
import assert from "node:assert/strict";
import { environmentInfo } from "../../src/core/pythonEnvsApi";

test("an envlens environment as the Python Environments extension lists it: the kernel's interpreter", () => {
  const info = environmentInfo(
    { key: "0123456789abcdef", envPath: "/c/envs/0123456789abcdef", pythonVersion: "3.13.1", label: "envlens: numpy (Python 3.13)", source: "PEP 723 block of analysis.py" },
    (p) => `file://${p}`,
  );
  assert.equal(info.execInfo.run.executable, "/c/envs/0123456789abcdef/bin/python");
  assert.equal(info.environmentPath, "file:///c/envs/0123456789abcdef/bin/python");
  assert.equal(info.sysPrefix, "/c/envs/0123456789abcdef");
  assert.equal(info.version, "3.13.1");
  assert.equal(info.name, "envlens-0123456789abcdef");
  assert.equal(info.displayName, "envlens: numpy (Python 3.13)");
  assert.equal(info.shortDisplayName, "numpy (Python 3.13)");
});
