"""Kernel sessions on real ipykernel kernels (the dev venv's Python has ipykernel)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import pytest_asyncio

from envlens.errors import KernelError, ToolUnavailableError
from envlens.kernels.deno import deno_kernel_argv
from envlens.kernels.session import KernelSession, python_kernel_argv, python_kernel_env

DEV_PYTHON = Path(sys.executable)
REPO = Path(__file__).resolve().parents[1]

module_loop = pytest.mark.asyncio(loop_scope="module")


def new_session(tmp: Path, argv: list[str] | None = None) -> KernelSession:
    return KernelSession(
        argv or python_kernel_argv(DEV_PYTHON),
        cwd=tmp,
        label=str(tmp / "demo.ipynb"),
        env=python_kernel_env(None),
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def kernel(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[KernelSession]:
    session = new_session(tmp_path_factory.mktemp("kernel"))
    await session.start()
    yield session
    await session.shutdown()


@module_loop
async def test_start_reports_kernel_info_and_listens_on_private_ipc(kernel: KernelSession) -> None:
    assert kernel.is_alive()
    assert kernel.kernel_info["language_info"]["name"] == "python"
    assert kernel.connection_info["transport"] == "ipc"
    assert kernel.runtime_dir is not None
    # Only the owner can reach the sockets (ipykernel adds the sticky bit).
    assert stat.S_IMODE(kernel.runtime_dir.stat().st_mode) & 0o777 == 0o700


@module_loop
async def test_working_folder_is_the_files_folder(kernel: KernelSession) -> None:
    result = await kernel.execute("import os; os.getcwd()")
    assert result.outputs[0]["data"]["text/plain"] == repr(str(kernel.cwd))


@module_loop
async def test_outputs_are_nbformat_and_streams_coalesce(kernel: KernelSession) -> None:
    seen: list[dict[str, Any]] = []
    code = textwrap.dedent(
        """
        import sys
        from IPython.display import HTML, display
        print("one"); print("two")
        print("err", file=sys.stderr)
        display(HTML("<b>bold</b>"))
        print("three")
        40 + 2
        """
    )
    result = await kernel.execute(code, on_output=seen.append)
    assert result.status == "ok"
    kinds = [(o["output_type"], o.get("name")) for o in result.outputs]
    assert kinds == [
        ("stream", "stdout"),
        ("stream", "stderr"),
        ("display_data", None),
        ("stream", "stdout"),
        ("execute_result", None),
    ]
    assert result.outputs[0]["text"] == "one\ntwo\n"
    assert result.outputs[2]["data"]["text/html"] == "<b>bold</b>"
    assert result.outputs[4]["data"]["text/plain"] == "42"
    assert result.outputs[4]["execution_count"] == result.execution_count
    # The callback saw every output as it came (before coalescing).
    assert "".join(o["text"] for o in seen if o.get("name") == "stdout") == "one\ntwo\nthree\n"


@module_loop
async def test_error_output(kernel: KernelSession) -> None:
    result = await kernel.execute("1/0")
    assert result.status == "error"
    assert result.error is not None
    assert result.error["ename"] == "ZeroDivisionError"
    assert result.error["evalue"] == "division by zero"
    assert result.outputs[-1]["output_type"] == "error"


@module_loop
async def test_clear_output_and_display_update(kernel: KernelSession) -> None:
    code = textwrap.dedent(
        """
        from IPython.display import clear_output, display
        print("gone")
        clear_output()
        h = display("first", display_id=True)
        h.update("second")
        """
    )
    result = await kernel.execute(code)
    assert [o["output_type"] for o in result.outputs] == ["display_data"]
    assert result.outputs[0]["data"]["text/plain"] == "'second'"


@module_loop
async def test_interrupt_stops_a_long_cell_and_kernel_stays_usable(kernel: KernelSession) -> None:
    import asyncio

    await kernel.execute("marker = 'kept'")
    task = asyncio.create_task(kernel.execute("import time; time.sleep(60)"))
    await asyncio.sleep(1.0)
    started = time.monotonic()
    await kernel.interrupt()
    result = await asyncio.wait_for(task, 15)
    assert time.monotonic() - started < 10
    assert result.status == "error"
    assert result.error is not None and result.error["ename"] == "KeyboardInterrupt"
    after = await kernel.execute("marker")
    assert after.outputs[0]["data"]["text/plain"] == "'kept'"


@module_loop
async def test_timeout_interrupts_the_cell(kernel: KernelSession) -> None:
    result = await kernel.execute("import time; time.sleep(60)", timeout=1.0)
    assert result.timed_out
    assert result.error is not None and result.error["ename"] == "KeyboardInterrupt"


@module_loop
async def test_restart_loses_state(tmp_path: Path) -> None:
    session = new_session(tmp_path)
    await session.start()
    try:
        first_pid = session.pid
        await session.execute("state = 1")
        await session.restart()
        assert session.pid != first_pid
        assert first_pid is not None and not psutil.pid_exists(first_pid)
        result = await session.execute("'state' in globals()")
        assert result.outputs[0]["data"]["text/plain"] == "False"
        assert result.execution_count == 1
    finally:
        await session.shutdown()


@module_loop
async def test_shutdown_ends_the_process_and_removes_the_runtime_folder(tmp_path: Path) -> None:
    session = new_session(tmp_path)
    await session.start()
    pid, runtime = session.pid, session.runtime_dir
    assert pid is not None and runtime is not None
    await session.shutdown()
    assert not session.is_alive()
    assert not psutil.pid_exists(pid)
    assert not runtime.exists()


@module_loop
async def test_a_kernel_that_dies_in_a_cell_is_a_kernel_error(tmp_path: Path) -> None:
    session = new_session(tmp_path)
    await session.start()
    try:
        with pytest.raises(KernelError) as info:
            await session.execute("import os; os._exit(3)", cell=2)
        err = info.value
        assert "died (exit code 3) while running cell 2" in err.message
        assert str(tmp_path / "demo.ipynb") in err.one_line()
        assert err.hint and "Restart" in err.hint
        # It can be brought back.
        await session.restart()
        assert (await session.execute("1")).status == "ok"
    finally:
        await session.shutdown()


@module_loop
async def test_a_kernel_that_cannot_start_is_a_kernel_error(tmp_path: Path) -> None:
    session = new_session(
        tmp_path, [str(DEV_PYTHON), "-c", "import sys; print('boom'); sys.exit(4)"]
    )
    with pytest.raises(KernelError) as info:
        await session.start(timeout=20)
    assert "died (exit code 4) while starting" in info.value.message
    assert "boom" in (info.value.log or "")


@module_loop
async def test_tcp_fallback_works(tmp_path: Path) -> None:
    session = KernelSession(
        python_kernel_argv(DEV_PYTHON), cwd=tmp_path, label="t.ipynb", transport="tcp"
    )
    await session.start()
    try:
        assert session.connection_info["transport"] == "tcp"
        assert session.connection_info["ip"] == "127.0.0.1"
        assert (await session.execute("print('hi')")).outputs[0]["text"] == "hi\n"
    finally:
        await session.shutdown()


def test_missing_deno_is_an_error_saying_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ENVLENS_TOOLS_DIR", str(tmp_path / "tools"))
    monkeypatch.delenv("ENVLENS_DENO", raising=False)
    with pytest.raises(ToolUnavailableError) as info:
        deno_kernel_argv(tmp_path / "ts.ipynb")
    text = info.value.one_line()
    assert "Deno is not installed" in text and "ts.ipynb" in text
    assert "envlens install ts.ipynb" in text


CHILD = """
import asyncio, json, sys, time
from pathlib import Path
from envlens.kernels.session import KernelSession, python_kernel_argv

