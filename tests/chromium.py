"""Headless Chromium driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``: JSON messages
ending in NUL, commands on the browser's fd 3, replies on its fd 4), so tests need no websocket or webdriver.

Debian's package is ``chromium`` (``apt-get install -y chromium``, as root); ``.ci/run`` installs it.
"""

import fcntl
import json
import os
import shutil
import subprocess
import tempfile

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)


def find_chromium():
    """Path of a Chromium executable on PATH, or None."""
    return next((path for path in map(shutil.which, CANDIDATES) if path), None)


class Chromium:
    """A headless browser; ``evaluate(url, expression)`` runs JavaScript in a new tab and returns its value."""

    def __init__(self, executable):
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def use_pipes_as_fd_3_and_4():
            # Move both ends above 4 first: either may itself be fd 3 or 4 (and then close-on-exec).
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands_read, replies_write)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self._process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            preexec_fn=use_pipes_as_fd_3_and_4,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_read)
        os.close(replies_write)
        self._buffer = b""
        self._next_id = 0
        self._events = []

    def send(self, method, session=None, **params):
        """Send one command and return its result (events in between are kept); raise on a protocol error."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            if "method" in reply:
                self._events.append(reply)

    def wait_for_event(self, method, session):
        """Wait for the event ``method`` of ``session`` (it may already have arrived)."""
        while True:
            for event in self._events:
                if event["method"] == method and event.get("sessionId") == session:
                    self._events.remove(event)
                    return event
            self._events.append(self._read_message())

    def _read_message(self):
        while b"\0" not in self._buffer:
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def evaluate(self, url, expression, timeout_ms=60000):
        """Open ``url`` in a new tab, await the JavaScript ``expression`` (may be a promise), return its value."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Page.enable", session)
        self.send("Page.navigate", session, url=url)
        self.wait_for_event("Page.loadEventFired", session)
        result = self.send(
            "Runtime.evaluate", session, expression=expression, awaitPromise=True, returnByValue=True,
            timeout=timeout_ms,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self):
        try:
            self.send("Browser.close")
        except RuntimeError:
            pass
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._commands)
        os.close(self._replies)
        self._profile.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
