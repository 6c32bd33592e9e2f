// Messages between the extension and its widget renderer (extension/renderer/widgets.ts), and the
// kernel messages the sidecar relays (envlens/kernel/comm, docs/protocol.md). No vscode import:
// the renderer (a browser bundle) uses these types too.

/** A kernel message as the sidecar relays it: binary buffers as base64. */
export interface WireMsg {
  channel: string;
  msgType: string;
  msgId: string | null;
  parentMsgId: string | null;
  content: Record<string, unknown>;
  metadata: Record<string, unknown>;
  buffers: string[];
}

export type ToRenderer =
  | { type: "kernel"; msg: WireMsg }
  | { type: "restore"; msgs: WireMsg[] }
  | { type: "reset" };

export type FromRenderer =
  | { type: "ready" }
  | { type: "log"; message: string }
  | {
      type: "send";
      msgType: "comm_open" | "comm_msg" | "comm_close";
      msgId: string;
      content: Record<string, unknown>;
      metadata: Record<string, unknown>;
      buffers: string[];
    };

export interface CommNotification {
  sessionId: string;
  msg: WireMsg;
}

export const WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json";
export const WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json";
export const RENDERER_ID = "envlens-widgets";
