"""The analysts' tools on a running stack (real Tansu, real redis-server, a real worker):
`alerts tail`, `alert ID`, `store ID`, `label` and `evaluate --labels-topic`, each failure one
line and its exit code."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stream.errors import ExitCode
from stream.tools.dev import DevStack
from stream.tools.replay import ReplayResult
from stream.tools.replay_kafka import replay_via_kafka
from tests.helpers import factories as f
from tests.helpers.cli_runner import assert_fails, closed_port, run_cli
from tests.helpers.harness import price_protection_scheme
from tests.helpers.kafka_stack import one_worker_stack, write_jsonl

pytestmark = pytest.mark.integration
SHARED_ACCOUNT = "6222020012345678"


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    yield from one_worker_stack()


@pytest.fixture(scope="module")
def replayed(stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two stores that pay out to one bank account, replayed through the worker: their
    events file and the alerts they raised."""
    folder = tmp_path_factory.mktemp("analyst")
    scheme = [
        {**e, "bank_account": SHARED_ACCOUNT} if "bank_account" in e else e
        for e in [
            *price_protection_scheme("ana-1"),
            *price_protection_scheme("ana-2", t0=f.T0 + 600),
        ]
    ]
    events = write_jsonl(folder / "events.jsonl", scheme)
    alerts = folder / "alerts.jsonl"
    result: ReplayResult = asyncio.run(
        replay_via_kafka(events, stack.settings, alerts, timeout_s=60)
    )
    assert result.alerts, "the scheme raises alerts"
    return events, alerts


def first_alert(alerts: Path, store_id: str) -> dict[str, Any]:
    return next(
        a for a in map(json.loads, alerts.read_text().splitlines()) if a["store_id"] == store_id
    )


def bootstrap(stack: DevStack) -> tuple[str, str]:
    return ("--bootstrap", stack.settings.kafka_bootstrap)


def test_alert_finds_an_alert_by_id_with_its_money_next_step_and_reasons(
    stack: DevStack, replayed: tuple[Path, Path]
) -> None:
    alert = first_alert(replayed[1], "ana-1")
    done = run_cli("alert", alert["alert_id"], *bootstrap(stack))
    assert done.returncode == 0, done.stderr
    assert alert["alert_id"] in done.stdout and "store ana-1" in done.stdout
    assert "money at stake" in done.stdout and "next step:" in done.stdout
    assert all(reason in done.stdout for reason in alert["reasons"])
    assert "the store at the time" in done.stdout
    as_json = run_cli("alert", alert["alert_id"], "--json", *bootstrap(stack))
    assert json.loads(as_json.stdout) == alert


def test_an_unknown_alert_id_is_one_line_and_exit_6(
    stack: DevStack, replayed: tuple[Path, Path]
) -> None:
    done = run_cli("alert", "a-00000000000000000000", *bootstrap(stack))
    assert_fails(done, ExitCode.NOT_FOUND, "no alert a-00000000000000000000")


@pytest.mark.parametrize(
    "command", [("alert", "a-1"), ("alerts", "tail"), ("label", "a-1", "fraud")]
)
def test_the_kafka_tools_with_no_broker_are_one_line_and_exit_4(command: tuple[str, ...]) -> None:
    done = run_cli(*command, "--bootstrap", f"127.0.0.1:{closed_port()}")
    assert_fails(done, ExitCode.UNREACHABLE, "cannot reach Kafka")


