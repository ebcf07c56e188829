"""A headless Chromium driven over the DevTools protocol on a pipe.

`--remote-debugging-pipe` makes Chromium read protocol messages on fd 3 and answer on fd 4
(JSON, each message ended by a NUL byte): no port is opened and no websocket library is
needed. Clicks and typing go through Input.* so the page receives trusted events, hit-tested
like a user's.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

_LAUNCHER = """
import os, sys
for fd, target in zip(map(int, sys.argv[1:3]), (3, 4)):
    os.dup2(fd, target)
    os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""

BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    explicit = os.environ.get("FERRY_CHROMIUM")
    if explicit:
        return explicit
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _flags(profile: str, width: int, height: int) -> list[str]:
    return [
        "--headless",
        # Containers (and root) have no user namespaces for the sandbox; the page is local.
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ]


def screenshot(url: str, out: str, width: int = 1200, height: int = 900) -> None:
    """Chromium's own --screenshot of the page as loaded."""
    binary = find_chromium()
    assert binary, "no chromium binary"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [binary, *_flags(profile, width, height), f"--screenshot={out}", url],
            check=True,
            capture_output=True,
            timeout=120,
        )


class Chromium:
    def __init__(self, binary: str, width: int = 1200, height: int = 900, timeout: float = 60):
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory()
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # The browser's ends move to fds 3 and 4 in a small Python launcher (a preexec_fn is
        # unsafe with TensorFlow's threads running); from 10 up, neither end can be
        # overwritten on the way.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_browser_r, from_browser_w)]
        for fd in (to_browser_r, from_browser_w):
            os.close(fd)
        command = [binary, *_flags(self._profile.name, width, height), "--remote-debugging-pipe"]
        self._process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, *map(str, ends), *command],
            pass_fds=ends,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in ends:
            os.close(fd)
        self._out = to_browser_w
        self._in = from_browser_r
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.session: str | None = None

    # --- protocol ---------------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None, session: bool = True) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        reply = self._wait(lambda m: m.get("id") == self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str) -> dict[str, Any]:
        for i, event in enumerate(self._events):
            if event.get("method") == method:
                return self._events.pop(i)
        return self._wait(lambda m: m.get("method") == method, keep_events=False)

    def _wait(self, wanted: Any, keep_events: bool = True) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if wanted(message):
                    return message
                if keep_events and "method" in message:
                    self._events.append(message)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the pipe")
            self._buffer += chunk

    # --- page -------------------------------------------------------------------------------

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, False
        )
        self.session = attached["sessionId"]
        self._events.clear()
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """Uncaught exceptions the page's scripts raised so far."""
        return [
            json.dumps(e["params"]["exceptionDetails"])
            for e in self._events
            if e.get("method") == "Runtime.exceptionThrown"
        ]

    def click(self, selector: str) -> None:
        """A left click at the middle of the element, as a user's mouse would make it."""
        box = self.evaluate(
            f"""(() => {{
                const el = document.querySelector({json.dumps(selector)});
                if (!el) return null;
                el.scrollIntoView({{block: "center"}});
                const r = el.getBoundingClientRect();
                return {{x: r.left + r.width / 2, y: r.top + r.height / 2}};
            }})()"""
        )
        assert box is not None, f"nothing matches {selector}"
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            )

    def type(self, selector: str, text: str) -> None:
        self.click(selector)
        self.send("Input.insertText", {"text": text})

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
            self._process.wait(timeout=10)
        except (OSError, EOFError, TimeoutError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        finally:
            os.close(self._out)
            os.close(self._in)
            self._profile.cleanup()
