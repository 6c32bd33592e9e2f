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
  assert.deepEqual(settings, {
    uvPath: "/opt/uv",
    defaultPython: "3.12",
    newNotebookDeclaration: "metadata",
    serverCommand: ["/v/bin/envlens", "serve"],
    portabilityTargets: ["linux-x86_64", "linux-aarch64", "macos-arm64", "windows-x86_64"],
    startKernelOnOpen: true,
    defaultPackages: [],
    poolSize: 1,
    poolMaxAgeDays: 7,
    pruneAfterDays: 30,
  });
  assert.deepEqual(serverSettings(settings), {
    uvPath: "/opt/uv",
    defaultPython: "3.12",
    newNotebookDeclaration: "metadata",
    defaultPackages: [],
    poolSize: 1,
    poolMaxAgeDays: 7,
    pruneAfterDays: 30,
  });
});

test("the lifecycle settings reach the sidecar; invalid ones are reported and their defaults used", () => {
  const ok = from({ defaultPackages: ["numpy", " pandas>=2 "], poolSize: 2, poolMaxAgeDays: 0.5, pruneAfterDays: 0 });
  assert.deepEqual(ok.problems, []);
  const sent = serverSettings(ok.settings);
  assert.deepEqual(sent.defaultPackages, ["numpy", "pandas>=2"]);
  assert.deepEqual([sent.poolSize, sent.poolMaxAgeDays, sent.pruneAfterDays], [2, 0.5, 0]);
  const bad = from({ defaultPackages: "numpy", poolSize: 1.5, poolMaxAgeDays: -1, pruneAfterDays: "30" });
  assert.deepEqual([bad.settings.defaultPackages, bad.settings.poolSize, bad.settings.poolMaxAgeDays, bad.settings.pruneAfterDays], [[], 1, 7, 30]);
  assert.equal(bad.problems.length, 4);
  assert.match(bad.problems[0], /envlens\.defaultPackages must be a list of requirements/);
  assert.match(bad.problems[1], /envlens\.poolSize must be a whole number \(0 or more\), not 1\.5; using 1/);
  assert.match(bad.problems[2], /envlens\.poolMaxAgeDays must be a number of days/);
  assert.match(bad.problems[3], /envlens\.pruneAfterDays must be a number of days \(0 or more\), not "30"; using 30/);
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

test("startKernelOnOpen: a boolean; anything else is reported and true used", () => {
  assert.equal(from({ startKernelOnOpen: false }).settings.startKernelOnOpen, false);
  const bad = from({ startKernelOnOpen: "no" });
  assert.equal(bad.settings.startKernelOnOpen, true);
  assert.match(bad.problems[0], /envlens\.startKernelOnOpen must be true or false, not "no"; using true/);
});

test("a server command with an empty part is rejected", () => {
  assert.equal(from({ serverCommand: ["envlens", ""] }).problems.length, 1);
});

test("portability targets: known names and aliases kept, unknown ones reported", () => {
  const ok = from({ portabilityTargets: ["linux-aarch64", "win64", "linux-arm64"] });
  assert.deepEqual(ok.settings.portabilityTargets, ["linux-aarch64", "windows-x86_64"]);
  assert.deepEqual(ok.problems, []);
  const bad = from({ portabilityTargets: ["solaris-sparc", "macos-arm64"] });
  assert.deepEqual(bad.settings.portabilityTargets, ["macos-arm64"]);
  assert.match(bad.problems[0], /envlens\.portabilityTargets: unknown platform "solaris-sparc", ignored; known: linux-x86_64/);
  const none = from({ portabilityTargets: "linux" });
  assert.deepEqual(none.settings.portabilityTargets, DEFAULT_SETTINGS.portabilityTargets);
  assert.match(none.problems[0], /must be a list of platform names/);
  assert.deepEqual(from({ portabilityTargets: [] }).settings.portabilityTargets, DEFAULT_SETTINGS.portabilityTargets);
  // The sidecar does not receive it: the extension passes the targets with each check.
  assert.equal("portabilityTargets" in serverSettings(ok.settings), false);
});