async def main():
    env = json.loads(sys.argv[1])
    s = KernelSession(python_kernel_argv(sys.executable), cwd=Path.cwd(), label="orphan.ipynb", env=env)
    await s.start()
    print(s.pid, flush=True)
    time.sleep(600)

asyncio.run(main())
"""


@pytest.mark.parametrize(
    "kernel_env",
    [
        {},
        pytest.param(
            {"JPY_PARENT_PID": "0"},
            marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only"),
        ),
    ],
    ids=["default", "death-signal-alone"],  # without ipykernel's parent polling: PR_SET_PDEATHSIG
)
def test_no_kernel_outlives_a_killed_parent(tmp_path: Path, kernel_env: dict[str, str]) -> None:
    import json

    child = subprocess.Popen(
        [str(DEV_PYTHON), "-c", CHILD, json.dumps(kernel_env)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "server")},
    )
    try:
        assert child.stdout is not None
        kernel_pid = int(child.stdout.readline())
        kernel = psutil.Process(kernel_pid)
        assert kernel.is_running()
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        try:
            kernel.wait(timeout=5)
        except psutil.TimeoutExpired:
            kernel.kill()
            pytest.fail("the kernel outlived its parent by 5 s")
        assert not psutil.pid_exists(kernel_pid) or kernel.status() == psutil.STATUS_ZOMBIE
    finally:
        if child.poll() is None:
            child.kill()


# --- the LSP requests, against a real `envlens serve` -----------------------------------------


def text_plain(output: Any) -> str:
    """pygls's client hands custom results over as namedtuples, renaming 'text/plain' (not an
    identifier) to a positional field: these outputs have that one MIME type only."""
    assert len(output.data) == 1
    return str(output.data[0])


async def start_lsp(env: dict[str, str]) -> tuple[Any, list[Any]]:
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, client_capabilities

    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "envlens", "serve"], server_env=env
    )
    client = await config.start()
    outputs: list[Any] = []

    @client.feature("envlens/kernel/output")
    def on_output(params: Any) -> None:
        outputs.append(params)

    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"), process_id=os.getpid()
        )
    )
    return client, outputs


@pytest.fixture(scope="module")
def lsp_notebook(tmp_path_factory: pytest.TempPathFactory, lsp_env: dict[str, str]) -> Path:
    nb = tmp_path_factory.mktemp("kernel-lsp") / "lsp.ipynb"
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": ["# /// script\n", '# dependencies = ["tinyalpha"]\n', "# ///"],
    }
    nb.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    # The server starts kernels only for approved files (docs/trust.md).
    subprocess.run(
        [sys.executable, "-m", "envlens", "trust", "--yes", str(nb)], env=lsp_env, check=True
    )
    return nb


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def lsp(lsp_env: dict[str, str], lsp_notebook: Path) -> AsyncIterator[tuple[Any, list[Any]]]:
    # The user approved the notebook's dependencies (the trust dialog, here its CLI form).
    subprocess.run(
        [sys.executable, "-m", "envlens", "trust", str(lsp_notebook), "--yes"],
        env=lsp_env,
        check=True,
        capture_output=True,
    )
    client, outputs = await start_lsp(lsp_env)
    yield client, outputs
    await client.shutdown_session()
    await client.stop()


async def request(client: Any, method: str, **params: Any) -> Any:
    return await client.protocol.send_request_async(method, params)


@module_loop
async def test_lsp_kernel_start_execute_interrupt_restart_shutdown(
    lsp: tuple[Any, list[Any]], lsp_notebook: Path
) -> None:
    import asyncio

    from envlens.resolve import resolve

    client, outputs = lsp
    started = await request(client, "envlens/kernel/start", uri=lsp_notebook.as_uri())
    assert started.key == resolve(lsp_notebook).key
    assert started.pythonVersion.startswith("3.")
    assert started.label == f"Python {started.pythonVersion} (envlens: tinyalpha)"
    sid = started.sessionId

    code = "import os, tinyalpha\nprint(tinyalpha.__version__)\nos.getpid()"
    result = await request(
        client, "envlens/kernel/execute", sessionId=sid, code=code, executionId="e1"
    )
    assert result.status == "ok" and result.executionCount == 1
    assert result.outputs[0].text == "2.0\n"
    kernel_pid = int(text_plain(result.outputs[1]))
    # Each output was also streamed while the cell ran.
    streamed = [o for o in outputs if o.executionId == "e1"]
    assert streamed[0].sessionId == sid and streamed[0].output.text == "2.0\n"

    sleeping = asyncio.create_task(
        request(
            client,
            "envlens/kernel/execute",
            sessionId=sid,
            code="import time; time.sleep(60)",
            executionId="e2",
        )
    )
    await asyncio.sleep(1.0)
    await request(client, "envlens/kernel/interrupt", sessionId=sid)
    interrupted = await asyncio.wait_for(sleeping, 15)
    assert interrupted.status == "error" and interrupted.error.ename == "KeyboardInterrupt"

    await request(client, "envlens/kernel/restart", sessionId=sid)
    assert not psutil.pid_exists(kernel_pid)
    again = await request(
        client, "envlens/kernel/execute", sessionId=sid, code="'os' in dir()", executionId="e3"
    )
    assert text_plain(again.outputs[0]) == "False"

    await request(client, "envlens/kernel/shutdown", sessionId=sid)
    with pytest.raises(Exception, match="there is no kernel session") as info:
        await request(client, "envlens/kernel/execute", sessionId=sid, code="1", executionId="e4")
    assert "Start the kernel again" in str(info.value)


@module_loop
async def test_lsp_kernel_start_failure_is_one_line_error(
    lsp: tuple[Any, list[Any]], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('# /// script\n# dependencies = ["not a requirement!"]\n# ///\n')
    with pytest.raises(Exception, match=r"bad\.py:2.*invalid requirement"):
        await request(client=lsp[0], method="envlens/kernel/start", uri=bad.as_uri())


@module_loop
async def test_lsp_kernels_die_with_a_killed_server(
    lsp: tuple[Any, list[Any]], lsp_env: dict[str, str], lsp_notebook: Path
) -> None:
    client, _ = await start_lsp(lsp_env)
    try:
        started = await request(client, "envlens/kernel/start", uri=lsp_notebook.as_uri())
        result = await request(
            client,
            "envlens/kernel/execute",
            sessionId=started.sessionId,
            code="import os; os.getpid()",
            executionId="p",
        )
        pid = int(text_plain(result.outputs[0]))
        assert psutil.pid_exists(pid)
        server = psutil.Process(pid).parent()
        assert server is not None and "serve" in " ".join(server.cmdline())
        server.kill()  # the worst case: no LSP shutdown, no atexit
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).wait(timeout=5)
        assert not psutil.pid_exists(pid)
    finally:
        with contextlib.suppress(Exception):
            await client.stop()


@module_loop
async def test_lsp_shutdown_stops_every_kernel(
    lsp: tuple[Any, list[Any]], lsp_env: dict[str, str], lsp_notebook: Path
) -> None:
    client, _ = await start_lsp(lsp_env)
    try:
        started = await request(client, "envlens/kernel/start", uri=lsp_notebook.as_uri())
        result = await request(
            client,
            "envlens/kernel/execute",
            sessionId=started.sessionId,
            code="import os; os.getpid()",
            executionId="p",
        )
        pid = int(text_plain(result.outputs[0]))
        await client.shutdown_session()  # the kernel was never shut down by the client
        assert not psutil.pid_exists(pid)
    finally:
        with contextlib.suppress(Exception):
            await client.stop()
