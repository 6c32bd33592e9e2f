"""Which kernel messages belong to widgets (ipywidgets, anywidget, tqdm.auto) and not to a cell.

Widgets talk over Jupyter comms: the kernel sends `comm_open` / `comm_msg` / `comm_close` on iopub,
the front end answers with the same messages on shell. A front end also needs, for each message it
sent, the iopub messages the kernel produced while handling it (the `status: idle` that ends it,
outputs), and an `Output` widget captures the outputs of the request whose id its `msg_id` state
holds (`with out:` in the kernel sets it, `interact` relies on it): those outputs go to the widget,
not to the cell that runs. This module decides that routing, in the order the messages arrive, and
turns messages into JSON for the editor (binary buffers as base64). It holds no widget logic: the
widget libraries in the editor's renderer do the rest.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any, Literal

Json = dict[str, Any]
Route = Literal["comm", "captured", "frontend", "other"]

COMM_TYPES = frozenset({"comm_open", "comm_msg", "comm_close"})
OUTPUT_TYPES = frozenset(
    {"stream", "display_data", "update_display_data", "execute_result", "error", "clear_output"}
)
_OUTPUT_MODEL = "OutputModel"


class CommRouter:
    """Per kernel session; reset on restart (the kernel's comms die with it)."""

    def __init__(self) -> None:
        self._sent: set[str] = set()  # ids of front-end messages still being handled
        self._outputs: dict[str, str] = {}  # Output widget comm id -> the msg_id it captures

    def reset(self) -> None:
        self._sent.clear()
        self._outputs.clear()

    def sent(self, msg_id: str) -> None:
        """A front-end message went to the kernel: its iopub messages go back to the front end."""
        self._sent.add(msg_id)

    def capturing(self) -> set[str]:
        return {m for m in self._outputs.values() if m}

    def route(self, msg: Json) -> Route:
        msg_type = str(msg.get("msg_type") or msg.get("header", {}).get("msg_type", ""))
        if msg_type in COMM_TYPES:
            self._track(msg_type, msg.get("content") or {})
            return "comm"
        parent = (msg.get("parent_header") or {}).get("msg_id")
        if msg_type in OUTPUT_TYPES and parent and parent in self.capturing():
            return "captured"
        if parent in self._sent:
            content = msg.get("content") or {}
            if msg_type == "status" and content.get("execution_state") == "idle":
                self._sent.discard(parent)
            return "frontend"
        return "other"

    def _track(self, msg_type: str, content: Json) -> None:
        comm_id = str(content.get("comm_id", ""))
        data = content.get("data") or {}
        if msg_type == "comm_close":
            self._outputs.pop(comm_id, None)
            return
        state = data.get("state") if isinstance(data, dict) else None
        if not isinstance(state, dict):
            return
        opens_output = msg_type == "comm_open" and state.get("_model_name") == _OUTPUT_MODEL
        updates_output = msg_type == "comm_msg" and comm_id in self._outputs and "msg_id" in state
        if opens_output or updates_output:
            self._outputs[comm_id] = str(state.get("msg_id") or "")


def to_wire(msg: Json, channel: str = "iopub") -> Json:
    """A kernel message as the editor gets it (envlens/kernel/comm, docs/protocol.md)."""
    header = msg.get("header") or {}
    return {
        "channel": channel,
        "msgType": msg.get("msg_type") or header.get("msg_type"),
        "msgId": header.get("msg_id") or msg.get("msg_id"),
        "parentMsgId": (msg.get("parent_header") or {}).get("msg_id"),
        "content": msg.get("content") or {},
        "metadata": msg.get("metadata") or {},
        "buffers": [encode_buffer(b) for b in msg.get("buffers") or []],
    }


def encode_buffer(buf: Any) -> str:
    data = buf.bytes if hasattr(buf, "bytes") else bytes(buf)
    return base64.b64encode(data).decode("ascii")


def decode_buffers(values: Iterable[object]) -> list[bytes]:
    """Base64 strings from the editor -> bytes; anything else is bad input."""
    out: list[bytes] = []
    for v in values:
        if not isinstance(v, str):
            raise ValueError("comm buffers must be base64 strings")
        out.append(base64.b64decode(v, validate=True))
    return out


FRONTEND_TYPES = frozenset({"comm_open", "comm_msg", "comm_close", "comm_info_request"})
