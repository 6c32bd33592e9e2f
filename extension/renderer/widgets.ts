// The notebook renderer for Jupyter widgets (ipywidgets, tqdm.auto, interact, anywidget): the real
// @jupyter-widgets libraries (HTMLManager from @jupyter-widgets/html-manager) with comms that go
// through the extension to the sidecar's kernel session (requiresMessaging). What is ours is only
// the plumbing a widget manager needs from its host: comms, the iopub messages a front-end message
// caused (its `status: idle` and outputs, which IPython's Output widget captures), and state replay
// when this webview starts after the widgets were created.
import type { ActivationFunction, OutputItem, RendererContext } from "vscode-notebook-renderer";
import * as base from "@jupyter-widgets/base";
import { HTMLManager } from "@jupyter-widgets/html-manager";
import anywidgetFactory from "anywidget";
import type { KernelMessage } from "@jupyterlab/services";
import type { FromRenderer, ToRenderer, WireMsg } from "../src/core/widgetProtocol";

type Callbacks = base.ICallbacks;
type Buffers = ArrayBuffer[] | ArrayBufferView[];
const WIDGET_TARGET = "jupyter.widget";

function toBase64(buf: ArrayBuffer | ArrayBufferView): string {
  const bytes = buf instanceof ArrayBuffer ? new Uint8Array(buf) : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(b64: string): DataView {
  const s = atob(b64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return new DataView(bytes.buffer);
}

/** A wire message as @jupyterlab/services would hand it to a widget. */
function kernelMsg(w: WireMsg): KernelMessage.IMessage {
  return {
    channel: "iopub",
    header: { msg_id: w.msgId ?? "", msg_type: w.msgType, session: "", username: "", date: "", version: "5.3" },
    parent_header: w.parentMsgId ? { msg_id: w.parentMsgId } : {},
    metadata: w.metadata ?? {},
    content: w.content,
    buffers: (w.buffers ?? []).map(fromBase64),
  } as unknown as KernelMessage.IMessage;
}

let counter = 0;
function newId(): string {
  return typeof crypto !== "undefined" && "randomUUID" in crypto ? crypto.randomUUID() : `envlens-${Date.now()}-${++counter}`;
}

/** A comm whose other end is the kernel, through the extension and the sidecar. */
class RelayComm implements base.IClassicComm {
  private onMsg: ((msg: unknown) => void) | undefined;
  private onClose: ((msg: unknown) => void) | undefined;
  /** Messages that arrived before the model registered its handler (its class loads async). */
  private early: unknown[] = [];

  constructor(
    private readonly manager: WidgetManager,
    readonly target_name: string,
    readonly comm_id: string,
  ) {}

  open(data: unknown, callbacks?: Callbacks, metadata?: object, buffers?: Buffers): string {
    return this.manager.send("comm_open", { comm_id: this.comm_id, target_name: this.target_name, data }, callbacks, metadata, buffers);
  }

  send(data: unknown, callbacks?: Callbacks, metadata?: object, buffers?: Buffers): string {
    return this.manager.send("comm_msg", { comm_id: this.comm_id, data }, callbacks, metadata, buffers);
  }

  close(data?: unknown, callbacks?: Callbacks, metadata?: object, buffers?: Buffers): string {
    this.manager.forget(this.comm_id);
    return this.manager.send("comm_close", { comm_id: this.comm_id, data: data ?? {} }, callbacks, metadata, buffers);
  }

  on_msg(callback: (msg: unknown) => void): void {
    this.onMsg = callback;
    for (const m of this.early.splice(0)) callback(m);
  }

  on_close(callback: (msg: unknown) => void): void {
    this.onClose = callback;
  }

  handle(msg: unknown): void {
    if (this.onMsg) this.onMsg(msg);
    else this.early.push(msg);
  }

  handleClose(msg: unknown): void {
    this.onClose?.(msg);
  }
}

const OUTPUT_TYPES = new Set(["stream", "display_data", "execute_result", "error"]);

let anywidgetModule: Record<string, unknown> | undefined;

class WidgetManager extends HTMLManager {
  private readonly comms = new Map<string, RelayComm>();
  private readonly pending = new Map<string, Callbacks>();
  /** Output widgets' model ids by the msg_id whose outputs they capture (`with out:`). */
  private readonly capturing = new Map<string, string>();
  private readonly modelWaiters = new Map<string, (() => void)[]>();

  constructor(private readonly post: (m: FromRenderer) => void) {
    super({
      // Third-party widget modules bundled here: anywidget (its front end runs the widget's own ESM).
      loader: async (moduleName: string) => {
        // One module object for the model and the view classes: anywidget keeps each model's
        // runtime in a map private to the factory call, where its view looks it up.
        if (moduleName === "anywidget") return (anywidgetModule ??= anywidgetFactory(base));
        throw new Error(`The widget module ${moduleName} is not available in VS Code (envlens bundles ipywidgets and anywidget).`);
      },
    });
  }

  send(msgType: "comm_open" | "comm_msg" | "comm_close", content: Record<string, unknown>, callbacks?: Callbacks, metadata?: object, buffers?: Buffers): string {
    const msgId = newId();
    if (callbacks) this.pending.set(msgId, callbacks);
    this.post({ type: "send", msgType, msgId, content, metadata: (metadata ?? {}) as Record<string, unknown>, buffers: (buffers ?? []).map(toBase64) });
    return msgId;
  }

  forget(commId: string): void {
    this.comms.delete(commId);
  }

  override _create_comm(target_name: string, model_id?: string, data?: unknown, metadata?: object, buffers?: Buffers): Promise<base.IClassicComm> {
    const comm = new RelayComm(this, target_name, model_id ?? newId());
    this.comms.set(comm.comm_id, comm);
    if (data !== undefined) comm.open(data, undefined, metadata, buffers);
    return Promise.resolve(comm);
  }

  override _get_comm_info(): Promise<object> {
    return Promise.resolve({});
  }

  /** A model another refers to (an HBox's children, tqdm's bar): its comm_open may still be on its
   * way; the base manager gives up after 2 s, the renderer's own wait is 30 s (below). */
  override async get_model(modelId: string): Promise<base.WidgetModel> {
    await this.waitForModel(modelId, 30_000);
    return super.get_model(modelId);
  }

  /** Resolves once the model exists (its comm_open may still be on its way), or after `ms`. */
  waitForModel(modelId: string, ms: number): Promise<boolean> {
    if (this.has_model(modelId)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.has_model(modelId)), ms);
      const list = this.modelWaiters.get(modelId) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      this.modelWaiters.set(modelId, list);
    });
  }

  /** Output widgets: which request's outputs each one captures (its `msg_id` state). */
  private readonly outputModels = new Set<string>();

  private trackCapture(commId: string, state: Record<string, unknown> | undefined): void {
    if (!this.outputModels.has(commId) || !state || !("msg_id" in state)) return;
    for (const [k, v] of this.capturing) if (v === commId) this.capturing.delete(k);
    if (typeof state.msg_id === "string" && state.msg_id) this.capturing.set(state.msg_id, commId);
  }

  async receive(w: WireMsg): Promise<void> {
    const content = (w.content ?? {}) as Record<string, unknown>;
    const data = (content.data ?? {}) as Record<string, unknown>;
    const commId = String(content.comm_id ?? "");
    switch (w.msgType) {
      case "comm_open": {
        if (content.target_name !== WIDGET_TARGET || this.comms.has(commId)) return;
        const comm = new RelayComm(this, WIDGET_TARGET, commId);
        this.comms.set(commId, comm);
        const state = data.state as Record<string, unknown> | undefined;
        if (state?._model_name === "OutputModel") {
          this.outputModels.add(commId);
          this.trackCapture(commId, state);
        }
        // The model is registered at once, created in the background: not awaited, because its
        // state may refer to a model whose comm_open comes next (a replay to a renderer that starts
        // late lists models in creation order, and interact's box got its children after it was
        // made); awaited, that reference waited 30 s for a message queued behind it.
        this.handle_comm_open(comm, kernelMsg(w) as KernelMessage.ICommOpenMsg).catch((e: unknown) =>
          this.post({ type: "log", message: `the widget ${commId} could not be created: ${String(e)}` }),
        );
        for (const done of this.modelWaiters.get(commId) ?? []) done();
        this.modelWaiters.delete(commId);
        return;
      }
      case "comm_msg":
        this.trackCapture(commId, data.state as Record<string, unknown> | undefined);
        this.comms.get(commId)?.handle(kernelMsg(w));
        return;
      case "comm_close":
        this.comms.get(commId)?.handleClose(kernelMsg(w));
        this.comms.delete(commId);
        this.outputModels.delete(commId);
        return;
    }
    const parent = w.parentMsgId ?? "";
    const msg = kernelMsg(w) as KernelMessage.IIOPubMessage;
    const cbs = this.pending.get(parent);
    if (cbs?.iopub) {
      if (w.msgType === "status") cbs.iopub.status?.(msg);
      else if (w.msgType === "clear_output") cbs.iopub.clear_output?.(msg);
      else if (OUTPUT_TYPES.has(w.msgType)) cbs.iopub.output?.(msg);
    }
    if (w.msgType === "status" && content.execution_state === "idle") this.pending.delete(parent);
    const captor = this.capturing.get(parent);
    if (captor && (OUTPUT_TYPES.has(w.msgType) || w.msgType === "clear_output")) {
      const model = (await this.get_model(captor)) as unknown as { outputs: { add(o: unknown): void }; clear_output(wait?: boolean): void };
      if (w.msgType === "clear_output") model.clear_output(Boolean(content.wait));
      else model.outputs.add({ output_type: w.msgType, ...content });
    }
  }

  async reset(): Promise<void> {
    this.comms.clear();
    this.pending.clear();
    this.capturing.clear();
    this.outputModels.clear();
    await this.clear_state();
  }
}

