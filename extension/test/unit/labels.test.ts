import { test } from "node:test";
import assert from "node:assert/strict";
import {
  canonicalName,
  controllerDetail,
  controllerLabel,
  shortDependencySummary,
  envState,
  operationLabel,
  requirementName,
  shortPython,
  statusBarText,
} from "../../src/core/labels";
import type { ResolveResult } from "../../src/core/protocol";

function res(partial: Partial<ResolveResult>): ResolveResult {
  return {
    path: "/w/a.ipynb",
    runtime: "python",
    source: { kind: "pep723", label: "PEP 723 block in cell 1", path: "/w/a.ipynb", cell: 0, startLine: 0, endLine: 4 },
    backend: "uv",
    requirements: [],
    declared: [],
    condaPackages: [],
    channels: [],
    requiresPython: null,
    locked: false,
    lockHash: null,
    key: "0123456789abcdef",
    envPath: "/c/envs/0123456789abcdef",
    built: false,
    pythonVersion: null,
    ...partial,
  };
}

test("the controller label names the declared packages and the Python version", () => {
  assert.equal(controllerLabel(res({ declared: ["numpy>=1.26", "pandas"] }), "3.12.1"), "envlens: numpy, pandas (Python 3.12)");
});

test("before the environment is built, requires-python gives the version", () => {
  assert.equal(controllerLabel(res({ declared: ["numpy"], requiresPython: "==3.11.*" }), null), "envlens: numpy (Python 3.11)");
  assert.equal(controllerLabel(res({ declared: ["numpy"], requiresPython: ">=3.10" }), null), "envlens: numpy");
  assert.equal(controllerLabel(res({ declared: ["numpy"] }), null), "envlens: numpy");
});

test("many packages are summarised in a short label (room for Restart and Interrupt), none is said", () => {
  assert.equal(controllerLabel(res({ declared: ["a", "b", "c", "d", "e"] }), "3.11.7"), "envlens: a, b, c, d, e (Python 3.11)");
  const many = ["numpy", "pandas", "matplotlib", "scikit-learn", "seaborn"];
  const label = controllerLabel(res({ declared: many }), "3.13.1");
  assert.equal(label, "envlens: numpy, pandas +3 (Python 3.13)");
  assert.ok(label.length <= 45, label);
  assert.equal(shortDependencySummary(["a-very-long-distribution-name-indeed"]), "a-very-long-distributio…");
  assert.equal(
    controllerDetail(res({ declared: many }), "3.13.1", "fedcba9876543210"),
    "Python 3.13.1 · numpy, pandas, matplotlib, scikit-learn, seaborn · from PEP 723 block in cell 1 · env 01234567 · the running kernel uses fedcba98 until it is updated",
  );
  assert.equal(controllerLabel(res({}), "3.12.0"), "envlens: no dependencies (Python 3.12)");
  assert.equal(controllerLabel(undefined), "envlens");
});

test("a project declaration is named by its source", () => {
  const r = res({ source: { kind: "uv-project", label: "pyproject.toml (uv project)", path: "/w/pyproject.toml", cell: null, startLine: null, endLine: null } });
  assert.equal(controllerLabel(r, "3.12.1"), "envlens: pyproject.toml (uv proj… (Python 3.12)");
});

test("requirement names and canonical names", () => {
  assert.equal(requirementName("scikit-learn[all]>=1.4; python_version>'3.9'"), "scikit-learn");
  assert.equal(canonicalName("Scikit_Learn.Extra>=1"), "scikit-learn-extra");
  assert.equal(shortPython(undefined, "==3.12.*"), "3.12");
  assert.equal(shortPython(null, null), undefined);
});

test("environment state: building wins, then built, then the failure", () => {
  const op = (status: "running" | "succeeded" | "failed", started: number) => ({ id: String(started), title: "build", status, log: "", started, ended: null });
  assert.equal(envState(undefined, undefined), "none");
  assert.equal(envState(res({}), undefined), "not-built");
  assert.equal(envState(res({}), { built: false, operations: [op("succeeded", 1), op("running", 2)] }), "building");
  assert.equal(envState(res({}), { built: true, operations: [op("succeeded", 1)] }), "ready");
  assert.equal(envState(res({}), { built: false, operations: [op("failed", 3)] }), "failed");
  assert.equal(envState(res({}), undefined, false), "untrusted-workspace");
  assert.equal(statusBarText("ready", res({ declared: ["numpy"] })), "$(check) env ready · 1 dep");
});

test("an operation shows its status and duration", () => {
  const l = operationLabel({ id: "1", title: "Build environment", status: "succeeded", log: "", started: 100, ended: 102.5 });
  assert.deepEqual(l, { label: "Build environment", description: "succeeded in 2.5 s", icon: "pass" });
});

test("jobs: queued, cancelled and the version a job recorded", () => {
  const base = { id: "1", title: "Add tinybeta to a.py", log: "", started: 100, ended: 103 };
  assert.deepEqual(operationLabel({ ...base, status: "succeeded", version: 2 }), { label: base.title, description: "succeeded in 3.0 s · version 2", icon: "pass" });
  assert.equal(operationLabel({ ...base, status: "queued", ended: null }).description, "queued: another job of this file runs first");
  assert.equal(operationLabel({ ...base, status: "queued", ended: null }).icon, "clock");
  assert.equal(operationLabel({ ...base, status: "cancelled" }).icon, "circle-slash");
  // A queued job counts as work under way for the status bar.
  const op = { ...base, status: "queued" as const, ended: null };
  assert.equal(envState(res({ built: true }), { built: true, operations: [op] }), "building");
});
