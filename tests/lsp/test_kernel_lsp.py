"""The editor's kernel through the sidecar: untitled notebooks, input(), widgets' comm messages,
`%pip install` cells, and a declaration change reaching a running kernel (hot add or restart).

Real `envlens serve`, real uv and ipykernel kernels; packages from the tiny index plus a wheel made
here whose module is importable only through its `.pth` file.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsp_helpers import Notebook, plain, request, start_client, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


_ZIP_DATE = (2020, 1, 1, 0, 0, 0)


def pth_wheel(folder: Path) -> None:
    """`tinypth`: its module lives in a folder that only `tinypth.pth` puts on sys.path."""
    info = "tinypth-1.0.dist-info"
    files = {
        "tinypth.pth": "tinypth_src\n",
        "tinypth_src/tinypth_real.py": "VALUE = 'from the pth folder'\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: tinypth\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: envlens-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = [_record_line(n, t.encode()) for n, t in files.items()] + [f"{info}/RECORD,,"]
    with zipfile.ZipFile(folder / "tinypth-1.0-py3-none-any.whl", "w") as zf:
        for n, text in [*files.items(), (f"{info}/RECORD", "\n".join(record) + "\n")]:
            zf.writestr(zipfile.ZipInfo(n, _ZIP_DATE), text)


class Kernel:
    """What the client side of the kernel protocol sees: widget messages and input() requests."""

    def __init__(self) -> None:
        self.comms: list[dict[str, Any]] = []
        self.inputs: list[dict[str, Any]] = []
        self.answers: dict[str, str | None] = {}  # prompt -> the user's answer (None: dismissed)
        self.release = asyncio.Event()  # ends a request nobody answers (the test is over)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def kernel_session(lsp_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    extra = tmp_path_factory.mktemp("pth-index")
    pth_wheel(extra)
    env = {**lsp_env, "UV_FIND_LINKS": f"{lsp_env['UV_FIND_LINKS']},{extra}"}
    client, rec = await start_client(env)
    k = Kernel()

    @client.feature("envlens/kernel/comm")
    def on_comm(params: Any) -> None:
        k.comms.append(plain(params))

    @client.feature("envlens/kernel/input")
    async def on_input(params: Any) -> dict[str, Any]:
        asked = plain(params)
        k.inputs.append(asked)
        while asked["prompt"] not in k.answers and not k.release.is_set():
            await asyncio.sleep(0.05)  # answered when the test says so, as a user would, late
        return {"value": k.answers.get(asked["prompt"])}

    root = tmp_path_factory.mktemp("workspace")
    (root / ".git").mkdir()
    client.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(
            event=types.WorkspaceFoldersChangeEvent(
                added=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")], removed=[]
            )
        )
    )
    yield client, rec, k, root
    k.release.set()
    await client.shutdown_session()
    await client.stop()


DECL = '# /// script\n# requires-python = ">=3.10"\n# dependencies = [{deps}]\n# ///'


def decl(*deps: str) -> str:
    return DECL.format(deps=", ".join(f'"{d}"' for d in deps))


async def trust(client: LanguageClient, uri: str) -> None:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="envlens.trust", arguments=[uri])
    )
    assert isinstance(result, dict) and result["trusted"], result


async def execute(client: LanguageClient, session_id: str, code: str) -> dict[str, Any]:
    return dict(
        await request(
            client,
            "envlens/kernel/execute",
            {"sessionId": session_id, "code": code, "executionId": code[:20]},
        )
    )


def text(result: dict[str, Any]) -> str:
    return "".join(
        o["text"] if isinstance(o["text"], str) else "".join(o["text"])
        for o in result["outputs"]
        if o["output_type"] == "stream"
    )


async def test_untitled_notebook_runs_in_its_in_memory_declaration(kernel_session: Any) -> None:
    client, rec, _, root = kernel_session
    uri = "untitled:Untitled-1.ipynb?jupyter-notebook"
    nb = Notebook(client, rec, root / "Untitled-1.ipynb", [("code", decl("tinyalpha"))], uri=uri)
    res = await request(client, "envlens/resolve", {"uri": uri})
    assert res["requirements"] == ["tinyalpha"]
    assert res["path"] == str(root / "Untitled-1.ipynb")
    assert not (root / "Untitled-1.ipynb").exists()
    state = await request(client, "envlens/trustState", {"uri": uri})
    assert state["trusted"] is False and state["packages"] == ["tinyalpha"]
    await trust(client, uri)
    started = await request(client, "envlens/kernel/start", {"uri": uri})
    assert started["key"] == res["key"]
    out = await execute(
        client,
        started["sessionId"],
        "import os, tinyalpha\nprint(tinyalpha.__version__, os.getcwd())",
    )
    assert out["status"] == "ok"
    assert text(out).split() == ["2.0", str(root)]  # relative paths: the workspace folder
    await request(client, "envlens/kernel/shutdown", {"sessionId": started["sessionId"]})
    nb.close()


async def test_input_and_getpass_ask_the_client_and_interrupt_stops_a_waiting_input(
    kernel_session: Any,
) -> None:
    client, rec, k, root = kernel_session
    path = root / "ask.ipynb"
    nb = Notebook(client, rec, path, [("code", decl("tinyalpha"))])
    await trust(client, nb.uri)
    started = await request(client, "envlens/kernel/start", {"uri": nb.uri})
    sid = started["sessionId"]
    k.answers["Your name? "] = "Ada"
    out = await execute(client, sid, 'name = input("Your name? ")\nprint("hello", name)')
    assert out["status"] == "ok" and "hello Ada" in text(out)
    assert k.inputs[-1]["prompt"] == "Your name? " and k.inputs[-1]["password"] is False
    k.answers["Token: "] = "s3cret"
    out = await execute(
        client, sid, 'import getpass\npw = getpass.getpass("Token: ")\nprint(len(pw))'
    )
    assert out["status"] == "ok" and text(out).strip().endswith("6")
    assert k.inputs[-1]["prompt"] == "Token: " and k.inputs[-1]["password"] is True

    # Nobody answers: Interrupt ends the cell with KeyboardInterrupt, the kernel keeps its state.
    waiting = asyncio.ensure_future(execute(client, sid, 'input("never answered: ")'))
    await wait_for(lambda: k.inputs[-1]["prompt"] == "never answered: ", 30, "the input request")
    await request(client, "envlens/kernel/interrupt", {"sessionId": sid})
    out = await asyncio.wait_for(waiting, 30)
    # ipykernel answers "error" (KeyboardInterrupt) or, when the signal comes before it waits on
    # stdin, "aborted": either way the cell ended.
    assert out["status"] in ("error", "aborted"), out
    if out["status"] == "error":
        assert out["error"]["ename"] == "KeyboardInterrupt"
    out = await execute(client, sid, "print('still', name)")
    assert text(out).strip() == "still Ada"
    # The input box of the interrupted cell closes after the fact (VS Code answers it then): the
    # late answer is no error for the user (it was "Error in server: CANCELLED ..." once).
    shown = len(client.messages)
    k.answers["never answered: "] = None
    await wait_for(lambda: k.inputs[-1]["prompt"] == "never answered: ", 5, "the same request")
    await asyncio.sleep(0.5)
    out = await execute(client, sid, "print('after the late answer')")
    assert text(out).strip() == "after the late answer"
    assert not [m.message for m in client.messages[shown:]], "a message box after a late answer"
    # An answer of None (the input box was dismissed) interrupts the cell too.
    k.answers["dismissed: "] = None
    out = await execute(client, sid, 'input("dismissed: ")')
    assert out["status"] == "error" and out["error"]["ename"] == "KeyboardInterrupt"
    await request(client, "envlens/kernel/shutdown", {"sessionId": sid})
    nb.close()


async def test_comm_messages_are_relayed_both_ways(kernel_session: Any) -> None:
    """What a widget library does, with the kernel's own `comm` package (no ipywidgets needed)."""
    client, rec, k, root = kernel_session
    nb = Notebook(client, rec, root / "comms.ipynb", [("code", decl("tinyalpha"))])
    await trust(client, nb.uri)
    sid = (await request(client, "envlens/kernel/start", {"uri": nb.uri}))["sessionId"]
    k.comms.clear()
    out = await execute(
        client,
        sid,
        "import comm\n"
        "got = []\n"
        "c = comm.create_comm(target_name='jupyter.widget', data={'state': {'value': 7}},"
        " buffers=[b'\\x00\\x01'])\n"
        "def on_msg(msg):\n"
        "    got.append(msg['content']['data'])\n"
        "    print('kernel got', msg['content']['data']['state']['value'])\n"
        "    c.send({'method': 'update', 'state': {'value': 99}})\n"
        "c.on_msg(on_msg)\n"
        "print('opened')",
    )
    assert out["status"] == "ok" and text(out).strip() == "opened"  # the comm is not an output
    opened = await wait_for(
        lambda: [m for m in k.comms if m["msg"]["msgType"] == "comm_open"], 10, "comm_open"
    )
    wire = opened[0]["msg"]
    assert opened[0]["sessionId"] == sid
    assert wire["content"]["data"] == {"state": {"value": 7}}
    assert wire["buffers"] == ["AAE="]  # base64 of b"\x00\x01"
    comm_id = wire["content"]["comm_id"]

    sent = await request(
        client,
        "envlens/kernel/commSend",
        {
            "sessionId": sid,
            "msgType": "comm_msg",
            "msgId": "front-end-1",
            "content": {"comm_id": comm_id, "data": {"method": "update", "state": {"value": 8}}},
        },
    )
    assert sent == {"msgId": "front-end-1"}
    replies = await wait_for(
        lambda: [
            m["msg"]
            for m in k.comms
            if m["msg"]["parentMsgId"] == "front-end-1"
            and m["msg"]["msgType"] == "status"
            and m["msg"]["content"]["execution_state"] == "idle"
        ],
        10,
        "the idle status of the front end's message",
    )
    assert replies
    related = [m["msg"] for m in k.comms if m["msg"]["parentMsgId"] == "front-end-1"]
    kinds = [m["msgType"] for m in related]
    assert "comm_msg" in kinds and "stream" in kinds
    assert [m["content"]["data"] for m in related if m["msgType"] == "comm_msg"] == [
        {"method": "update", "state": {"value": 99}}
    ]
    out = await execute(client, sid, "print(got)")
    assert "'value': 8" in text(out)
    with pytest.raises(Exception, match="cannot send 'execute_request'"):
        await request(
            client,
            "envlens/kernel/commSend",
            {"sessionId": sid, "msgType": "execute_request", "content": {"code": "1"}},
        )
    await request(client, "envlens/kernel/shutdown", {"sessionId": sid})
    nb.close()


