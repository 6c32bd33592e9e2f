import { test } from "node:test";
import assert from "node:assert/strict";
import {
  canonicalPlatform,
  DEFAULT_TARGETS,
  platformLabel,
  portabilityMessage,
  portabilityRows,
  portabilitySummary,
  type PortabilityResult,
} from "../../src/core/portability";

// The shape `envlens.checkPortability` returns (server/envlens/portability.py Verdict.to_json).
const RESULT: PortabilityResult = {
  ok: true,
  verdicts: [
    { platform: "linux-x86_64", python: "3.13", status: "works", problems: [], packages: { tinyalpha: "1.0", tinyplat: "1.0" } },
    {
      platform: "linux-aarch64",
      python: "3.13",
      status: "fails",
      problems: [{ package: "tinyplat", version: "1.0", reason: "tinyplat 1.0 has no wheel for CPython 3.13 on linux-aarch64 and no source distribution to build", needsBuild: false }],
      packages: {},
    },
    {
      platform: "macos-arm64",
      python: "3.13",
      status: "builds",
      problems: [{ package: "scikit-image", version: "0.25.2", reason: "scikit-image 0.25.2 has no wheel for CPython 3.13 on macos-arm64, and building it from source needs a compiler", needsBuild: true }],
      packages: { "scikit-image": "0.25.2" },
    },
    { platform: "windows-x86_64", python: "3.13", status: "works", problems: [], packages: { tinyalpha: "1.0" } },
  ],
};

test("platform names read as a user writes them", () => {
  assert.deepEqual(DEFAULT_TARGETS.map(platformLabel), ["Linux x86_64", "Linux aarch64", "macOS arm64", "Windows x86_64"]);
  assert.equal(platformLabel("linux-x86_64-musl"), "Linux x86_64 (musl)");
  assert.equal(canonicalPlatform("Linux-ARM64"), "linux-aarch64");
  assert.equal(canonicalPlatform("beos"), undefined);
});

test("before a check: one 'not checked' row per target; while checking they say so", () => {
  const rows = portabilityRows(DEFAULT_TARGETS, undefined);
  assert.deepEqual(rows.map((r) => [r.label, r.description, r.status]), [
    ["Linux x86_64", "not checked", "unchecked"],
    ["Linux aarch64", "not checked", "unchecked"],
    ["macOS arm64", "not checked", "unchecked"],
    ["Windows x86_64", "not checked", "unchecked"],
  ]);
  assert.ok(portabilityRows(DEFAULT_TARGETS, { running: true }).every((r) => r.description === "checking…" && r.icon === "sync~spin"));
  assert.equal(portabilitySummary(undefined, "k"), "not checked");
  assert.equal(portabilitySummary({ running: true }, "k"), "checking…");
});

test("after a check: works / builds / fails rows, with the one-line reasons as children", () => {
  const rows = portabilityRows(DEFAULT_TARGETS, { running: false, key: "k1", result: RESULT });
  assert.deepEqual(rows.map((r) => [r.label, r.description, r.icon]), [
    ["Linux x86_64", "Python 3.13 · works · 2 packages, all from wheels", "pass"],
    ["Linux aarch64", "Python 3.13 · fails · 1 problem", "error"],
    ["macOS arm64", "Python 3.13 · builds from source (needs a compiler)", "warning"],
    ["Windows x86_64", "Python 3.13 · works · 1 package, all from wheels", "pass"],
  ]);
  assert.deepEqual(rows[1].reasons, ["tinyplat 1.0 has no wheel for CPython 3.13 on linux-aarch64 and no source distribution to build"]);
  assert.deepEqual(rows[0].reasons, []);
  assert.match(rows[1].tooltip, /Linux aarch64, Python 3\.13: fails · 1 problem\n- tinyplat 1\.0 has no wheel/);
  assert.equal(new Set(rows.map((r) => r.id)).size, rows.length);
  assert.equal(portabilitySummary({ running: false, key: "k1", result: RESULT }, "k1"), "3 of 4 targets work");
  assert.equal(portabilitySummary({ running: false, key: "k1", result: RESULT }, "k2"), "3 of 4 targets work (declaration changed since: check again)");
});

test("several Pythons per target, and verdicts for platforms no longer in the targets", () => {
  const two: PortabilityResult = {
    ok: true,
    verdicts: [
      { platform: "linux-x86_64", python: "3.12", status: "works", problems: [], packages: {} },
      { platform: "linux-x86_64", python: "3.13", status: "works", problems: [], packages: {} },
      { platform: "windows-arm64", python: "3.13", status: "works", problems: [], packages: {} },
    ],
  };
  const rows = portabilityRows(["linux-x86_64", "macos-arm64"], { running: false, result: two });
  assert.deepEqual(rows.map((r) => r.id), ["linux-x86_64@3.12", "linux-x86_64@3.13", "macos-arm64@", "windows-arm64@3.13"]);
  assert.equal(portabilitySummary({ running: false, result: two }, undefined), "all 3 targets work");
});

test("a failed check and the notification text", () => {
  assert.equal(portabilitySummary({ running: false, error: "uv failed" }, "k"), "check failed: uv failed");
  assert.equal(
    portabilityMessage("cluster.py", RESULT),
    "cluster.py works on Linux x86_64 (Python 3.13), Windows x86_64 (Python 3.13); builds from source on macOS arm64 (Python 3.13); fails on Linux aarch64 (Python 3.13). The reasons are in the Environment view.",
  );
  assert.equal(
    portabilityMessage("a.py", { ok: true, verdicts: [RESULT.verdicts[0]] }),
    "a.py installs from wheels on every target: Linux x86_64 (Python 3.13).",
  );
});
