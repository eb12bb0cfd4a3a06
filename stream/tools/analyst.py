"""What an analyst asks of a running Storewatch: the alerts as they come, one alert by id,
one store's current state.

Alerts are read from the alert topic (the workers keep no other copy); a store's state is
read from Redis, where the workers save it about every second. An alert carries the numbers
its detector saw (``features``): that is the store's state at the time, the only one kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from stream.config import Settings
from stream.core.detectors import mask_account
from stream.core.facts import RING_FIELD, fact_key, stored_fact
from stream.core.records import format_ts
from stream.core.windows import WINDOW_METRICS, StateConfig

WINDOW_METRICS_SHOWN = (
    "sales_cny",
    "orders_placed",
    "refund_price_protection_cny",
    "claims",
    "price_cuts",
    "withdrawn_cny",
    "withdrawals",
)
PROFILE_TIMES = ("opened_ts", "first_ts", "last_ts", "last_sale_ts", "last_withdrawal_ts")


def format_alert(alert: dict[str, Any]) -> str:
    """An alert as an analyst reads it: who, what, how much, what to do, and why.

    >>> print(format_alert({"alert_id": "a-1", "store_id": "s1", "detector": "withdrawal",
    ...     "severity": "high", "score": 0.9, "ts": "2024-03-01T00:00:00Z",
    ...     "reasons": ["Pays out 99% of takings."], "stake_cny": 29900.0,
    ...     "action": "hold_payout"}))
    a-1  HIGH withdrawal  store s1  at 2024-03-01T00:00:00Z
      money at stake 29,900.00 CNY; next step: hold_payout; score 0.9
      - Pays out 99% of takings.
    """
    head = (
        f"{alert.get('alert_id')}  {str(alert.get('severity', '')).upper()} "
        f"{alert.get('detector')}  store {alert.get('store_id')}  at {alert.get('ts')}"
    )
    facts = []
    if alert.get("stake_cny") is not None:
        facts.append(f"money at stake {float(alert['stake_cny']):,.2f} CNY")
    if alert.get("action"):
        facts.append(f"next step: {alert['action']}")
    if alert.get("model_warm") is False:
        facts.append("model still learning (rules decided)")
    elif alert.get("score") is not None:
        facts.append(f"score {alert['score']}")
    if alert.get("ring_id"):
        facts.append(
            f"ring {alert['ring_id']} with {len(alert.get('linked_stores') or [])} "
            f"linked store(s)"
        )
    lines = [head, "  " + "; ".join(facts)] if facts else [head]
    lines += [f"  - {reason}" for reason in alert.get("reasons") or []]
    return "\n".join(lines)


def decode_alert(raw: bytes) -> dict[str, Any] | None:
    """An alert record's JSON, or None for a record that is not an alert object."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) and "alert_id" in data else None


async def tail_alerts(
    settings: Settings, on_alert: Callable[[dict[str, Any]], None], from_beginning: bool = False
) -> None:
    """Hand every alert written from now on (or since the beginning) to ``on_alert``; runs
    until cancelled."""
    from stream.runtime.topic_reader import follow_records

    async for record in follow_records(settings, settings.topics.alerts, from_beginning):
        alert = decode_alert(record.value)
        if alert is not None:
            on_alert(alert)


async def find_alert(settings: Settings, alert_id: str) -> dict[str, Any] | None:
    """The latest record of alert ``alert_id`` on the alert topic, or None. A scan: the topic
    is keyed by store, so an alert id alone does not say which partition holds it."""
    from stream.runtime.topic_reader import read_records

    found = None
    async for record in read_records(settings, settings.topics.alerts):
        if alert_id.encode() in record.value:
            alert = decode_alert(record.value)
            if alert is not None and alert.get("alert_id") == alert_id:
                found = alert
    return found


