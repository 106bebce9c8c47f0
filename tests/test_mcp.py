"""``svcdoctor mcp``: a real MCP client session (the SDK's own client) over stdio, and the server's bounds."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SCENARIOS, run_cli

pytest.importorskip("mcp", reason="the MCP SDK is the optional extra svcdoctor[mcp] (it is in the test lock)")

BROKEN = SCENARIOS / "selector-label-renamed"


def _session(arguments: list[str], calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[Any]]:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def talk() -> tuple[list[str], list[Any]]:
        parameters = StdioServerParameters(command=sys.executable, args=["-m", "svcdoctor", "mcp", *arguments],
                                           env={**os.environ, "NO_COLOR": "1"})
        async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
            initialized = await session.initialize()
            assert initialized.serverInfo.name == "svcdoctor"
            listed = await session.list_tools()
            results = [await session.call_tool(name, arguments) for name, arguments in calls]
            return [tool.name for tool in listed.tools], results

    return asyncio.run(asyncio.wait_for(talk(), 120))


def _text(result: Any) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


@pytest.fixture
def snapshots(tmp_path: Path) -> Path:
    directory = tmp_path / "snapshots"
    directory.mkdir()
    shutil.copy(BROKEN / "snapshot.yaml", directory / "shop.yaml")
    (tmp_path / "secret.yaml").write_text("apiVersion: v1\nkind: List\nitems: []\n")
    (directory / "escape.yaml").symlink_to(tmp_path / "secret.yaml")
    return directory


def test_an_mcp_client_session_lists_the_tools_and_checks_a_service(snapshots: Path) -> None:
    expected = json.loads((BROKEN / "expected.json").read_text())
    args = yaml.safe_load((BROKEN / "scenario.yaml").read_text())["args"]
    name, namespace = args[1], args[args.index("-n") + 1]
    tools, results = _session(["--snapshots-dir", str(snapshots), "--no-live"], [
        ("check", {"name": name, "namespace": namespace, "snapshot": "shop.yaml"}),
        ("explain", {"check_id": expected["ranked"][0]}),
        ("check", {"name": name, "namespace": namespace, "snapshot": "../secret.yaml"}),
        ("check", {"name": name, "namespace": namespace, "snapshot": "escape.yaml"}),
        ("check", {"name": name, "namespace": namespace}),
    ])
    assert sorted(tools) == ["check", "explain", "reach", "scan"]
    report = json.loads(_text(results[0]))
    assert not results[0].isError
    assert report["schema"].startswith("svcdoctor/report/")
    assert report["verdict"] == expected["verdict"]
    assert [finding["id"] for finding in report["findings"]][:1] == expected["ranked"][:1]
    assert expected["ranked"][0] in _text(results[1])
    for refused in results[2:4]:
        assert refused.isError and "outside the snapshots directories" in _text(refused)
    assert results[4].isError and "snapshots only" in _text(results[4])


def test_no_tool_can_send_probes() -> None:
    from svcdoctor.serve.mcp import McpSettings, Tools, build_server

    server = build_server(McpSettings(snapshots_dirs=(str(BROKEN),)))
    tools = asyncio.run(server.list_tools())
    for tool in tools:
        properties = set(tool.inputSchema.get("properties", {}))
        assert not {name for name in properties if "probe" in name}, (tool.name, properties)
    assert Tools(McpSettings(snapshots_dirs=(str(BROKEN),))).invocation("snapshot.yaml", "shop").probe is False


def test_without_the_sdk_mcp_says_how_to_install_it_in_one_line() -> None:
    blocked = ("import sys; sys.modules['mcp'] = None; from svcdoctor.cli import run; "
               "sys.exit(run(['mcp']))")
    result = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["svcdoctor: error: svcdoctor mcp needs the MCP SDK: "
                                                  "pip install 'svcdoctor[mcp]'"]


def test_a_snapshots_dir_must_exist() -> None:
    result = run_cli("mcp", "--snapshots-dir", "/nonexistent/dir")
    assert result.exit_code == 2 and "not a directory" in result.stderr


def test_scan_and_reach_tools_answer_as_the_cli_does(snapshots: Path) -> None:
    """scan and reach over a recording: the same JSON documents as ``scan -o json`` and ``reach -o json``."""
    args = yaml.safe_load((BROKEN / "scenario.yaml").read_text())["args"]
    namespace = args[args.index("-n") + 1]
    recording = str(snapshots / "shop.yaml")
    _, results = _session(["--snapshots-dir", str(snapshots), "--no-live"], [
        ("scan", {"namespace": namespace, "snapshot": "shop.yaml"}),
        ("reach", {"namespaces": [namespace], "snapshot": "shop.yaml"}),
        ("scan", {"namespace": namespace, "snapshot": "/etc/passwd"}),
        ("reach", {"namespaces": [namespace], "snapshot": "../secret.yaml"}),
    ])
    assert not results[0].isError and not results[1].isError, (_text(results[0]), _text(results[1]))
    scanned = run_cli("scan", "-n", namespace, "--snapshot", recording, "-o", "json")
    assert _without_times(json.loads(_text(results[0]))) == _without_times(json.loads(scanned.stdout))
    reached = run_cli("reach", "-n", namespace, "--snapshot", recording, "-o", "json")
    assert json.loads(_text(results[1])) == json.loads(reached.stdout)
    assert json.loads(reached.stdout)["schema"] == "svcdoctor/reach/v1"
    for refused in results[2:]:
        assert refused.isError and "outside the snapshots directories" in _text(refused), _text(refused)


def _without_times(document: Any) -> Any:
    """A JSON document without the moments it was made at (a live read stamps each run)."""
    if isinstance(document, dict):
        return {key: _without_times(value) for key, value in document.items() if key not in ("capturedAt", "seconds")}
    if isinstance(document, list):
        return [_without_times(item) for item in document]
    return document


def test_live_tools_read_the_cluster_of_the_kubeconfig_given_at_start(tmp_path: Path) -> None:
    """check, scan and reach against ``snapshot serve`` (a real API server) through the real kubernetes client."""
    from svcdoctor.serve.apiserver import SnapshotAPIServer
    from svcdoctor.sources.files import load_objects

    expected = json.loads((BROKEN / "expected.json").read_text())
    args = yaml.safe_load((BROKEN / "scenario.yaml").read_text())["args"]
    name, namespace = args[1], args[args.index("-n") + 1]
    with SnapshotAPIServer([dict(obj) for obj in load_objects(str(BROKEN / "snapshot.yaml"))]) as server:
        kubeconfig = server.write_kubeconfig(str(tmp_path / "kubeconfig"), namespace=namespace)
        _, results = _session(["--kubeconfig", kubeconfig], [
            ("check", {"name": name, "namespace": namespace}),
            ("scan", {"namespace": namespace}),
            ("reach", {"namespaces": [namespace]}),
            ("check", {"name": name, "namespace": namespace, "probe": True, "max_probes": 64}),
            ("check", {"name": name, "namespace": namespace, "snapshot": "shop.yaml"}),
        ])
        log = server.requests()
    for result in results[:3]:
        assert not result.isError, _text(result)
    report = json.loads(_text(results[0]))
    assert report["source"]["kind"] == "live"
    assert report["verdict"] == expected["verdict"]
    assert [finding["id"] for finding in report["findings"]] == expected["ranked"]
    scanned = json.loads(_text(results[1]))
    assert [(entry["target"]["name"], entry["verdict"]) for entry in scanned["reports"]
            if entry["target"]["name"] == name] == [(name, expected["verdict"])], scanned
    assert json.loads(_text(results[2]))["schema"] == "svcdoctor/reach/v1"
    # Asked to probe, the tool either refuses the argument or ignores it: the same report, no packets.
    probed = results[3]
    assert probed.isError or _without_times(json.loads(_text(probed))) == _without_times(report)
    assert results[4].isError and "snapshots are not enabled" in _text(results[4])
    assert log and {entry.verb for entry in log} == {"GET"}, "a tool wrote to the cluster"


def test_an_unknown_argument_is_refused_and_errors_name_the_tools_parameters(snapshots: Path) -> None:
    """The SDK drops an argument a tool does not take: a misspelt client_pod would answer for clients in general."""
    _, results = _session(["--snapshots-dir", str(snapshots), "--no-live"], [
        ("check", {"name": "web", "namespace": "shop", "snapshot": "shop.yaml", "client": "shop/load"}),
        ("scan", {"namespace": "shop", "snapshot": "shop.yaml", "allNamespaces": True, "probe": True}),
        ("check", {"name": "web", "namespace": "shop", "snapshot": "shop.yaml", "client_pod": "shop/Web_1"}),
        ("scan", {"snapshot": "shop.yaml"}),
        ("check", {"name": "web", "namespace": "shop", "snapshot": "shop.yaml"}),
    ])
    assert results[0].isError, _text(results[0])
    assert _text(results[0]) == "check: unknown argument client; check takes name, namespace, client_pod, " \
                                "client_ip, snapshot"
    assert results[1].isError and "unknown arguments allNamespaces, probe; scan takes" in _text(results[1])
    for refused in results[2:4]:
        assert refused.isError, _text(refused)
        assert "--from" not in _text(refused) and "-n " not in _text(refused) and "-A" not in _text(refused)
    assert "check: client_pod 'shop/Web_1': Pod name 'Web_1' is not a valid" in _text(results[2]), _text(results[2])
    assert "namespace" in _text(results[3]) and "all_namespaces" in _text(results[3])
    assert not results[4].isError, _text(results[4])
