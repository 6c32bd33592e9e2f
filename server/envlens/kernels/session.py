"""One kernel process and the client that talks to it (jupyter-client's protocol, our own launch).

The process is launched here rather than by jupyter-client's KernelManager so that we control what
the child does between fork and exec: on Linux it asks for SIGKILL when its parent dies
(PR_SET_PDEATHSIG), so no kernel outlives the process that started it, even one killed with -9.
ipykernel's own parent polling (JPY_PARENT_PID) stays on as the portable second line.

Kernels listen on IPC sockets in a private runtime folder (mode 0700) where the platform has them,
so no other local user can reach them; elsewhere TCP on 127.0.0.1.

Readiness is event driven (a zmq poller on shell and iopub, short reconnect interval), not the
fixed sleeps of `KernelClient.wait_for_ready`, which is why starting through here is not slower
than jupyter-client on its own.

Threads: PR_SET_PDEATHSIG fires when the *thread* that forked the kernel exits, so `start()` and
`restart()` must run on a thread that lives as long as the session (the event loop's thread; the
CLI and the language server both run their loop on the main thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any, Literal

import zmq
import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.connect import write_connection_file
from nbformat.v4 import output_from_msg

from envlens.errors import KernelError
from envlens.kernels.comms import CommRouter, to_wire
from envlens.processes import pid_alive

log = logging.getLogger(__name__)

Json = dict[str, Any]
OutputCallback = Callable[[Json], None]
# input() / getpass() in a cell: (prompt, password) -> the answer, or None to interrupt the cell.
InputCallback = Callable[[str, bool], Awaitable[str | None]]
Status = Literal["ok", "error", "aborted"]

# Unix socket paths are limited to 107 bytes; `<dir>/k-<port>` must fit.
_MAX_IPC_PREFIX = 90
_RUNTIME_PREFIX = "envlens-kernels-"
_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Any:
    # Loaded in the parent: dlopen between fork and exec is not safe in a threaded process.
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()


def _child_setup(parent_pid: int) -> Callable[[], None] | None:
    if _prctl is None:
        return None
    prctl = _prctl

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return setup


@dataclass
class ExecutionResult:
    status: Status
    execution_count: int | None
    outputs: list[Json] = field(default_factory=list)
    error: Json | None = None  # {ename, evalue, traceback} when status == "error"
    timed_out: bool = False

    def to_json(self) -> Json:
        data: Json = {
            "status": self.status,
            "executionCount": self.execution_count,
            "outputs": self.outputs,
        }
        if self.error is not None:
            data["error"] = self.error
        return data


class OutputCollector:
    """Builds a cell's outputs as Jupyter does: streams of one name coalesce, clear_output and
    update_display_data apply."""

    def __init__(self, on_output: OutputCallback | None = None) -> None:
        self.outputs: list[Json] = []
        self.on_output = on_output
        self._clear_pending = False
        self._display_ids: dict[str, list[int]] = {}

    def handle(self, msg: Json) -> None:
        msg_type = msg["msg_type"]
        content = msg["content"]
        if msg_type == "clear_output":
            if content.get("wait"):
                self._clear_pending = True
            else:
                self._clear()
            return
        if msg_type == "update_display_data":
            display_id = str((content.get("transient") or {}).get("display_id"))
            for i in self._display_ids.get(display_id, []):
                self.outputs[i]["data"] = content.get("data", {})
                self.outputs[i]["metadata"] = content.get("metadata", {})
            return
        if msg_type not in ("stream", "display_data", "execute_result", "error"):
            return
        if self._clear_pending:
            self._clear()
        out = _plain(output_from_msg(msg))  # type: ignore[no-untyped-call]
        if self.on_output is not None:
            self.on_output(out)
        last = self.outputs[-1] if self.outputs else None
        if (
            msg_type == "stream"
            and last is not None
            and last["output_type"] == "stream"
            and last["name"] == out["name"]
        ):
            last["text"] += out["text"]
            return
        new_id = (content.get("transient") or {}).get("display_id")
        if new_id:
            self._display_ids.setdefault(str(new_id), []).append(len(self.outputs))
        self.outputs.append(out)

    def _clear(self) -> None:
        self.outputs.clear()
        self._display_ids.clear()
        self._clear_pending = False


def _plain(node: Any) -> Any:
    """NotebookNode -> plain dicts and lists (JSON for LSP, and the notebook writer)."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _clean_stale_runtime_dirs(base: Path) -> None:
    """Remove runtime folders left by envlens processes that were killed (their sockets are dead)."""
    with contextlib.suppress(OSError):
        for entry in base.iterdir():
            if not entry.name.startswith(_RUNTIME_PREFIX) or entry.stat().st_uid != os.getuid():
                continue
            pid_text = entry.name[len(_RUNTIME_PREFIX) :].split("-", 1)[0]
            if pid_text.isdigit() and not pid_alive(int(pid_text)):
                shutil.rmtree(entry, ignore_errors=True)