def test_store_shows_windows_facts_linked_stores_and_alerts_from_redis(
    stack: DevStack, replayed: tuple[Path, Path]
) -> None:
    url = stack.settings.redis_url.get_secret_value()
    done = run_cli("store", "ana-2", "--json", "--redis-url", url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["windows"], "the configured windows have sums"
    assert any(w["withdrawn_cny"] == 29_900 for w in report["windows"].values())
    bank = [fact for fact in report["facts"] if fact["kind"] == "bank"]
    assert [fact["value"] for fact in bank] == ["6222...5678"]
    assert SHARED_ACCOUNT not in done.stdout
    assert set(report["alerts"]) >= {"price_cut"}
    text = run_cli("store", "ana-2", "--redis-url", url)
    assert "store ana-2" in text.stdout and "alerts: " in text.stdout


def test_two_stores_paying_out_to_one_account_are_linked_in_the_store_report(
    stack: DevStack, replayed: tuple[Path, Path]
) -> None:
    url = stack.settings.redis_url.get_secret_value()
    report = json.loads(run_cli("store", "ana-2", "--json", "--redis-url", url).stdout)
    assert report["facts"][0]["other_stores"] == ["ana-1"]
    assert "ana-1" in report["linked_stores"]
    assert report["profile"]["owner_id"] == "owner-ana-2"


def test_store_with_an_unknown_id_or_no_redis_is_one_line(stack: DevStack) -> None:
    url = stack.settings.redis_url.get_secret_value()
    assert_fails(
        run_cli("store", "nobody-here", "--redis-url", url),
        ExitCode.NOT_FOUND,
        "holds no state for store nobody-here",
    )
    assert_fails(
        run_cli("store", "ana-1", "--redis-url", f"redis://127.0.0.1:{closed_port()}/0"),
        ExitCode.UNREACHABLE,
        "cannot reach Redis",
    )


def test_a_label_goes_to_the_labels_topic_and_evaluate_reads_it(
    stack: DevStack, replayed: tuple[Path, Path], tmp_path: Path
) -> None:
    events, alerts = replayed
    alert = first_alert(alerts, "ana-1")
    done = run_cli("label", alert["alert_id"], "fraud", "--who", "alice", *bootstrap(stack))
    assert done.returncode == 0, done.stderr
    assert f"alice labelled {alert['alert_id']} (store ana-1" in done.stdout
    report = tmp_path / "report.json"
    evaluated = run_cli(
        "evaluate",
        "--events",
        events,
        "--alerts",
        alerts,
        "--labels-topic",
        "--report",
        report,
        *bootstrap(stack),
    )
    assert evaluated.returncode == 0, evaluated.stderr
    figures = json.loads(report.read_text())
    assert figures["overall"]["stores"] == 1 and figures["overall"]["stores_flagged"] == 1
    assert figures["schemes"]["fraud"]["stores"] == 1


def test_a_later_label_of_the_same_alert_replaces_the_earlier(
    stack: DevStack, replayed: tuple[Path, Path], tmp_path: Path
) -> None:
    events, alerts = replayed
    alert = first_alert(alerts, "ana-2")
    for verdict in ("fraud", "legit"):
        assert (
            run_cli(
                "label", alert["alert_id"], verdict, "--who", "bob", *bootstrap(stack)
            ).returncode
            == 0
        )
    from stream.tools.labels import latest_labels

    labels = asyncio.run(latest_labels(stack.settings))
    assert labels[alert["alert_id"]].verdict == "legit"
    assert labels[alert["alert_id"]].who == "bob"


def test_labelling_an_unknown_alert_is_one_line_and_nothing_is_written(
    stack: DevStack, replayed: tuple[Path, Path]
) -> None:
    done = run_cli("label", "a-11111111111111111111", "legit", "--who", "x", *bootstrap(stack))
    assert_fails(done, ExitCode.NOT_FOUND, "no alert a-11111111111111111111", "nothing labelled")


def test_evaluate_on_an_empty_labels_topic_is_one_line(
    stack: DevStack, replayed: tuple[Path, Path], tmp_path: Path
) -> None:
    events, alerts = replayed
    done = run_cli(
        "evaluate",
        "--events",
        events,
        "--alerts",
        alerts,
        "--labels-topic",
        "no-labels-here",
        "--report",
        tmp_path / "r.json",
        *bootstrap(stack),
    )
    assert_fails(done, ExitCode.INPUT, "holds no label")


def test_alerts_tail_prints_each_new_alert_with_every_reason_until_ctrl_c(
    stack: DevStack, replayed: tuple[Path, Path], tmp_path: Path
) -> None:
    tail = subprocess.Popen(
        [sys.executable, "-m", "stream.cli", "alerts", "tail", *bootstrap(stack)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("STOREWATCH_")},
    )
    try:
        assert tail.stdout is not None
        assert tail.stdout.readline().startswith("following alerts")
        time.sleep(1.0)  # the follower's position is taken before the new alerts
        events = write_jsonl(tmp_path / "live.jsonl", price_protection_scheme("live-1"))
        live = asyncio.run(replay_via_kafka(events, stack.settings, timeout_s=60)).alerts
        assert live
        wanted = [a["alert_id"] for a in live] + [r for a in live for r in a["reasons"]]
        seen, deadline = "", time.monotonic() + 30
        while not all(text in seen for text in wanted) and time.monotonic() < deadline:
            seen += tail.stdout.readline()
        for alert in live:
            assert alert["alert_id"] in seen
            assert all(reason in seen for reason in alert["reasons"])
        assert "store ana-1" not in seen, "only alerts raised after it started"
    finally:
        tail.send_signal(signal.SIGINT)
        _, stderr = tail.communicate(timeout=30)
    assert tail.returncode == ExitCode.INTERRUPTED, stderr
    assert "Traceback" not in stderr
