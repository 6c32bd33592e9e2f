import { test } from "node:test";
import assert from "node:assert/strict";
import { WidgetMirror } from "../../src/core/widgetState";

const slider = {
  _model_name: "IntSliderModel",
  _model_module: "@jupyter-widgets/controls",
  _model_module_version: "2.0.0",
  value: 7,
};

test("the mirror follows comm_open, updates from both sides and comm_close", () => {
  const m = new WidgetMirror();
  m.apply("comm_open", { comm_id: "s1", target_name: "jupyter.widget", data: { state: slider, buffer_paths: [] } }, [], { version: "2.1.0" });
  m.apply("comm_msg", { comm_id: "s1", data: { method: "update", state: { value: 9 } } }, []); // the renderer moved it
  m.apply("comm_msg", { comm_id: "s1", data: { method: "echo_update", state: { value: 10 } } }, []);
  m.apply("comm_msg", { comm_id: "s1", data: { method: "custom", content: {} } }, []); // not state
  m.apply("comm_open", { comm_id: "x", target_name: "other.target", data: { state: {} } }, []); // not a widget
  const replay = m.replay();
  assert.equal(replay.length, 1);
  assert.deepEqual(replay[0].content, { comm_id: "s1", target_name: "jupyter.widget", data: { state: { ...slider, value: 10 }, buffer_paths: [] } });
  assert.equal(replay[0].msgType, "comm_open");
  m.apply("comm_close", { comm_id: "s1", data: {} }, []);
  assert.equal(m.size, 0);
  assert.equal(m.saved(), undefined);
});

test("binary buffers follow their state key; the saved state is nbformat's widget state", () => {
  const m = new WidgetMirror();
  const image = { _model_name: "ImageModel", _model_module: "@jupyter-widgets/controls", _model_module_version: "2.0.0", format: "png" };
  m.apply("comm_open", { comm_id: "i1", target_name: "jupyter.widget", data: { state: image, buffer_paths: [["value"]] } }, ["AAE="]);
  m.apply("comm_msg", { comm_id: "i1", data: { method: "update", state: { value: null }, buffer_paths: [["value"]] } }, ["AgM="]);
  assert.deepEqual(m.replay()[0].buffers, ["AgM="]);
  assert.deepEqual(m.saved(), {
    "application/vnd.jupyter.widget-state+json": {
      version_major: 2,
      version_minor: 0,
      state: {
        i1: {
          model_name: "ImageModel",
          model_module: "@jupyter-widgets/controls",
          model_module_version: "2.0.0",
          state: { ...image, value: null },
          buffers: [{ path: ["value"], data: "AgM=", encoding: "base64" }],
        },
      },
    },
  });
});