def make_runtime_dir() -> Path:
    """A private (0700) folder for connection files, IPC sockets and the kernel's log."""
    base = Path(tempfile.gettempdir())
    _clean_stale_runtime_dirs(base)
    return Path(tempfile.mkdtemp(prefix=f"{_RUNTIME_PREFIX}{os.getpid()}-", dir=base))


def ipc_available(runtime_dir: Path) -> bool:
    return os.name == "posix" and len(str(runtime_dir / "k")) <= _MAX_IPC_PREFIX


def describe_exit(code: int | None) -> str:
    if code is None:
        return "unknown exit code"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exit code {code}"


class KernelSession:
    """A kernel process started from `argv` (with `{connection_file}` in it) and its client.

    `label` is what messages call it (the notebook's path). All methods run on one event loop.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        label: str,
        env: dict[str, str] | None = None,
        transport: Literal["auto", "ipc", "tcp"] = "auto",
        late_output_grace: float = 0.0,
    ) -> None:
        self.argv = list(argv)
        # Kernels that send outputs after their idle status (Deno): wait this long for quiet.
        self.late_output_grace = late_output_grace
        self.cwd = Path(cwd)
        self.label = label
        self.extra_env = dict(env or {})
        self.transport = transport
        self.kernel_info: Json = {}
        self.connection_info: Json = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: AsyncKernelClient | None = None
        self._context: zmq.asyncio.Context | None = None
        self._runtime_dir: Path | None = None
        self._connection_file: Path | None = None
        self._log_file: Path | None = None
        self._lock = asyncio.Lock()
        self._generation = 0  # bumped by restart and shutdown, so a waiting execute knows
        self._closed = False
        self.current_cell: int | None = None
        # One reader of the kernel's sockets (the pump) hands messages to the execution that waits
        # for them, and widget messages to `comm_listener` (envlens.kernels.comms decides which).
        self.comm_listener: Callable[[Json], None] | None = None
        self.comms = CommRouter()
        self._pump_task: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Queue[tuple[str, Json]]] = {}

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def runtime_dir(self) -> Path | None:
        return self._runtime_dir

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def start(self, timeout: float = 60.0) -> Json:
        """Launch the kernel and wait for its kernel_info reply; returns that reply's content."""
        if self._closed:
            raise KernelError(f"the kernel session for {self.label} was shut down", path=self.label)
        self._runtime_dir = make_runtime_dir()
        self._connection_file = self._runtime_dir / "kernel.json"
        self._log_file = self._runtime_dir / "kernel.log"
        use_ipc = self.transport == "ipc" or (
            self.transport == "auto" and ipc_available(self._runtime_dir)
        )
        # A fresh random key per kernel: every message is signed (jupyter-client's default is "").
        key = secrets.token_hex(32).encode("ascii")
        if use_ipc:
            _, cfg = write_connection_file(
                str(self._connection_file),
                transport="ipc",
                ip=str(self._runtime_dir / "k"),
                key=key,
            )
        else:
            _, cfg = write_connection_file(
                str(self._connection_file), transport="tcp", ip="127.0.0.1", key=key
            )
        self.connection_info = dict(cfg)
        return await self._launch_and_wait(timeout)

    async def _launch_and_wait(self, timeout: float) -> Json:
        assert self._connection_file is not None and self._log_file is not None
        argv = [a.replace("{connection_file}", str(self._connection_file)) for a in self.argv]
        env = dict(os.environ)
        env["JPY_PARENT_PID"] = str(os.getpid())  # ipykernel's parent polling, the second line
        env.update(self.extra_env)
        log.info("starting kernel for %s: %s", self.label, " ".join(argv))
        with open(self._log_file, "ab") as logf:
            try:
                self._proc = subprocess.Popen(
                    argv,
                    cwd=self.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: interrupts and kills reach children
                    preexec_fn=_child_setup(os.getpid()),  # see the module docstring
                )
            except OSError as exc:
                raise KernelError(
                    f"could not start the kernel for {self.label}: {exc.strerror or exc}",
                    path=self.label,
                    hint=f"Check that {argv[0]} exists and can run",
                ) from None
        self._connect()
        try:
            reply = await self._wait_ready(timeout)
        except BaseException:
            await self._kill()
            raise
        self.comms.reset()
        self._pump_task = asyncio.get_running_loop().create_task(self._pump(self._require_client()))
        return reply

    def _connect(self) -> None:
        self._context = zmq.asyncio.Context()
        # Connecting before the kernel binds is normal; retry every 10 ms, not zmq's 100 ms.
        self._context.setsockopt(zmq.RECONNECT_IVL, 10)
        self._context.setsockopt(zmq.RECONNECT_IVL_MAX, 500)
        client = AsyncKernelClient(context=self._context)
        client.load_connection_info(self.connection_info)  # type: ignore[arg-type]
        client.start_channels(hb=False, stdin=True)
        self._client = client

    def _disconnect(self) -> None:
        if self._pump_task is not None:
            self._pump_task.cancel()
            self._pump_task = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.stop_channels()
            self._client = None
        if self._context is not None:
            self._context.destroy(linger=0)
            self._context = None

    async def _wait_ready(self, timeout: float) -> Json:
        client = self._require_client()
        poller = zmq.asyncio.Poller()
        poller.register(client.shell_channel.socket, zmq.POLLIN)
        poller.register(client.iopub_channel.socket, zmq.POLLIN)
        deadline = time.monotonic() + timeout
        sent = {client.kernel_info()}
        last_sent = time.monotonic()
        reply: Json | None = None
        iopub_seen = False
        while True:
            events = dict(await poller.poll(50))
            if client.shell_channel.socket in events:
                msg = await client.shell_channel.get_msg(timeout=0)
                if (
                    msg["msg_type"] == "kernel_info_reply"
                    and msg["parent_header"].get("msg_id") in sent
                ):
                    reply = msg["content"]
            if client.iopub_channel.socket in events:
                await client.iopub_channel.get_msg(timeout=0)
                iopub_seen = True
            if reply is not None and iopub_seen:
                break
            now = time.monotonic()
            if not self.is_alive():
                raise self._died_error(during="while starting")
            if now > deadline:
                raise KernelError(
                    f"the kernel for {self.label} did not answer within {timeout:.0f} s",
                    path=self.label,
                    hint="The environment may be broken: rebuild it with 'envlens install --sync'",
                    log=self.log_tail(),
                )
            # Re-ask now and then: the iopub subscription may have missed the first status messages.
            if now - last_sent > (0.2 if reply is not None else 1.0):
                sent.add(client.kernel_info())
                last_sent = now
        await self._drain_iopub()
        self.kernel_info = reply
        return reply

    async def _drain_iopub(self) -> None:
        client = self._require_client()
        while True:
            try:
                await client.iopub_channel.get_msg(timeout=0)
            except Empty:
                return

    def _require_client(self) -> AsyncKernelClient:
        if self._client is None:
            raise KernelError(
                f"the kernel for {self.label} is not running",
                path=self.label,
                hint="Start it first",
            )
        return self._client

    def log_tail(self, lines: int = 40) -> str:
        if self._log_file is None:
            return ""
        try:
            text = self._log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _died_error(self, *, during: str) -> KernelError:
        code = self._proc.returncode if self._proc is not None else None
        return KernelError(
            f"the kernel for {self.label} died ({describe_exit(code)}) {during}",
            path=self.label,
            cell=self.current_cell,
            hint="Restart the kernel; if it dies again, the code may need more memory than this "
            "machine has or crash a compiled library (the kernel's log has the details)",
            log=self.log_tail(),
        )

    # ---- execution -------------------------------------------------------------------------

    async def execute(
        self,
        code: str,
        *,
        on_output: OutputCallback | None = None,
        cell: int | None = None,
        timeout: float | None = None,
        on_input: InputCallback | None = None,
        silent: bool = False,
    ) -> ExecutionResult:
        """Run `code`; outputs stream to `on_output` as they arrive. `cell` (1-based) is for messages.

        `on_input` answers input()/getpass() (without it the kernel raises StdinNotImplementedError,
        as headless runs want). `silent`: envlens's own code (no history, no execution count).
        On `timeout` the kernel is interrupted and the result is marked `timed_out`. If the kernel is
        restarted or shut down meanwhile the result is "aborted"; if it dies, KernelError.
        """
        async with self._lock:
            generation = self._generation
            self.current_cell = cell
            try:
                return await self._execute(code, on_output, timeout, generation, on_input, silent)
            finally:
                self.current_cell = None

    async def _pump(self, client: AsyncKernelClient) -> None:
        """Reads shell, iopub and stdin for as long as this kernel process is connected."""
        channels = {
            "shell": client.shell_channel,
            "iopub": client.iopub_channel,
            "stdin": client.stdin_channel,
        }
        poller = zmq.asyncio.Poller()
        by_socket = {}
        for name, channel in channels.items():
            poller.register(channel.socket, zmq.POLLIN)
            by_socket[channel.socket] = (name, channel)
        try:
            while True:
                for sock, _ in await poller.poll(1000):
                    name, channel = by_socket[sock]
                    while True:
                        try:
                            msg = await channel.get_msg(timeout=0)
                        except Empty:
                            break
                        self._dispatch(name, msg)
        except asyncio.CancelledError:
            raise
        except Exception:  # a closed socket at restart/shutdown; executions notice the death
            log.debug("kernel message pump for %s stopped", self.label, exc_info=True)

    def _dispatch(self, channel: str, msg: Json) -> None:
        parent = (msg.get("parent_header") or {}).get("msg_id")
        if channel == "iopub" and self.comms.route(msg) != "other":
            # Widgets' own messages (comms, a captured output): not the running cell's.
            if self.comm_listener is not None:
                try:
                    self.comm_listener(to_wire(msg))
                except Exception:
                    log.exception("relaying a widget message failed")
            return
        queue = self._waiting.get(parent) if parent else None
        if queue is not None:
            queue.put_nowait((channel, msg))

    async def _execute(
        self,
        code: str,
        on_output: OutputCallback | None,
        timeout: float | None,
        generation: int,
        on_input: InputCallback | None,
        silent: bool,
    ) -> ExecutionResult:
        client = self._require_client()
        if not self.is_alive():
            raise self._died_error(during="before the cell ran")
        collector = OutputCollector(on_output)
        msg_id = client.execute(
            code,
            silent=silent,
            store_history=not silent,
            allow_stdin=on_input is not None,
            stop_on_error=not silent,
        )
        queue: asyncio.Queue[tuple[str, Json]] = asyncio.Queue()
        self._waiting[msg_id] = queue  # no await since execute(): nothing can be missed
        deadline = time.monotonic() + timeout if timeout is not None else None
        interrupted_at: float | None = None
        reply: Json | None = None
        reply_at = 0.0
        idle = False
        asking: asyncio.Task[None] | None = None
        try:
            while reply is None or not idle:
                try:
                    channel, msg = await asyncio.wait_for(queue.get(), 0.2)
                except asyncio.TimeoutError:  # 3.10: not the builtin
                    channel = ""
                    msg = {}
                if generation != self._generation:
                    return ExecutionResult(
                        status="aborted", execution_count=None, outputs=collector.outputs
                    )
                if channel == "iopub":
                    if msg["msg_type"] == "status":
                        idle = msg["content"]["execution_state"] == "idle"
                    else:
                        collector.handle(msg)
                elif channel == "shell":
                    reply = msg["content"]
                    reply_at = time.monotonic()
                elif channel == "stdin" and msg["msg_type"] == "input_request" and on_input:
                    if asking is not None:
                        asking.cancel()
                    content = msg["content"]
                    asking = asyncio.get_running_loop().create_task(
                        self._answer(
                            on_input, str(content.get("prompt", "")), bool(content.get("password"))
                        )
                    )
                if channel:
                    continue
                if reply is not None and time.monotonic() - reply_at > 2:
                    break  # replied, but the idle status was lost (iopub high-water mark): done
                if not self.is_alive():
                    raise self._died_error(during=self._while_running())
                now = time.monotonic()
                if deadline is not None and interrupted_at is None and now > deadline:
                    log.info("cell timed out after %s s; interrupting the kernel", timeout)
                    await self.interrupt()
                    interrupted_at = now
                elif interrupted_at is not None and now - interrupted_at > 10:
                    raise KernelError(
                        f"the kernel for {self.label} did not stop {self._while_running()} "
                        f"after the {timeout:g} s timeout, even when interrupted",
                        path=self.label,
                        cell=self.current_cell,
                        hint="Restart the kernel, or raise --timeout",
                        log=self.log_tail(),
                    )
            if self.late_output_grace > 0:
                await self._late_outputs(queue, collector)
        finally:
            self._waiting.pop(msg_id, None)
            if asking is not None and not asking.done():
                asking.cancel()  # the cell ended (an interrupt): nobody waits for the answer
        status: Status = reply.get("status", "error")
        if status not in ("ok", "error", "aborted"):
            status = "error"
        error = None
        if status == "error":
            error = {
                "ename": reply.get("ename", ""),
                "evalue": reply.get("evalue", ""),
                "traceback": reply.get("traceback", []),
            }
        return ExecutionResult(
            status=status,
            execution_count=None if silent else reply.get("execution_count"),
            outputs=collector.outputs,
            error=error,
            timed_out=interrupted_at is not None,
        )

    async def _late_outputs(
        self, queue: asyncio.Queue[tuple[str, Json]], collector: OutputCollector
    ) -> None:
        """Outputs of the cell that arrive after its idle status (Deno's kernel sends some), until
        iopub is quiet for `late_output_grace` seconds (at most 5 s in all)."""
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                channel, msg = await asyncio.wait_for(queue.get(), self.late_output_grace)
            except asyncio.TimeoutError:  # 3.10: not the builtin
                return
            if channel == "iopub" and msg["msg_type"] != "status":
                collector.handle(msg)

    async def _answer(self, on_input: InputCallback, prompt: str, password: bool) -> None:
        """input() waits in the kernel: the answer goes back on stdin; no answer interrupts it."""
        try:
            value = await on_input(prompt, password)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("asking for the input of %s failed", self.label)
            value = None
        if value is None:
            await self.interrupt()
            return
        client = self._client
        if client is not None:
            client.input(value)

    def send_comm(
        self,
        msg_type: str,
        content: Json,
        *,
        metadata: Json | None = None,
        buffers: list[bytes] | None = None,
        msg_id: str | None = None,
    ) -> str:
        """A widget front end's comm message to the kernel (shell); returns its msg_id, whose iopub
        messages then go back to the front end."""
        client = self._require_client()
        if not self.is_alive():
            raise self._died_error(during="while a widget talked to it")
        msg = client.session.msg(msg_type, content=content, metadata=metadata or {})
        if msg_id:
            msg["header"]["msg_id"] = msg_id
            msg["msg_id"] = msg_id
        self.comms.sent(msg["header"]["msg_id"])
        client.session.send(client.shell_channel.socket, msg, buffers=buffers or None)
        return str(msg["header"]["msg_id"])

    def _while_running(self) -> str:
        return (
            f"while running cell {self.current_cell}" if self.current_cell else "while running code"
        )

    # ---- control ---------------------------------------------------------------------------

    async def interrupt(self) -> None:
        """SIGINT to the kernel's process group, as jupyter-client does for ipykernel."""
        if self._proc is None or self._proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGINT)

    async def restart(self, timeout: float = 60.0) -> Json:
        """A fresh kernel process on the same connection file: all state is lost."""
        if self._closed or self._connection_file is None:
            raise KernelError(
                f"the kernel for {self.label} is not running",
                path=self.label,
                hint="Start it first",
            )
        self._generation += 1
        await self._stop_process(graceful=True, restart=True)
        self._disconnect()
        return await self._launch_and_wait(timeout)

    async def shutdown(self) -> None:
        """Stop the kernel (politely, then by force) and remove its runtime folder."""
        if self._closed:
            return
        self._closed = True
        self._generation += 1
        await self._stop_process(graceful=True)
        self._disconnect()
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)

    async def _stop_process(self, *, graceful: bool, restart: bool = False) -> None:
        proc = self._proc
        if proc is None:
            return
        if graceful and proc.poll() is None and self._client is not None:
            with contextlib.suppress(Exception):
                self._client.shutdown(restart=restart)
            for _ in range(100):  # up to 2 s for a clean exit
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.02)
        await self._kill()

    async def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        # The whole group: also the kernel's own children (a multiprocessing pool, a shell).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        for _ in range(250):
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.02)

    def kill_now(self) -> None:
        """Synchronous last resort (atexit): no kernel survives its session."""
        self._closed = True
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)


KERNEL_BOOT = Path(__file__).with_name("kernel_boot.py")


def python_kernel_argv(python: Path | str) -> list[str]:
    """ipykernel_launcher's start, without the TCP listener ipykernel opens beside IPC channels."""
    return [str(python), str(KERNEL_BOOT), "-f", "{connection_file}"]


def python_kernel_env(env_dir: Path | None) -> dict[str, str]:
    """What a kernel in `env_dir` sees: the environment activated, so `!pip` and `python` in a
    cell mean that environment and not the sidecar's."""
    env = {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}  # debugpy's frozen-modules warning on 3.11+
    if env_dir is None:
        return env
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    env["VIRTUAL_ENV"] = str(env_dir)
    env["PATH"] = str(bindir) + os.pathsep + os.environ.get("PATH", os.defpath)
    return env