export const activate: ActivationFunction = (context: RendererContext<unknown>) => {
  const post = (m: FromRenderer): void => void context.postMessage?.(m);
  const manager = new WidgetManager(post);
  // Messages are handled one at a time, in order: a comm_msg must not overtake its comm_open.
  let queue: Promise<void> = Promise.resolve();
  context.onDidReceiveMessage?.((m: ToRenderer) => {
    queue = queue
      .then(async () => {
        if (m.type === "reset") await manager.reset();
        else if (m.type === "restore") for (const w of m.msgs) await manager.receive(w);
        else if (m.type === "kernel") await manager.receive(m.msg);
      })
      .catch((e: unknown) => post({ type: "log", message: `widget message failed: ${String(e)}` }));
  });
  post({ type: "ready" });
  const views = new Map<string, base.DOMWidgetView>();
  return {
    async renderOutputItem(item: OutputItem, element: HTMLElement) {
      const { model_id: modelId } = item.json() as { model_id: string };
      // The model comes from the kernel through the sidecar, and may follow the output by seconds
      // on a busy machine: wait for it (a widget of a kernel that is gone never comes).
      element.textContent = "Loading the widget…";
      await queue;
      if (!(await manager.waitForModel(modelId, 30_000))) {
        element.textContent = "This widget is not available: its kernel is gone. Run the cell again to show it.";
        return;
      }
      element.textContent = "";
      try {
        const model = await manager.get_model(modelId);
        const view = (await manager.create_view(model, {})) as base.DOMWidgetView;
        views.get(item.id)?.remove();
        views.set(item.id, view);
        await manager.display_view(view, element);
      } catch (e) {
        // VS Code shows its own "Error rendering output item"; the log says which widget and why.
        post({ type: "log", message: `the widget ${modelId} did not render: ${String(e)}` });
        throw e;
      }
    },
    disposeOutputItem(id?: string) {
      if (id === undefined) {
        views.forEach((v) => v.remove());
        views.clear();
      } else {
        views.get(id)?.remove();
        views.delete(id);
      }
    },
  };
};
