"""A real Prometheus server for tests, and the PromQL helpers that check dashboards and rules.

The server is Debian's ``prometheus`` binary (``make test`` installs it when it can), started on
a free loopback port with its own storage directory, in its own process group, and stopped with
it: no process is left behind.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from stream.tools.embedded import free_port

PROMETHEUS_ABSENT = (
    "the prometheus binary is not installed (`make test` installs Debian's `prometheus` package "
    "when it can): tests/test_prometheus.py will skip"
)


class PrometheusError(RuntimeError):
    """Prometheus did not start, or its API answered with an error."""


class PrometheusServer:
    """`prometheus` scraping the given worker targets every ``scrape_interval_s``, with rules."""

    def __init__(
        self,
        worker_targets: list[str],
        rule_files: list[Path],
        scrape_interval_s: float = 1.0,
        job: str = "storewatch-worker",
    ) -> None:
        self.worker_targets = worker_targets
        self.rule_files = rule_files
        self.scrape_interval_s = scrape_interval_s
        self.job = job
        self.port = 0
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        interval = f"{self.scrape_interval_s:g}s"
        return {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [
                {"job_name": self.job, "static_configs": [{"targets": self.worker_targets}]}
            ],
        }

    def start(self, timeout_s: float = 30.0) -> Self:
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusError(PROMETHEUS_ABSENT)
        self.workdir = Path(tempfile.mkdtemp(prefix="storewatch-prometheus-"))
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.config()), encoding="utf-8")
        self.port = free_port()
        log = open(self.workdir / "prometheus.log", "wb")  # noqa: SIM115  # outlives this call
        with log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1h",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise PrometheusError(f"prometheus did not become ready:\n{tail}")
            time.sleep(0.2)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        if self.workdir is None:
            return "(no log)"
        path = self.workdir / "prometheus.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
            except ProcessLookupError:
                pass
        workdir, self.workdir = self.workdir, None
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>; the ``data`` of a success, PrometheusError with the reason else."""
        return api_get(self.url, path, **params)

    def query(self, expr: str, at_s: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at_s is not None:
            params["time"] = at_s
        result: list[dict[str, Any]] = self.api("query", **params)["result"]
        return result

    def query_range(
        self, expr: str, start_s: float, end_s: float, step_s: float = 1.0
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api(
            "query_range", query=expr, start=start_s, end=end_s, step=step_s
        )["result"]
        return result


def api_get(base_url: str, path: str, **params: Any) -> Any:
    url = f"{base_url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=30) as reply:
            body = json.load(reply)
    except urllib.error.HTTPError as exc:
        body = json.load(exc)
    if body.get("status") != "success":
        raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def finite_points(series: list[dict[str, Any]]) -> int:
    """Samples that are numbers (not NaN or infinite) across a query_range result."""
    return sum(1 for s in series for _, value in s.get("values", []) if math.isfinite(float(value)))


# -- Grafana dashboards ------------------------------------------------------------------------

GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__interval": "5s", "$instance": ".*"}


def concrete(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced, so Prometheus can run it.

    >>> concrete('rate(x{instance=~"$instance"}[$__rate_interval])')
    'rate(x{instance=~".*"}[30s])'
    """
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(variable, value)
    return expr


def dashboard_expressions(dashboard: dict[str, Any]) -> dict[str, str]:
    """Every PromQL expression of a dashboard, keyed by where it is: panel targets (rows'
    nested panels too), annotations, and the metrics of `label_values` template queries."""
    found: dict[str, str] = {}

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                found[f"{panel['title']} [{target['refId']}]"] = target["expr"]
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            found[f"annotation {annotation['name']}"] = annotation["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = re.fullmatch(r"label_values\((.+),\s*\w+\)", text.strip())
        if match:
            found[f"variable {variable['name']}"] = match.group(1)
    return found


# -- Alert rules -------------------------------------------------------------------------------

_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<")
_SET_OPERATORS = ("and", "unless", "or")
_MODIFIER = re.compile(r"^(?:on|ignoring|group_left|group_right)\s*(?:\([^)]*\))?\s*")
_NUMBER = re.compile(r"^(?:bool\s+)?[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?$", re.I)


def _top_level(expr: str) -> list[tuple[int, str]]:
    """(position, character) of every character outside brackets and strings."""
    depth, quote, out = 0, "", []
    for i, char in enumerate(expr):
        if quote:
            quote = "" if char == quote and expr[i - 1] != "\\" else quote
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0:
            out.append((i, char))
    return out


def _wrapped(expr: str) -> bool:
    """Whether the outer parentheses of ``expr`` enclose all of it."""
    if not (expr.startswith("(") and expr.endswith(")")):
        return False
    depth = 0
    for i, char in enumerate(expr):
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and i < len(expr) - 1:
            return False
    return True


def split_set_operators(expr: str) -> list[str]:
    """The operands of top-level ``and``/``unless``/``or``, modifiers (``on (...)``) dropped.

    >>> split_set_operators('(a == 0) and on (job) (b > 0)')
    ['(a == 0)', '(b > 0)']
    """
    top = dict(_top_level(expr))
    cuts, i = [], 0
    while i < len(expr):
        for word in _SET_OPERATORS:
            end = i + len(word)
            if (
                all(j in top for j in range(i, end))
                and expr[i:end] == word
                and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] == "_"))
                and (end == len(expr) or expr[end] in " \t\n(")
            ):
                cuts.append((i, end))
                i = end
                break
        else:
            i += 1
    parts, start = [], 0
    for begin, end in cuts:
        parts.append(expr[start:begin])
        start = end
    parts.append(expr[start:])
    return [_MODIFIER.sub("", part.strip()).strip() for part in parts]


def without_threshold(expr: str) -> str:
    """An expression without its final comparison to a number; ``absent(x)`` becomes ``x``.

    >>> without_threshold('histogram_quantile(0.99, sum by (le) (rate(h[5m]))) > 0.25')
    'histogram_quantile(0.99, sum by (le) (rate(h[5m])))'
    >>> without_threshold('time() - max(ts > 0) > 900')
    'time() - max(ts > 0)'
    >>> without_threshold('absent(up{job="w"} == 1)')
    'up{job="w"}'
    """
    expr = expr.strip()
    while _wrapped(expr):
        expr = expr[1:-1].strip()
    absent = re.fullmatch(r"absent\((.*)\)", expr, re.S)
    if absent:
        return without_threshold(absent.group(1))
    top = _top_level(expr)
    positions = {i for i, _ in top}
    for i in range(len(expr) - 1, -1, -1):
        if i not in positions:
            continue
        for op in _COMPARISONS:
            if expr.startswith(op, i) and all(j in positions for j in range(i, i + len(op))):
                before = expr[i - 1] if i else ""
                if before in "=!<>":  # the second character of a two-character operator
                    continue
                if _NUMBER.match(expr[i + len(op) :].strip()):
                    return expr[:i].strip()
                return expr
    return expr


def rule_probes(expr: str) -> list[str]:
    """What must return data for an alert rule to be meaningful: each operand of its set
    operators, without its threshold.

    >>> rule_probes('sum(a) > 10 unless sum(b) > 0')
    ['sum(a)', 'sum(b)']
    """
    return [without_threshold(part) for part in split_set_operators(" ".join(expr.split()))]


def alert_rules(rule_files: list[Path]) -> list[dict[str, Any]]:
    return [
        rule
        for path in rule_files
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
