"""Render the key panels of the Storewatch dashboard to a PNG, from a live Prometheus.

Grafana draws the dashboard in production; this draws the same queries (read from
``storewatch.json``, Grafana's variables replaced) with matplotlib, for the README and for
anyone without a Grafana at hand:

    python deploy/grafana/render_dashboard.py --prometheus http://127.0.0.1:9090 \\
        --last 30m --out dashboard.png

``tests/test_prometheus.py`` calls ``render`` against the Prometheus it runs, and rewrites
``docs/dashboard.png`` when ``STOREWATCH_DASHBOARD_PNG=docs/dashboard.png`` is set.
Needs only the standard library and matplotlib.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parent / "dashboards" / "storewatch.json"

# Titles of the panels drawn, in reading order (3 x 3).
KEY_PANELS = (
    "Events consumed per topic",
    "Events dead-lettered per reason and topic",
    "Processing time percentiles",
    "Consumer lag per topic",
    "Alerts by detector and severity",
    "Model score distribution",
    "Redis time per batch, percentiles",
    "Worker health",
    "Partitions held per worker",
)


def grafana_to_promql(expr: str, rate_interval: str, instance: str = ".*") -> str:
    """Replace the Grafana variables the dashboard uses with values Prometheus accepts.

    >>> grafana_to_promql('rate(x{instance=~"$instance"}[$__rate_interval])', "1m")
    'rate(x{instance=~".*"}[1m])'
    """
    return expr.replace("$__rate_interval", rate_interval).replace("$instance", instance)


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's ``{{label}}`` legend format.

    >>> legend("{{detector}} p90", {"detector": "price_cut"})
    'price_cut p90'
    """
    for key, value in labels.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def query_range(prometheus: str, expr: str, start_s: float, end_s: float,
                step_s: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": expr, "start": start_s, "end": end_s,
                                     "step": step_s})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body.get('error')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _panels(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for panel in dashboard["panels"]:
        found[panel["title"]] = panel
        for nested in panel.get("panels", []):
            found[nested["title"]] = nested
    return found


def render(prometheus: str, out: str | Path, start_s: float, end_s: float,
           rate_interval: str = "1m", dashboard_path: Path = DASHBOARD) -> Path:
    """Draw KEY_PANELS over [start_s, end_s] into ``out`` (PNG); returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dashboard = json.loads(dashboard_path.read_text(encoding="utf-8"))
    panels = _panels(dashboard)
    step_s = max(1.0, (end_s - start_s) / 240)
    fig, axes = plt.subplots(3, 3, figsize=(16, 10.5), constrained_layout=True)
    for ax, title in zip(axes.flat, KEY_PANELS, strict=True):
        panel = panels[title]
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        ax.set_title(title, fontsize=11, loc="left")
        ax.grid(True, alpha=0.3)
        if panel["type"] == "heatmap":
            _heatmap(ax, prometheus, panel, start_s, end_s, step_s, rate_interval)
            continue
        drawn = 0
        for target in panel["targets"]:
            expr = grafana_to_promql(target["expr"], rate_interval)
            for series in query_range(prometheus, expr, start_s, end_s, step_s):
                xs = [float(t) - start_s for t, v in series["values"]]
                ys = [float(v) for t, v in series["values"]]
                if not any(math.isfinite(y) for y in ys):
                    continue
                ax.plot(xs, ys, label=legend(target.get("legendFormat", ""), series["metric"]),
                        linewidth=1.4, drawstyle="steps-post" if panel["type"] == "state-timeline"
                        else "default")
                drawn += 1
        if drawn:
            ax.legend(fontsize=7, loc="upper left", ncol=2, framealpha=0.7)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_ylabel({"ops": "per second", "s": "seconds", "percentunit": "share"}.get(unit, ""))
        ax.set_xlim(0, end_s - start_s)
        ax.set_xlabel("seconds")
    started = datetime.fromtimestamp(start_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    fig.suptitle(f"{dashboard['title']}: key panels of deploy/grafana/dashboards/"
                 f"{dashboard_path.name}, from {started}, {end_s - start_s:.0f} s, "
                 f"rate interval {rate_interval}", fontsize=12)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def _heatmap(ax: Any, prometheus: str, panel: dict[str, Any], start_s: float, end_s: float,
             step_s: float, rate_interval: str) -> None:
    """Bucket increases over time as an image: score bucket (y) by time (x)."""
    expr = grafana_to_promql(panel["targets"][0]["expr"], rate_interval)
    series = query_range(prometheus, expr, start_s, end_s, step_s)
    by_le = {float(s["metric"]["le"]): dict(s["values"]) for s in series}
    if not by_le:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return
    bounds = sorted(by_le)
    times = sorted({t for values in by_le.values() for t in values})
    rows = []
    previous = [0.0] * len(times)
    for le in bounds:  # cumulative buckets to per-bucket counts
        cumulative = [float(by_le[le].get(t, "nan")) for t in times]
        rows.append([max(0.0, c - p) if math.isfinite(c) else 0.0
                     for c, p in zip(cumulative, previous, strict=True)])
        previous = [c if math.isfinite(c) else p for c, p in zip(cumulative, previous,
                                                                   strict=True)]
    finite = [b for b in bounds if math.isfinite(b)]
    rows = rows[:len(finite)]
    ax.imshow(rows, aspect="auto", origin="lower", cmap="Oranges", interpolation="nearest",
              extent=(float(times[0]) - start_s, float(times[-1]) - start_s, 0, 1))
    ax.set_ylabel("score (bucket upper bound)")
    ax.set_xlabel("seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--last", default="30m", help="span ending now: 90s, 30m, 6h")
    parser.add_argument("--rate-interval", default="1m")
    parser.add_argument("--out", default="dashboard.png")
    args = parser.parse_args()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    span_s = float(args.last[:-1]) * units[args.last[-1]]
    end_s = time.time()
    print(render(args.prometheus, args.out, end_s - span_s, end_s, args.rate_interval))


if __name__ == "__main__":
    main()
