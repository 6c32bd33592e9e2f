import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_SETTINGS, serverSettings, validateSettings } from "../../src/core/settings";

const from = (o: Record<string, unknown>) => validateSettings((k) => o[k]);

test("defaults when nothing is set", () => {
  assert.deepEqual(from({}), { settings: DEFAULT_SETTINGS, problems: [] });
});

test("valid values are kept", () => {
  const { settings, problems } = from({ uvPath: "/opt/uv", defaultPython: "3.12", newNotebookDeclaration: "metadata", serverCommand: ["/v/bin/envlens", "serve"] });
  assert.deepEqual(problems, []);
  assert.deepEqual(settings, { uvPath: "/opt/uv", defaultPython: "3.12", newNotebookDeclaration: "metadata", serverCommand: ["/v/bin/envlens", "serve"] });
  assert.deepEqual(serverSettings(settings), { uvPath: "/opt/uv", defaultPython: "3.12", newNotebookDeclaration: "metadata" });
});

test("invalid values are reported, each naming the setting and what is used instead", () => {
  const { settings, problems } = from({ defaultPython: "python3", newNotebookDeclaration: "header", serverCommand: "envlens serve", uvPath: 3 });
  assert.deepEqual(settings, DEFAULT_SETTINGS);
  assert.equal(problems.length, 4);
  assert.match(problems[0], /envlens\.uvPath/);
  assert.match(problems[1], /envlens\.defaultPython must be a version like "3\.12", not "python3"/);
  assert.match(problems[2], /envlens\.newNotebookDeclaration must be "cell" or "metadata"/);
  assert.match(problems[3], /envlens\.serverCommand must be a list .* not the string "envlens serve"/);
});

test("a server command with an empty part is rejected", () => {
  assert.equal(from({ serverCommand: ["envlens", ""] }).problems.length, 1);
});