async def test_pip_cell_says_what_to_declare(kernel_session: Any) -> None:
    client, *_ = kernel_session
    found = await request(
        client, "envlens/kernel/pipCell", {"code": "%pip install tinyimg 'tinybeta>=1'\nx = 1\n"}
    )
    assert found == {
        "requirements": ["tinyimg", "tinybeta>=1"],
        "problems": [],
        "remaining": "x = 1\n",
        "lines": ["%pip install tinyimg 'tinybeta>=1'"],
    }
    found = await request(client, "envlens/kernel/pipCell", {"code": "!pip install -r req.txt"})
    assert found["requirements"] == [] and "installs from a file" in found["problems"][0]
    assert await request(client, "envlens/kernel/pipCell", {"code": "print('pip install')"}) is None


async def test_added_packages_reach_the_running_kernel_and_other_changes_need_a_restart(
    kernel_session: Any,
) -> None:
    client, rec, _, root = kernel_session
    nb = Notebook(
        client, rec, root / "grow.ipynb", [("code", decl("tinyalpha==1.0")), ("code", "")]
    )
    await trust(client, nb.uri)
    started = await request(client, "envlens/kernel/start", {"uri": nb.uri})
    sid = started["sessionId"]
    out = await execute(
        client,
        sid,
        "state = 41\ntry:\n    import tinypth_real\nexcept ImportError as e:\n    print(type(e).__name__)",
    )
    assert text(out).strip() == "ModuleNotFoundError"  # tried before: a negative cache to clear

    nb.set_cell(0, decl("tinyalpha==1.0", "tinyimg", "tinypth"))
    await trust(client, nb.uri)
    updated = await request(client, "envlens/kernel/update", {"sessionId": sid, "uri": nb.uri})
    assert updated["status"] == "added", updated
    assert updated["key"] == updated["newKey"] != started["key"]
    assert sorted(updated["added"]) == ["tinyimg 1.0", "tinypth 1.0"]
    out = await execute(
        client,
        sid,
        "import timg, tinypth_real, tinyalpha, sys, os\n"
        "print(state + 1, timg.__version__, tinypth_real.VALUE)\n"
        "print(os.environ['VIRTUAL_ENV'])",
    )
    assert out["status"] == "ok", out
    lines = text(out).splitlines()
    assert lines[0] == "42 1.0 from the pth folder"
    assert lines[1].endswith(updated["key"])
    again = await request(client, "envlens/kernel/update", {"sessionId": sid, "uri": nb.uri})
    assert again["status"] == "current"

    # A version change cannot happen in place: the kernel keeps running, the caller asks the user.
    nb.set_cell(0, decl("tinyalpha==2.0", "tinyimg", "tinypth"))
    await trust(client, nb.uri)
    updated = await request(client, "envlens/kernel/update", {"sessionId": sid, "uri": nb.uri})
    assert updated["status"] == "restart"
    assert updated["reason"] == "installed versions change: tinyalpha 1.0 -> 2.0"
    out = await execute(client, sid, "print(state)")
    assert text(out).strip() == "41"
    # After an in-place update, a restart starts in the environment the kernel took.
    await request(client, "envlens/kernel/restart", {"sessionId": sid})
    out = await execute(client, sid, "import timg, tinyalpha\nprint(tinyalpha.__version__)")
    assert text(out).strip() == "1.0"
    await request(client, "envlens/kernel/shutdown", {"sessionId": sid})
    nb.close()
