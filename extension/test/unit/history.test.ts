import { test } from "node:test";
import assert from "node:assert/strict";
import { ago, historySummary, revertDone, revertQuestion, versionRow, versionTooltip } from "../../src/core/history";
import type { HistoryResult, HistoryVersion } from "../../src/core/protocol";
import { pruneDone, pruneQuestion, type PruneResult } from "../../src/core/prune";

const NOW = 1_800_000_000;

function version(partial: Partial<HistoryVersion>): HistoryVersion {
  return {
    n: 1,
    time: NOW - 120,
    status: "ready",
    action: "build",
    key: "0123456789abcdef",
    requirements: ["tinyalpha"],
    requiresPython: null,
    lockHash: null,
    pythonVersion: "3.12.1",
    packages: [{ name: "tinyalpha", version: "2.0" }],
    duration: 1.25,
    error: null,
    revertedFrom: null,
    attempts: 1,
    hasLog: true,
    revertible: true,
    built: true,
    summary: "",
    ...partial,
  };
}

// The walk of issue 14: add, add, a failing add, revert to 1.
const WALK: HistoryResult = {
  path: "/w/analysis.py",
  inUse: 4,
  inUseKey: "aaaa",
  currentKey: "aaaa",
  versions: [
    version({ n: 1, key: "aaaa", summary: "declared +tinyalpha; packages +tinyalpha 2.0, +ipykernel 7.1.0" }),
    version({ n: 2, key: "bbbb", requirements: ["tinyalpha", "tinybeta"], summary: "declared +tinybeta; packages +tinybeta 1.0" }),
    version({ n: 3, key: "cccc", status: "failed", requirements: ["tinyalpha", "tinybeta", "nosuchpkg"], summary: "declared +nosuchpkg", error: "No version of 'nosuchpkg' is available", revertible: false, built: false, packages: [] }),
    version({ n: 4, key: "aaaa", action: "revert", revertedFrom: 1, time: NOW - 5, summary: "declared -tinybeta, -nosuchpkg; packages -tinybeta 1.0" }),
  ],
};

test("each version's row: status, what it changed, when; Revert only on a ready version not in use", () => {
  const [v1, v2, v3, v4] = WALK.versions.map((v) => versionRow(v, WALK.inUse, NOW));
  assert.deepEqual(v1, { label: "Version 1", description: "ready · declared tinyalpha · 2 min ago", icon: "pass", color: "testing.iconPassed", contextValue: "envlens.version.revertible" });
  assert.equal(versionRow({ ...WALK.versions[0], action: "reuse" }, 4, NOW).description, "ready · declared tinyalpha, already built · 2 min ago");
  assert.equal(v2.description, "ready · declared +tinybeta; packages +tinybeta 1.0 · 2 min ago");
  assert.equal(v3.description, "failed · declared +nosuchpkg · 2 min ago");
  assert.equal(v3.contextValue, "envlens.version"); // nothing to go back to
  assert.equal(v3.icon, "error");
  assert.equal(v4.description, "in use · reverted to 1 · just now");
  assert.equal(v4.contextValue, "envlens.version"); // already in use
  assert.equal(v4.icon, "pass-filled");
});

test("the History row says which version is in use, and that a failed build left the last good one", () => {
  assert.equal(historySummary(WALK), "4 versions, in use 4");
  const failedLast: HistoryResult = { ...WALK, inUse: 2, versions: WALK.versions.slice(0, 3) };
  assert.equal(historySummary(failedLast), "3 versions, version 3 failed: in use 2");
  assert.equal(historySummary(undefined), "no versions yet");
  assert.equal(historySummary({ ...WALK, inUse: null, versions: [WALK.versions[2]] }), "1 version, none built");
});

test("a version's tooltip names its declaration, packages, error and environment", () => {
  const tip = versionTooltip(WALK.versions[2]);
  assert.match(tip, /^Version 3: failed/);
  assert.match(tip, /Declared: tinyalpha, tinybeta, nosuchpkg/);
  assert.match(tip, /Error: No version of 'nosuchpkg' is available/);
  assert.match(versionTooltip(version({ built: false })), /removed since: a revert builds it again/);
});

test("the revert question says what is written back and whether anything is installed", () => {
  const q = revertQuestion("analysis.py", WALK.versions[0]);
  assert.equal(q.message, "Revert analysis.py to version 1?");
  assert.equal(q.button, "Revert to Version 1");
  assert.match(q.detail, /Version 1's declaration is written back into analysis\.py \(tinyalpha\)\. Its environment is still in the cache: nothing is installed\./);
  const gone = revertQuestion("a.ipynb", version({ n: 2, built: false, lockHash: "abc", requirements: [] }));
  assert.match(gone.detail, /declaration and its lock is written back into a\.ipynb \(nothing \(ipykernel only\)\)\. Its environment was removed since: it is built again\./);
  assert.equal(revertDone("analysis.py", 1, 4, false), "Reverted analysis.py to version 1 (now version 4): nothing was built, its environment was still in the cache.");
});

test("ago", () => {
  assert.equal(ago(NOW - 30, NOW), "just now");
  assert.equal(ago(NOW - 3 * 3600, NOW), "3 h ago");
  assert.equal(ago(NOW - 86400, NOW), "1 day ago");
});

test("Remove Unused Environments: the question lists what goes and what it frees; nothing to do says so", () => {
  const plan: PruneResult = {
    olderThanDays: 30,
    remove: [{ key: "k1", requirements: ["numpy"], lastUsed: 0, files: [], size: { own: 24_500_000, total: 300_000_000 } }],
    keep: [],
    logs: [],
    spares: [],
    blocked: null,
  };
  const q = pruneQuestion(plan);
  assert.equal(q.message, "Remove 1 environment unused for 30 days (24.5 MB)?");
  assert.match(q.detail, /^k1: numpy, 24\.5 MB/);
  assert.equal(q.button, "Remove");
  assert.equal(pruneDone({ ...plan, spares: ["/p"] }), "Removed 1 environment (24.5 MB), and 1 prewarmed environment past its age.");
  const none = pruneQuestion({ ...plan, remove: [], blocked: "this system does not show which processes run where" });
  assert.equal(none.button, undefined);
  assert.match(none.message, /nothing to remove \(this system does not show/);
});
