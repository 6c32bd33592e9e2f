"""Jobs and history in the editor, across a restart of the sidecar: add (syncing), a failing add
and a job cut short by a crash are listed with their statuses and logs by the next server, which
then reverts the file to its first version without building anything."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from lsp_helpers import Editor, request, start_client, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT = '# /// script\n# dependencies = ["tinyalpha"]\n# ///\nimport tinyalpha\n'


@pytest.fixture
def env(
    lsp_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, slow_sdist_maker: Any
) -> dict[str, str]:
    # A slow sdist in a folder of each test's own: a build a killed sidecar left running may still
    # finish (uv runs in its own process group), and uv would reuse that wheel from its cache.
    folder = tmp_path_factory.mktemp("slow-index")
    slow_sdist_maker(folder)
    e = dict(lsp_env)
    e["UV_FIND_LINKS"] = f"{folder},{lsp_env['UV_FIND_LINKS']}"
    e["TINYSLOW_STARTED"] = str(folder / "build-started")
    e["TINYSLOW_SECONDS"] = "30"
    e["ENVLENS_PREWARM"] = "0"  # no pool builds competing with these
    # The tiny test packages are names this user approved before (they are not on PyPI).
    config = tmp_path_factory.mktemp("jobs-config")
    (config / "allowlist.json").write_text(
        json.dumps({"version": 1, "packages": ["tinyalpha", "tinybeta", "tinyslow"]}),
        encoding="utf-8",
    )
    e["ENVLENS_CONFIG_DIR"] = str(config)
    return e


async def run(client: LanguageClient, command: str, *args: object) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(args))
    )


async def test_jobs_and_history_survive_a_restart(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "analysis.py"
    path.write_text(SCRIPT, encoding="utf-8")
    client, rec = await start_client(env)
    ed = Editor(client, rec, path, SCRIPT)
    await run(client, "envlens.trust", ed.uri)
    first = await run(client, "envlens.install", ed.uri)  # version 1
    assert first["version"] == 1
    added = await run(client, "envlens.add", ed.uri, ["tinybeta"], {"sync": True})  # version 2
    assert added["version"] == 2 and added["reused"] is False
    assert "tinybeta" in ed.text  # the buffer got the edit
    # A name PyPI does not have: added, not approved along; the user approves, the build fails.
    await run(client, "envlens.add", ed.uri, ["nosuchpkg"])
    await run(client, "envlens.trust", ed.uri)
    with pytest.raises(Exception, match="nosuchpkg") as failed:
        await run(client, "envlens.sync", ed.uri)  # version 3
    assert "Its kernel stays on version 2, the last that built" in str(failed.value)
    # A kernel started now runs in version 2's environment, and the editor is told so.
    shown = len(client.messages)
    kernel = await request(client, "envlens/kernel/start", {"uri": ed.uri})
    assert kernel["key"] == added["key"]
    assert "the kernel runs in version 2, the last that built" in kernel["note"]
    warning = await wait_for(lambda: client.messages[shown:], what="the last-good warning")
    assert warning[0].type == types.MessageType.Warning and "nosuchpkg" in warning[0].message
    await request(client, "envlens/kernel/shutdown", {"sessionId": kernel["sessionId"]})
    await run(client, "envlens.remove", ed.uri, ["nosuchpkg"])  # an edit only, no build
    slow = asyncio.ensure_future(run(client, "envlens.add", ed.uri, ["tinyslow"], {"sync": True}))
    await wait_for(Path(env["TINYSLOW_STARTED"]).exists, timeout=120, what="the slow build")
    running = (await request(client, "envlens/jobs", {"uri": ed.uri}))["jobs"]
    assert [(j["kind"], j["status"]) for j in running] == [
        ("sync", "succeeded"),
        ("add", "succeeded"),
        ("add", "succeeded"),
        ("sync", "failed"),
        ("remove", "succeeded"),
        ("add", "running"),
    ]
    path.write_text(ed.text, encoding="utf-8")  # the user saves
    client._server.kill()  # the sidecar dies in the middle of a job (SIGKILL: no goodbye)
    with pytest.raises(Exception):  # noqa: B017 - the request dies with its server
        await slow
    await client.stop()

    client, rec = await start_client(env)
    try:
        ed = Editor(client, rec, path, path.read_text(encoding="utf-8"))
        listed = (await request(client, "envlens/jobs", {"uri": ed.uri}))["jobs"]
        assert [(j["kind"], j["status"]) for j in listed] == [
            ("sync", "succeeded"),
            ("add", "succeeded"),
            ("add", "succeeded"),
            ("sync", "failed"),
            ("remove", "succeeded"),
            ("add", "cancelled"),
        ]
        assert [j["version"] for j in listed] == [1, 2, None, 3, None, None]
        assert "nosuchpkg" in listed[3]["error"] and "nosuchpkg" in listed[3]["log"]
        assert "exited before it finished" in listed[5]["error"]
        log = await request(client, "envlens/jobLog", {"id": listed[3]["id"]})
        assert "$ " in log["log"]  # uv's own output is in the job's log
        info = await request(client, "envlens/environment", {"uri": ed.uri})
        assert [o["status"] for o in info["operations"]][-1] == "cancelled"

        history = await request(client, "envlens/history", {"uri": ed.uri})
        assert [v["status"] for v in history["versions"]] == ["ready", "ready", "failed"]
        assert history["inUse"] == 2  # the last good version: the kernel stays on it
        assert history["versions"][2]["summary"] == "declared +nosuchpkg"
        failed_log = await request(client, "envlens/historyLog", {"uri": ed.uri, "version": 3})
        assert "nosuchpkg" in failed_log["log"]

        envs = Path(env["ENVLENS_CACHE_DIR"]) / "envs"
        before = sorted(p.name for p in envs.iterdir() if (p / "ready").exists())
        reverted = await run(client, "envlens.revert", ed.uri, 1)
        assert reverted["revertedTo"] == 1 and reverted["version"] == 4
        assert reverted["built"] is False and reverted["key"] == history["versions"][0]["key"]
        assert sorted(p.name for p in envs.iterdir() if (p / "ready").exists()) == before
        assert ed.text == SCRIPT  # version 1's declaration, in the editor's buffer
        after = await request(client, "envlens/history", {"uri": ed.uri})
        assert after["inUse"] == 4 and after["versions"][3]["action"] == "revert"
        assert after["versions"][3]["revertedFrom"] == 1
        jobs = (await request(client, "envlens/jobs", {"uri": ed.uri}))["jobs"]
        assert (jobs[-1]["kind"], jobs[-1]["status"], jobs[-1]["version"]) == (
            "revert",
            "succeeded",
            4,
        )
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_second_job_of_a_file_waits_queued(env: dict[str, str], tmp_path: Path) -> None:
    client, rec = await start_client(env)
    try:
        path = tmp_path / "queue.py"
        text = '# /// script\n# dependencies = ["tinyslow"]\n# ///\n'
        path.write_text(text, encoding="utf-8")
        ed = Editor(client, rec, path, text)
        await run(client, "envlens.trust", ed.uri)
        started = Path(env["TINYSLOW_STARTED"])
        started.unlink(missing_ok=True)
        slow = asyncio.ensure_future(run(client, "envlens.install", ed.uri))
        await wait_for(started.exists, timeout=120, what="the slow build")
        second = asyncio.ensure_future(
            run(client, "envlens.add", ed.uri, ["tinyalpha"], {"sync": True})
        )

        async def statuses() -> list[str]:
            return [
                j["status"]
                for j in (await request(client, "envlens/jobs", {"uri": ed.uri}))["jobs"]
            ]

        deadline = asyncio.get_running_loop().time() + 30
        while (s := await statuses()) != ["running", "queued"]:
            assert asyncio.get_running_loop().time() < deadline, s
            await asyncio.sleep(0.2)
        await asyncio.wait_for(slow, timeout=180)
        await asyncio.wait_for(second, timeout=180)
        assert await statuses() == ["succeeded", "succeeded"]
    finally:
        await client.shutdown_session()
        await client.stop()
