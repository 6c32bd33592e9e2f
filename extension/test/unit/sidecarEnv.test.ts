import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { candidatePythons, compareVersions, findPython, readManifest, SidecarSetupError } from "../../src/core/sidecarEnv";

test("finds a real Python >= 3.10 on this machine, the newest supported one", async () => {
  const lines: string[] = [];
  const py = await findPython(["3.10", "3.11", "3.12", "3.13"], (l) => lines.push(l));
  assert.match(py.version, /^3\.1[0-3]\.\d+$/);
  assert.ok(fs.existsSync(py.path));
  assert.match(lines.join("\n"), /Python interpreters found/);
});

test("no supported Python says what to do", async () => {
  await assert.rejects(findPython(["2.7"], () => undefined), (e: unknown) => {
    assert.ok(e instanceof SidecarSetupError);
    assert.match(e.message, /found none on this machine: install one .* or set envlens\.serverCommand/);
    return true;
  });
});

test("ENVLENS_SIDECAR_PYTHON picks the interpreter", () => {
  assert.deepEqual(candidatePythons({ ENVLENS_SIDECAR_PYTHON: "/x/python3" }), ["/x/python3"]);
  assert.ok(compareVersions("3.12.1", "3.9.9") > 0);
});

test("a missing wheelhouse is a clear error", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "envlens-wh-"));
  assert.throws(() => readManifest(dir), /has no wheelhouse .* reinstall the \.vsix, or set envlens\.serverCommand/);
});
