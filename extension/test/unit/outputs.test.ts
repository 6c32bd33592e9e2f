import { test } from "node:test";
import assert from "node:assert/strict";
import { appendsToPrevious, missingModule, missingModuleInOutputs, outputItems, stripAnsi } from "../../src/core/outputs";
import type { ErrorOutput } from "../../src/core/protocol";

test("stream text becomes stdout/stderr items, joined from nbformat's list form", () => {
  assert.deepEqual(outputItems({ output_type: "stream", name: "stdout", text: ["1.2", ".3\n"] }), [{ kind: "stdout", text: "1.2.3\n" }]);
  assert.deepEqual(outputItems({ output_type: "stream", name: "stderr", text: "warn\n" }), [{ kind: "stderr", text: "warn\n" }]);
});

test("an error keeps its name, message and full traceback", () => {
  const items = outputItems({ output_type: "error", ename: "ValueError", evalue: "bad", traceback: ["line 1", "line 2"] });
  assert.deepEqual(items, [{ kind: "error", name: "ValueError", message: "bad", stack: "line 1\nline 2" }]);
});

test("rich outputs: html and png come before text/plain, png as base64 without newlines", () => {
  const items = outputItems({
    output_type: "execute_result",
    execution_count: 3,
    data: { "text/plain": ["<Figure>"], "image/png": "iVBOR\nw0KGgo=\n", "text/html": ["<b>", "hi</b>"] },
  });
  assert.deepEqual(items, [
    { kind: "text", mime: "text/html", text: "<b>hi</b>" },
    { kind: "binary", mime: "image/png", base64: "iVBORw0KGgo=" },
    { kind: "text", mime: "text/plain", text: "<Figure>" },
  ]);
});

test("json mimes stay structured", () => {
  const items = outputItems({ output_type: "display_data", data: { "application/json": { a: 1 } } });
  assert.deepEqual(items, [{ kind: "json", mime: "application/json", value: { a: 1 } }]);
});

test("consecutive stdout appends to the previous output, a different stream does not", () => {
  const out = { output_type: "stream", name: "stdout", text: "a" } as const;
  assert.equal(appendsToPrevious(out, { output_type: "stream", name: "stdout", text: "b" }), true);
  assert.equal(appendsToPrevious(out, { output_type: "stream", name: "stderr", text: "b" }), false);
  assert.equal(appendsToPrevious(undefined, out), false);
});

test("ModuleNotFoundError names the top-level module, through ANSI colours", () => {
  const err: ErrorOutput = {
    output_type: "error",
    ename: "ModuleNotFoundError",
    evalue: "No module named 'sklearn.linear_model'",
    traceback: ["\u001b[31m---------\u001b[0m", "\u001b[31mModuleNotFoundError\u001b[0m: No module named 'sklearn.linear_model'"],
  };
  assert.equal(missingModule(err), "sklearn");
  assert.equal(missingModuleInOutputs([{ output_type: "stream", name: "stdout", text: "x" }, err]), "sklearn");
});

test("a ModuleNotFoundError printed in text (a script's stderr) is found too", () => {
  const text = "Traceback (most recent call last):\n  File \"x.py\", line 1\nModuleNotFoundError: No module named 'yaml'\n";
  assert.equal(missingModule(text), "yaml");
});

test("other errors are not a missing module", () => {
  assert.equal(missingModule({ output_type: "error", ename: "ValueError", evalue: "No module named 'x' in text", traceback: [] }), undefined);
  assert.equal(missingModule("ImportError: cannot import name 'foo' from 'bar'"), undefined);
  assert.equal(stripAnsi("\u001b[0;31mred\u001b[0m"), "red");
});

test("the install action is titled with the distribution", async () => {
  const { installActionTitle } = await import("../../src/core/outputs");
  assert.equal(installActionTitle("sklearn"), "Install scikit-learn and re-run");
  assert.equal(installActionTitle("tinytwo"), "Install tinytwo and re-run");
});
