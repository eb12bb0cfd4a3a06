"""The commands that need no running stack: simulate, schema, bench, completion."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from stream.errors import UsageError
from stream.inputs import check_output


def cmd_simulate(args: argparse.Namespace) -> int:
    from stream.tools.simulate import simulate, write_events, write_labels

    for flag, value in (("--stores", args.stores), ("--days", args.days)):
        if value < 1:
            raise UsageError(f"{flag} is {value}; it must be at least 1", f"e.g. {flag} 100")
    check_output(args.out, "events")
    if args.labels:
        check_output(args.labels, "labels")
    sim = simulate(stores=args.stores, days=args.days, seed=args.seed)
    write_events(args.out, sim.events)
    if args.labels:
        write_labels(args.labels, sim.labels)
    kinds = Counter(label.partition("/")[0] for label in sim.labels.values())
    print(
        json.dumps(
            {
                "events": len(sim.events),
                "stores": len(sim.labels),
                "labels": dict(sorted(kinds.items())),
                "variants": dict(sorted(Counter(sim.labels.values()).items())),
                "out": str(args.out),
            },
            indent=2,
        )
    )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from stream.core.alert_schema import alert_json_schema
    from stream.core.event_schema import event_json_schema

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in (("event", event_json_schema()), ("alert", alert_json_schema())):
        (out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2) + "\n")
        print(out / f"{name}.schema.json")
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    from stream.cli.parser import build_parser
    from stream.tools.completion import completion_script

    print(completion_script(build_parser(), args.shell), end="")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from stream.tools.bench import BenchPlan, run_bench, run_latency

    if args.out:
        check_output(args.out, "the figures")
    if args.probe_s <= 0:
        raise UsageError(f"--probe-s is {args.probe_s}; it must be above 0", "e.g. --probe-s 10")
    if args.latency_at is not None:
        for rate in (args.latency_at, *args.probe):
            if rate <= 0:
                raise UsageError(f"a latency rate is {rate}; it must be above 0", "e.g. 2000")
        result = run_latency(
            BenchPlan(
                stores=args.stores,
                days=args.days,
                seed=args.seed,
                fixed_rate_per_s=args.latency_at,
                probe_rates_per_s=tuple(args.probe),
                probe_s=args.probe_s,
            ),
            args.out,
        )
        if args.out is not None:
            print(f"wrote {args.out}")
        return 0
    if args.probe:
        raise UsageError("--probe goes with --latency-at", "e.g. --latency-at 5600 --probe 2000")
    plan = BenchPlan(stores=args.stores, days=args.days, seed=args.seed, probe_s=args.probe_s)
    if args.small:
        plan = BenchPlan(
            stores=40,
            days=3,
            seed=args.seed,
            probe_rates_per_s=(500.0, 1000.0),
            fixed_rate_per_s=500.0,
            probe_s=2.0,
            profile_events=2000,
        )
    result = run_bench(plan, args.out)
    print(result.to_json() if args.out is None else f"wrote {args.out}")
    return 0
