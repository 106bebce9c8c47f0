"""snapshot serve hardened: Host allowlist, per-run token, size and header limits, timeouts, bounded pool and log."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from svcdoctor.serve import apiserver
from svcdoctor.serve.apiserver import SnapshotAPIServer
from tests.conftest import ROOT, SCENARIOS, run_cli

SNAPSHOT = SCENARIOS / "readiness-probe-failing" / "snapshot.yaml"


def objects() -> list[dict]:
    return yaml.safe_load(SNAPSHOT.read_text())["items"]


def get(port: int, path: str = "/version", *, host: str | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        for key, value in (headers or {}).items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_a_foreign_host_header_is_refused() -> None:
    with SnapshotAPIServer(objects()) as api:
        for host in (f"127.0.0.1:{api.port}", "localhost", f"localhost:{api.port}", f"[::1]:{api.port}"):
            assert get(api.port, host=host)[0] == 200, host
        for host in ("evil.example", f"evil.example:{api.port}", "127.0.0.1.nip.io", f"127.0.0.1:{api.port + 1}",
                     ""):
            status, body = get(api.port, host=host)
            assert status == 421 and b"MisdirectedRequest" in body, host


def serve_process(*args: str) -> subprocess.Popen[str]:
    """``svcdoctor snapshot serve`` as a user starts it: Ctrl-C (SIGINT) stops it, even when the tests
    run in a background job, whose children inherit an ignored SIGINT."""
    return subprocess.Popen([sys.executable, "-m", "svcdoctor", "snapshot", "serve", str(SNAPSHOT), "--port", "0",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_snapshot_serve_requires_its_per_run_token(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    process = serve_process("--write-kubeconfig", str(config), "-n", "shop")
    try:
        deadline = time.monotonic() + 30
        while not config.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        document = yaml.safe_load(config.read_text())
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        token = document["users"][0]["user"]["token"]
        assert len(token) >= 32
        server = document["clusters"][0]["cluster"]["server"]
        assert server.endswith(f"/{token}")  # kubectl sends no bearer token over plain HTTP: the URL holds it
        port = int(server.removesuffix(f"/{token}").rsplit(":", 1)[1])
        assert get(port)[0] == 401
        assert get(port, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert get(port, "/wrong/version")[0] == 401
        assert get(port, f"/{token[:-1]}/version")[0] == 401
        assert get(port, headers={"Authorization": f"Bearer {token}"})[0] == 200
        assert get(port, f"/{token}/version")[0] == 200
        assert get(port, f"/{token}/api/v1/namespaces/shop/pods?limit=1")[0] == 200
        if shutil.which("kubectl"):  # the real kubectl, as the banner tells a user to run it
            kubectl = subprocess.run(["kubectl", "--kubeconfig", str(config), "get", "pods", "-o", "wide"],
                                     capture_output=True, text=True, timeout=60)
            assert kubectl.returncode == 0, kubectl.stderr
            assert "inventory" in kubectl.stdout and "READY" in kubectl.stdout
        result = run_cli("check", "inventory", "--kubeconfig", str(config), "-o", "json")
        assert result.exit_code == 1 and result.json()["findings"][0]["id"] == "SD402"
    finally:
        process.send_signal(signal.SIGINT)
        stopped = time.monotonic()
        process.communicate(timeout=60)
    assert time.monotonic() - stopped < 8  # open keep-alive connections do not hold the exit for their timeout
    second = tmp_path / "second"
    other = serve_process("--write-kubeconfig", str(second))
    try:
        deadline = time.monotonic() + 30
        while not second.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert yaml.safe_load(second.read_text())["users"][0]["user"]["token"] != token  # one per run
    finally:
        other.send_signal(signal.SIGINT)
        other.communicate(timeout=30)


def test_request_size_and_header_limits() -> None:
    with SnapshotAPIServer(objects()) as api:
        with socket.create_connection(("127.0.0.1", api.port), timeout=10) as raw:
            raw.sendall(f"GET /version HTTP/1.1\r\nHost: 127.0.0.1:{api.port}\r\n"
                        f"Content-Length: {300 * 1024 * 1024}\r\n\r\n".encode())
            assert raw.recv(100).startswith(b"HTTP/1.1 413")
        many = {f"X-Filler-{index}": "x" for index in range(150)}
        assert get(api.port, headers=many)[0] == 431
        assert get(api.port, headers={"X-Long": "x" * 70_000})[0] == 431
        assert get(api.port)[0] == 200


def test_a_slow_client_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apiserver._Handler, "timeout", 0.5)
    with SnapshotAPIServer(objects()) as api, socket.create_connection(("127.0.0.1", api.port), timeout=10) as raw:
        raw.sendall(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        started = time.monotonic()
        assert raw.recv(100) == b""  # closed by the server
        assert time.monotonic() - started < 5


def test_connections_are_bounded_and_so_is_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apiserver, "MAX_CONNECTIONS", 3)
    monkeypatch.setattr(apiserver, "LOG_LIMIT", 5)
    with SnapshotAPIServer(objects()) as api:
        held = [socket.create_connection(("127.0.0.1", api.port), timeout=10) for _ in range(3)]
        try:
            for connection in held:  # a long-lived stream, as a watch would be
                connection.sendall(f"GET /version HTTP/1.1\r\nHost: 127.0.0.1:{api.port}\r\n\r\n".encode())
                connection.recv(4096)
            assert get(api.port)[0] == 503
        finally:
            for connection in held:
                connection.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and get(api.port)[0] != 200:
            time.sleep(0.05)
        for _ in range(20):
            assert get(api.port)[0] == 200
        assert len(api.requests()) == 5
