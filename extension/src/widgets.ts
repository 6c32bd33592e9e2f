// Jupyter widgets in envlens notebooks: relays comm messages between the sidecar's kernel sessions
// (envlens/kernel/comm, envlens/kernel/commSend) and the widget renderer (extension/renderer), keeps
// the widgets' current state (core/widgetState) for renderers that start late, and writes it into
// the notebook when it is saved (metadata.widgets, as Jupyter does).
import * as vscode from "vscode";
import { Methods } from "./core/protocol";
import { WidgetMirror } from "./core/widgetState";
import { RENDERER_ID, WIDGET_STATE_MIME, type CommNotification, type FromRenderer, type ToRenderer, type WireMsg } from "./core/widgetProtocol";
import { messageOf, type EnvlensController } from "./controller";
import { jupyterMetadataOf } from "./notebookEdits";
import type { Sidecar } from "./sidecar";

export class WidgetHost implements vscode.Disposable {
  private readonly messaging = vscode.notebooks.createRendererMessaging(RENDERER_ID);
  /** sessionId -> its widgets */
  private readonly mirrors = new Map<string, WidgetMirror>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly sidecar: Sidecar,
    private readonly controller: EnvlensController,
  ) {
    sidecar.onNotification<CommNotification>(Methods.kernelComm, (n) => this.fromKernel(n));
    this.disposables.push(
      this.messaging.onDidReceiveMessage((e) => void this.fromRenderer(e.editor, e.message as FromRenderer)),
      controller.onDidResetKernel((e) => {
        this.mirrors.delete(e.sessionId);
        this.post(e.nb, { type: "reset" });
      }),
      vscode.workspace.onWillSaveNotebookDocument((e) => {
        const edit = this.stateEdit(e.notebook);
        if (edit) e.waitUntil(Promise.resolve([edit]));
      }),
    );
  }

  private mirror(sessionId: string): WidgetMirror {
    let m = this.mirrors.get(sessionId);
    if (!m) {
      m = new WidgetMirror();
      this.mirrors.set(sessionId, m);
    }
    return m;
  }

  private post(nb: vscode.NotebookDocument, message: ToRenderer): void {
    for (const editor of vscode.window.visibleNotebookEditors) {
      if (editor.notebook === nb) void this.messaging.postMessage(message, editor);
    }
  }

  private fromKernel(n: CommNotification): void {
    this.mirror(n.sessionId).applyWire(n.msg);
    const nb = this.controller.notebookOfSession(n.sessionId);
    if (nb) this.post(nb, { type: "kernel", msg: n.msg });
  }

  private async fromRenderer(editor: vscode.NotebookEditor, m: FromRenderer): Promise<void> {
    const nb = editor.notebook;
    const session = this.controller.sessionOf(nb);
    if (m.type === "log") {
      this.sidecar.log.warn(`widgets in ${nb.uri.path.split("/").pop()}: ${m.message}`);
    } else if (m.type === "ready") {
      // A webview that starts now gets the widgets as they are (or as the notebook saved them).
      const msgs = session ? this.mirror(session.sessionId).replay() : savedReplay(nb);
      if (msgs.length) void this.messaging.postMessage({ type: "restore", msgs } satisfies ToRenderer, editor);
    } else if (m.type === "send") {
      if (!session) {
        this.sidecar.log.info(`a widget of ${nb.uri.path.split("/").pop()} changed, but no kernel runs: run the cell again to use it`);
        return;
      }
      this.mirror(session.sessionId).apply(m.msgType, m.content, m.buffers);
      try {
        await this.sidecar.request(Methods.kernelCommSend, { sessionId: session.sessionId, msgType: m.msgType, msgId: m.msgId, content: m.content, metadata: m.metadata, buffers: m.buffers });
      } catch (e) {
        this.sidecar.log.warn(`a widget message to the kernel of ${nb.uri.path.split("/").pop()} failed: ${messageOf(e)}`);
      }
    }
  }

  /** The widgets' state in the notebook's metadata, or undefined when nothing changes. */
  private stateEdit(nb: vscode.NotebookDocument): vscode.NotebookEdit | undefined {
    const session = this.controller.sessionOf(nb);
    const saved = session ? this.mirrors.get(session.sessionId)?.saved() : undefined;
    if (!saved) return undefined;
    const md = (nb.metadata ?? {}) as Record<string, unknown>;
    const jm = jupyterMetadataOf(md);
    if (JSON.stringify(jm.widgets) === JSON.stringify(saved)) return undefined;
    return vscode.NotebookEdit.updateNotebookMetadata({ ...md, metadata: { ...jm, widgets: saved } });
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}

/** A notebook opened without a kernel: its saved widget state, as comm_open messages. */
function savedReplay(nb: vscode.NotebookDocument): WireMsg[] {
  const widgets = jupyterMetadataOf(nb.metadata as Record<string, unknown>).widgets as Record<string, unknown> | undefined;
  const saved = widgets?.[WIDGET_STATE_MIME] as { state?: Record<string, { state: Record<string, unknown>; buffers?: { path: unknown[]; data: string }[] }> } | undefined;
  if (!saved?.state) return [];
  return Object.entries(saved.state).map(([id, m]) => ({
    channel: "iopub",
    msgType: "comm_open",
    msgId: null,
    parentMsgId: null,
    content: { comm_id: id, target_name: "jupyter.widget", data: { state: m.state, buffer_paths: (m.buffers ?? []).map((b) => b.path) } },
    metadata: { version: "2.1.0" },
    buffers: (m.buffers ?? []).map((b) => b.data),
  }));
}
