"""Putting a marketplace together: the plan of stores, the event stream and labels, the command line."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stream.tools.redteam.bulk_identity import bulk_identity
from stream.tools.redteam.gambling_front import gambling_front
from stream.tools.redteam.gang import Gang, make_gang
from stream.tools.redteam.ghost_supplier import ghost_supplier
from stream.tools.redteam.honest import honest_store
from stream.tools.redteam.mule_cashout import mule_cashout
from stream.tools.redteam.population import plan
from stream.tools.redteam.price_protection import price_protection
from stream.tools.redteam.round2 import START2, generate2
from stream.tools.redteam.round3 import START3, generate3
from stream.tools.redteam.round4 import START4, generate4
from stream.tools.redteam.world import SCHEMES, Shop, World

START1 = datetime(2024, 5, 6, tzinfo=UTC)


def generate(
    stores: int = 400,
    days: int = 30,
    seed: int = 0,
    start: datetime = START1,
    fraud_share: float = 0.10,
    per_variant: int = 4,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Events sorted by (ts, event_id) and labels store_id -> label; the same for the same seed."""
    w = World(seed, start, days, stores)
    rng = w.rng
    labels = plan(stores, fraud_share, per_variant)
    rng.shuffle(labels)
    shops: list[Shop] = []
    crews: list[tuple[str, Gang, float, list[str]]] = []  # gangs first: their accounts also shop
    for scheme in SCHEMES:
        mine = [lab.split("/", 1)[1] for lab in labels if lab.startswith(scheme + "/")]
        while mine:
            size = rng.randint(3, 8)
            crews.append((scheme, make_gang(w), w.t0 + rng.uniform(0, 0.92) * w.span, mine[:size]))
            mine = mine[size:]
    left = sum(lab == "legit/family_shared" for lab in labels)
    owners: list[tuple[str, str | None]] = []
    while left > 0:  # families: 2-3 stores on one account, sometimes one bank too
        size = left if left <= 3 else rng.randint(2, min(3, left - 2))
        owners += [(w.uid("ow"), w.bank() if rng.random() < 0.5 else None)] * size
        left -= size
    for lab in labels:
        if lab.startswith("legit/"):
            owner, bank = owners.pop() if lab == "legit/family_shared" else (None, None)
            shops.append(honest_store(w, lab.split("/", 1)[1], owner, bank))
    makers = {
        "price_protection": price_protection,
        "gambling_front": gambling_front,
        "ghost_supplier": ghost_supplier,
        "mule_cashout": mule_cashout,
    }
    for scheme, gang, batch, crew in crews:
        for variant in crew:
            shops.append(
                bulk_identity(w, variant, batch)
                if scheme == "bulk_identity"
                else makers[scheme](w, variant, gang)
            )
    events = sorted(w.events, key=lambda e: (e["ts"], e["event_id"]))
    return events, {s.sid: s.label for s in sorted(shops, key=lambda s: s.sid)}


def write(
    events_path: str | Path, labels_path: str | Path, round_no: int = 1, **kwargs: Any
) -> tuple[int, int]:
    """Write round ``round_no``'s events as JSON lines and labels as one JSON object; returns
    (events, stores)."""
    events, labels = {2: generate2, 3: generate3, 4: generate4}.get(round_no, generate)(**kwargs)
    with open(events_path, "w", encoding="utf-8") as out:
        out.writelines(
            json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in events
        )
    Path(labels_path).write_text(
        json.dumps(labels, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    return len(events), len(labels)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stream.tools.redteam",
        description="Generate an independent labelled marketplace.",
    )
    parser.add_argument(
        "--round",
        type=int,
        choices=(1, 2, 3, 4),
        default=1,
        help="1: the published round (default); 2: new honest habits and evasive fraud; "
        "3: more honest habits and fraud dressed as them; 4: another marketplace (the 11.11 "
        "festival) and fraud that changed one thing",
    )
    parser.add_argument("--stores", type=int, default=400)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--start",
        help="first day, UTC (YYYY-MM-DD; round 1: 2024-05-06, round 2: 2024-10-21, "
        "round 3: 2025-03-10, round 4: 2025-10-27)",
    )
    parser.add_argument("--fraud-share", type=float, default=0.10)
    parser.add_argument("--per-variant", type=int, default=4)
    parser.add_argument("--out", default="redteam_events.jsonl")
    parser.add_argument("--labels", default="redteam_labels.json")
    args = parser.parse_args(argv)
    try:
        start = (
            datetime.fromisoformat(args.start).replace(tzinfo=UTC)
            if args.start
            else {2: START2, 3: START3, 4: START4}.get(args.round, START1)
        )
    except ValueError:
        parser.error(f"--start must be a date like 2024-05-06, got {args.start!r}")
    n_events, n_stores = write(
        args.out,
        args.labels,
        args.round,
        stores=args.stores,
        days=args.days,
        seed=args.seed,
        start=start,
        fraud_share=args.fraud_share,
        per_variant=args.per_variant,
    )
    print(f"{n_events} events, {n_stores} stores -> {args.out}, {args.labels}")