async def store_report(
    settings: Settings, redis_url: str, store_id: str, **options: Any
) -> dict[str, Any] | None:
    """A store's saved state as the workers' Redis holds it: profile, current window sums,
    the bank accounts it registered or paid out to and the stores sharing them, its ring's
    members, and its alerts (the last per detector); None when Redis holds nothing for it.
    Tracking numbers are not listed: the state keeps no list of a store's parcels (its alerts
    name the stores that shared one)."""
    from stream.state.redis_client import redis_client
    from stream.state.state import RedisStateStore

    client = redis_client(redis_url, **options)
    state_store = RedisStateStore(client, settings.windows)
    try:
        state = await state_store.saved_state(store_id)
        if state is None:
            return None
        profile = dict(state.profile)
        facts = [
            ("bank", value)
            for value in dict.fromkeys(
                [
                    profile.get("bank_account", ""),
                    *(name.removeprefix("acct:") for name in profile if name.startswith("acct:")),
                ]
            )
            if value
        ]
        shared: list[dict[str, Any]] = []
        linked: set[str] = set()
        for kind, value in facts:
            members, fact_ring = stored_fact(await client.hgetall(fact_key(kind, value)))
            others = sorted(m for m in members if m != store_id)
            linked.update(others)
            shared.append(
                {
                    "kind": kind,
                    "value": mask_account(value),
                    "other_stores": others,
                    "ring_id": fact_ring,
                }
            )
        ring_id = profile.get("ring_id")
        if ring_id:
            ring = await client.hgetall(fact_key("ring", ring_id))
            linked.update(m for m in ring if m not in (store_id, RING_FIELD))
    finally:
        await state_store.close()
    return {
        "store_id": store_id,
        "profile": _profile(profile),
        "windows": _windows(state, settings),
        "facts": shared,
        "linked_stores": sorted(linked),
        "ring_id": ring_id,
        "alerts": {
            name.removeprefix("alerted:"): format_ts(float(value))
            for name, value in sorted(profile.items())
            if name.startswith("alerted:")
        },
        "last_event": format_ts(state.max_ts_s) if state.max_ts_s >= 0 else None,
    }


def _profile(profile: dict[str, str]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, value in sorted(profile.items()):
        if name.startswith(("alerted:", "acct:")) or name == "ring_id":
            continue
        if name == "bank_account":
            shown[name] = mask_account(value)
        elif name.endswith("_ts") and _is_number(value):
            shown[name] = format_ts(float(value))
        else:
            shown[name] = value
    return shown


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _windows(state: Any, settings: Settings) -> dict[str, dict[str, float]]:
    """Each configured window's sums at the store's newest bucket (the store's last event,
    not now: a window is not aged by the clock, only by the store's own events)."""
    w = settings.windows
    config = StateConfig.of(list(w.lengths_s), w.buckets_per_window, w.allowed_lateness_s)
    windows: dict[str, dict[str, float]] = {}
    for shape in config.shapes:
        window = state.windows.get(shape.key)
        if window is None or window.head < 0:
            continue
        sums = window.running
        windows[f"{shape.length_s:g}s"] = {
            name: round(sums[WINDOW_METRICS.index(name)], 2) for name in WINDOW_METRICS_SHOWN
        }
    return windows


def format_store(report: dict[str, Any]) -> str:
    """A store report as lines to read."""
    lines = [f"store {report['store_id']}  (last event {report['last_event']})"]
    lines += [f"  {name:22} {value}" for name, value in report["profile"].items()]
    for length, sums in report["windows"].items():
        shown = ", ".join(f"{name} {value:,g}" for name, value in sums.items() if value)
        lines.append(f"  window {length:>9}: {shown or 'nothing'}")
    for fact in report["facts"]:
        others = ", ".join(fact["other_stores"][:10]) or "no other store"
        lines.append(f"  {fact['kind']} {fact['value']}: {others}")
    lines.append(
        f"  linked stores (shared accounts, ring members): "
        f"{', '.join(report['linked_stores']) or 'none'}"
        + (f" (ring {report['ring_id']})" if report["ring_id"] else "")
    )
    alerts = ", ".join(f"{name} at {ts}" for name, ts in report["alerts"].items())
    lines.append(f"  alerts: {alerts or 'none'}")
    return "\n".join(lines)
