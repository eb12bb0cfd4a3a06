"""What every embedded server shares: a free port, a process group, a log, the start-up wait,
and a stop that leaves no process behind (an atexit hook stops what a process forgot)."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

_LOCALHOST = "127.0.0.1"
_LOG_TAIL_LINES = 40
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).

    Another process may take it before the server binds it; the servers below retry with a
    fresh port when that happens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedServerError(RuntimeError):
    """A server did not start (or answer) in time; the message carries the tail of its log."""


def wait_until(
    ready: Callable[[], bool],
    timeout_s: float,
    failure: Callable[[], str],
    first_delay_s: float = 0.1,
    max_delay_s: float = 0.2,
) -> None:
    """The start-up wait of every embedded server: poll ``ready`` (sleeping first, then
    doubling the pause up to ``max_delay_s``) until it is true, or raise
    EmbeddedServerError(``failure()``) after ``timeout_s``. ``ready`` may raise to give up
    early (a server that exited).

    >>> wait_until(lambda: True, 1.0, lambda: "never")
    >>> wait_until(lambda: False, 0.05, lambda: "not up")
    Traceback (most recent call last):
    ...
    stream.tools.embedded.process.EmbeddedServerError: not up
    """
    deadline = time.monotonic() + timeout_s
    delay_s = first_delay_s
    while True:
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, max_delay_s)
        if ready():
            return
        if time.monotonic() > deadline:
            raise EmbeddedServerError(failure())


# Servers started by this process and not stopped yet; the atexit hook stops them.
_running: set[_ServerProcess] = set()
_running_lock = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _running_lock:
        servers = list(_running)
    for server in servers:
        # A forked child inherits the set but must not stop its parent's servers.
        if server._owner_pid == os.getpid():
            try:
                server.stop()
            except Exception:  # keep stopping the others
                pass


class _ServerProcess:
    """Lifecycle shared by both servers: temp dir, log file, process group, readiness, stop.

    Subclasses describe how to launch (``_launch``) and how to tell the server is ready
    (``_ready``); this class owns everything that must be right for no process to leak.
    """

    name = "server"
    start_timeout: float = 15.0
    stop_timeout: float = 10.0

    def __init__(self, port: int | None = None) -> None:
        self._fixed_port = port
        self.port: int = port if port is not None else 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmpdir: Path | None = None
        self._kept_dir: Path | None = None  # the data dir of a stop(keep_data=True)
        self._owner_pid = os.getpid()

    # -- to be provided by subclasses -------------------------------------------------------

    def _launch(self, tmpdir: Path, log: Any) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    # -- public -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Process id of the running server (the leader of its process group), else None."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path | None:
        """File receiving the server's stdout and stderr while it runs."""
        return self._tmpdir / f"{self.name}.log" if self._tmpdir is not None else None

    def start(self) -> Self:
        """Start the server and block until it answers; raise EmbeddedServerError otherwise.

        With an OS-chosen port, a lost race for the port (another process bound it first) is
        retried with a new port. After ``stop(keep_data=True)`` the server comes back on the
        same port with the same working dir (what a durable server wrote there survives).
        """
        if self._proc is not None:
            return self
        attempts = 1 if self._fixed_port is not None else 3
        for attempt in range(1, attempts + 1):
            if self._fixed_port is None:
                self.port = free_port()
            if self._kept_dir is not None:
                self._tmpdir, self._kept_dir = self._kept_dir, None
            else:
                self._tmpdir = Path(tempfile.mkdtemp(prefix=f"storewatch-{self.name}-"))
            try:
                with open(self._tmpdir / f"{self.name}.log", "ab") as log:
                    self._proc = self._launch(self._tmpdir, log)
                with _running_lock:
                    _running.add(self)
                self._wait_ready()
                return self
            except EmbeddedServerError as exc:
                retry = attempt < attempts and "in use" in str(exc)
                self.stop()
                if not retry:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, keep_data: bool = False) -> None:
        """Stop the server (SIGTERM to its group, SIGKILL after a grace period), remove its dir.

        Idempotent; safe to call on a server that never started or already died. With
        ``keep_data`` (an outage, for fault tests) the dir and the port are kept for the next
        ``start()``, and a later plain ``stop()`` removes the dir.
        """
        proc, self._proc = self._proc, None
        if proc is not None:
            _terminate_group(proc, self.stop_timeout)
        with _running_lock:
            _running.discard(self)
        tmpdir, self._tmpdir = self._tmpdir, None
        if keep_data and tmpdir is not None:
            self._kept_dir, self._fixed_port = tmpdir, self.port
            return
        for path in (tmpdir, self._kept_dir):
            if path is not None:
                shutil.rmtree(path, ignore_errors=True)
        self._kept_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- helpers ----------------------------------------------------------------------------

    def _spawn(
        self, argv: Sequence[str], log: Any, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start argv in a new session so that stop() can signal the whole process group."""
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._tmpdir,
            env=env,
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        assert self._proc is not None
        proc = self._proc

        def answered() -> bool:
            code = proc.poll()
            if code is None and self._ready() and proc.poll() is None:
                return True
            code = proc.poll()
            if code is not None:
                # Tansu exits with code 0 even when it could not bind its port.
                raise EmbeddedServerError(
                    f"{self.name} exited with code {code} during start-up "
                    f"(port {self.port}).\n{self._log_tail()}"
                )
            return False

        # Sleep first: a server that cannot bind its port usually exits within milliseconds,
        # and probing before that could reach whoever holds the port.
        wait_until(
            answered,
            self.start_timeout,
            lambda: (
                f"{self.name} did not answer on {_LOCALHOST}:{self.port} within "
                f"{self.start_timeout:.0f}s.\n{self._log_tail()}"
            ),
            first_delay_s=0.02,
        )

    def _log_tail(self) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return "(no log)"
        lines = path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        body = "\n".join(_ANSI.sub("", line) for line in lines)
        return f"--- last {len(lines)} lines of the {self.name} log ---\n{body}"


def _terminate_group(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group led by proc, wait, then SIGKILL whatever is left of it."""
    pgid = proc.pid  # start_new_session=True makes the child the leader of its own group
    _killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(pgid, signal.SIGKILL)
        proc.wait()
    # Children that ignored SIGTERM or outlived the leader (the reaped leader's pid cannot be
    # reused while its group still has members, so this cannot hit a stranger).
    _killpg(pgid, signal.SIGKILL)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
