"""Headless Chromium for tests, driven over the W3C WebDriver protocol of Debian's ``chromedriver``.

Plain HTTP and JSON (no client library): start ``chromedriver`` on a free local port, open a
session with Chromium's headless flags, size the window, load a page, run a script, take a
screenshot. Used by the tests of ``-o html``.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--hide-scrollbars")


def available() -> bool:
    return shutil.which("chromedriver") is not None and shutil.which("chromium") is not None


class Browser:
    """One headless Chromium session. Use as a context manager."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._profile = tempfile.TemporaryDirectory(prefix="svcdoctor-chromium-")
        self._driver = subprocess.Popen(["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        self._session = ""

    def __enter__(self) -> Browser:
        deadline = time.monotonic() + 30
        while True:
            try:
                self._call("GET", "/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}"]
        answer = self._call("POST", "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": shutil.which("chromium"), "args": flags}}}})
        self._session = answer["sessionId"]
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._session:
                self._call("DELETE", f"/session/{self._session}")
        finally:
            self._driver.terminate()
            self._driver.wait(timeout=30)
            self._profile.cleanup()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read() or b"{}")
        return answer.get("value", answer)

    def _session_call(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"/session/{self._session}{path}", body)

    def size(self, width: int, height: int) -> None:
        self._session_call("POST", "/window/rect", {"width": width, "height": height})

    def open(self, path: Path) -> None:
        self._session_call("POST", "/url", {"url": path.resolve().as_uri()})

    def run(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body; ``arguments`` holds ``args``) in the page; its return value."""
        return self._session_call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self._session_call("GET", "/screenshot")))
        return path
