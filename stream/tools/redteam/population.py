"""How many stores of each label a marketplace of a given size holds (both rounds)."""

from __future__ import annotations

from stream.tools.redteam.world import HABITS, SCHEMES, VARIANTS


def plan(
    stores: int,
    fraud_share: float,
    per_variant: int,
    habits: dict[str, float] = HABITS,
    schemes: dict[str, tuple[str, ...]] = VARIANTS,
) -> list[str]:
    """Labels for the population: every variant gets ``per_variant`` stores when there is room
    (so recall can be measured per variant), otherwise ``fraud_share`` of the stores."""
    # interleaved (every scheme's classic first) so that small populations still see all schemes
    variants = [
        f"{s}/{schemes[s][i]}"
        for i in range(max(map(len, schemes.values())))
        for s in SCHEMES
        if i < len(schemes[s])
    ]
    n_fraud = min(stores // 4, max(round(stores * fraud_share), per_variant * len(variants)))
    labels = [variants[i % len(variants)] for i in range(n_fraud)]
    n_honest = stores - n_fraud
    exact = {h: share * n_honest / sum(habits.values()) for h, share in habits.items()}
    counts = {h: int(x) for h, x in exact.items()}
    for h in sorted(exact, key=lambda h: counts[h] - exact[h])[: n_honest - sum(counts.values())]:
        counts[h] += 1
    return labels + [f"legit/{h}" for h, n in counts.items() for _ in range(n)]
