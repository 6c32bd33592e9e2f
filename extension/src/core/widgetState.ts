// What the kernel's widgets look like now, from the comm messages relayed both ways: replayed to a
// widget renderer that starts late (a webview opens after the widgets were created), and written
// into the saved notebook as Jupyter's widget state (metadata.widgets, nbformat's widget-state
// schema), so a notebook shows its widgets' last state where no kernel runs.
import { WIDGET_STATE_MIME, type WireMsg } from "./widgetProtocol";

interface ModelRecord {
  targetName: string;
  state: Record<string, unknown>;
  /** JSON of a buffer path (["value"]) -> base64 */
  buffers: Map<string, string>;
  metadata: Record<string, unknown>;
}

export interface SavedWidgetState {
  version_major: 2;
  version_minor: 0;
  state: Record<
    string,
    {
      model_name: string;
      model_module: string;
      model_module_version: string;
      state: Record<string, unknown>;
      buffers?: { path: (string | number)[]; data: string; encoding: "base64" }[];
    }
  >;
}

function bufferPaths(data: Record<string, unknown>): unknown[][] {
  const paths = data.buffer_paths;
  return Array.isArray(paths) ? paths.filter(Array.isArray) : [];
}

export class WidgetMirror {
  private readonly models = new Map<string, ModelRecord>();

  get size(): number {
    return this.models.size;
  }

  clear(): void {
    this.models.clear();
  }

  /** A comm message from the kernel, or one a renderer sent (the same shapes). */
  apply(msgType: string, content: Record<string, unknown>, buffers: string[], metadata: Record<string, unknown> = {}): void {
    const commId = String(content.comm_id ?? "");
    if (!commId) return;
    const data = (content.data ?? {}) as Record<string, unknown>;
    if (msgType === "comm_close") {
      this.models.delete(commId);
      return;
    }
    const state = data.state;
    if (msgType === "comm_open") {
      if (content.target_name !== "jupyter.widget" || !state || typeof state !== "object") return;
      const record: ModelRecord = { targetName: String(content.target_name), state: {}, buffers: new Map(), metadata };
      this.models.set(commId, record);
      this.merge(record, state as Record<string, unknown>, bufferPaths(data), buffers);
      return;
    }
    const record = this.models.get(commId);
    if (msgType !== "comm_msg" || !record || !state || typeof state !== "object") return;
    if (data.method === "update" || data.method === "echo_update") this.merge(record, state as Record<string, unknown>, bufferPaths(data), buffers);
  }

  applyWire(w: WireMsg): void {
    if (w.msgType === "comm_open" || w.msgType === "comm_msg" || w.msgType === "comm_close") {
      this.apply(w.msgType, w.content, w.buffers ?? [], w.metadata ?? {});
    }
  }

  private merge(record: ModelRecord, state: Record<string, unknown>, paths: unknown[][], buffers: string[]): void {
    for (const key of Object.keys(state)) {
      record.state[key] = state[key];
      for (const p of [...record.buffers.keys()]) if ((JSON.parse(p) as unknown[])[0] === key) record.buffers.delete(p);
    }
    paths.forEach((p, i) => {
      if (buffers[i] !== undefined) record.buffers.set(JSON.stringify(p), buffers[i]);
    });
  }

  /** comm_open messages that recreate every widget as it is now, in creation order. */
  replay(): WireMsg[] {
    return [...this.models].map(([commId, r]) => {
      const paths = [...r.buffers.keys()].map((p) => JSON.parse(p) as unknown[]);
      return {
        channel: "iopub",
        msgType: "comm_open",
        msgId: null,
        parentMsgId: null,
        content: { comm_id: commId, target_name: r.targetName, data: { state: r.state, buffer_paths: paths } },
        metadata: { version: "2.1.0", ...r.metadata },
        buffers: [...r.buffers.values()],
      };
    });
  }

  /** nbformat's widget state (application/vnd.jupyter.widget-state+json), or undefined without widgets. */
  saved(): { [WIDGET_STATE_MIME]: SavedWidgetState } | undefined {
    if (this.models.size === 0) return undefined;
    const state: SavedWidgetState["state"] = {};
    for (const [id, r] of this.models) {
      const s = r.state;
      const entry: SavedWidgetState["state"][string] = {
        model_name: String(s._model_name ?? ""),
        model_module: String(s._model_module ?? ""),
        model_module_version: String(s._model_module_version ?? ""),
        state: { ...s },
      };
      if (r.buffers.size > 0) {
        entry.buffers = [...r.buffers].map(([p, data]) => ({ path: JSON.parse(p) as (string | number)[], data, encoding: "base64" as const }));
      }
      state[id] = entry;
    }
    return { [WIDGET_STATE_MIME]: { version_major: 2, version_minor: 0, state } };
  }
}
