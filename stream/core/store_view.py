"""What the state knew of a store when one of its events was applied: ``StoreView`` and the
window sums it holds. Pure Python, no Redis: the detectors, the Redis state store
(``stream.state.state``) and the in-memory one (``stream.state.memory_state``)
share it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace

from stream.core.facts import FactLinks
from stream.core.store_state import SkuSales, StoreState
from stream.core.updates import StateUpdate
from stream.core.windows import (
    LIFETIME_METRICS,
    METRIC_INDEX,
    NO_LIFETIME,
    WINDOW_METRICS,
    StateConfig,
)

__all__ = ["StoreView", "WindowSums", "with_marks"]


class WindowSums(Mapping[str, float]):
    """One window's sums by metric name, read from the sums the state computed (indexed as
    WINDOW_METRICS). Few events have their windows read, so names are looked up only then.

    >>> WindowSums([250.0, 2.0] + [0.0] * 10)["orders_placed"]
    2.0
    """

    __slots__ = ("_sums",)

    def __init__(self, sums: Sequence[float]) -> None:
        self._sums = sums

    def __getitem__(self, metric: str) -> float:
        return self._sums[METRIC_INDEX[metric]]

    def __iter__(self) -> Iterator[str]:
        return iter(WINDOW_METRICS)

    def __len__(self) -> int:
        return len(WINDOW_METRICS)


@dataclass(slots=True)  # not frozen, as the state's records (see store_state.Applied): read-only
class StoreView:
    """What the state knew of a store when one of its events was applied.

    ``profile`` is as it was *before* the event (so "time since the last withdrawal" means the
    previous one); it may be the same dict as other views' of the store, so it is read, never
    written. ``window(length_s)`` and ``sku`` already include the event: ``window_sums`` holds
    the sums of each length of ``window_lengths_s``, in that order. ``refusal`` names why the
    event was not applied (one of REFUSALS); a refused event's view has no windows.
    """

    refusal: str | None
    max_ts_s: float
    profile: dict[str, str]
    window_lengths_s: tuple[float, ...]
    window_sums: Sequence[tuple[float, ...]]
    sku: SkuSales | None
    links: dict[str, FactLinks] = field(default_factory=dict)
    lifetime_sums: tuple[float, ...] = NO_LIFETIME  # LIFETIME_METRICS since first seen

    def lifetime(self, metric: str) -> float:
        """A LIFETIME_METRICS sum since the store was first seen, this event included."""
        return self.lifetime_sums[LIFETIME_METRICS.index(metric)]

    @property
    def late(self) -> bool:
        return self.refusal == "late"

    def profile_float(self, name: str) -> float | None:
        value = self.profile.get(name)
        return float(value) if value is not None else None

    def window(self, length_s: float) -> WindowSums:
        """The sums of the window of ``length_s``, one of the configured lengths."""
        try:
            return WindowSums(self.window_sums[self.window_lengths_s.index(length_s)])
        except (ValueError, IndexError):
            raise KeyError(
                f"no window of {length_s}s in this view (windows: "
                f"{list(self.window_lengths_s)}, refusal: {self.refusal})"
            ) from None


def with_marks(
    view: StoreView, marks: dict[str, str] | None, ring_of: Callable[[FactLinks], str | None]
) -> StoreView:
    """``view`` with the alert marks and ring ids written since it was read (both state stores
    keep them the same way; ``ring_of`` reads a fact's current ring)."""
    if not marks and not view.links:
        return view
    rings = {kind: ring_of(link) for kind, link in view.links.items()}
    if not marks and all(rings[kind] == link.ring_id for kind, link in view.links.items()):
        return view
    links = {kind: replace(link, ring_id=rings[kind]) for kind, link in view.links.items()}
    return replace(view, profile={**view.profile, **(marks or {})}, links=links)


def apply_in_order(
    stores: MutableMapping[str, StoreState],
    updates: Sequence[StateUpdate],
    config: StateConfig,
    window_lengths_s: tuple[float, ...],
    changed: set[str],
    *,
    new_stores: bool,
) -> list[StoreView]:
    """Apply a batch's updates in order, each view seeing the updates before it, and note the
    stores that took one (both state stores). With ``new_stores`` a store not in ``stores``
    starts empty; without, it is a KeyError: the Redis store loads every store of the batch
    first, and deciding on an empty state where a saved one exists would flag a new store."""
    views: list[StoreView] = []
    for update in updates:
        state = stores.get(update.store_id)
        if state is None:
            if not new_stores:
                raise KeyError(f"store {update.store_id!r} was not loaded before its batch")
            state = stores[update.store_id] = StoreState()
        applied = state.apply(update, config)
        if applied.refusal is None:
            changed.add(update.store_id)
        views.append(
            StoreView(
                applied.refusal,
                applied.max_ts_s,
                applied.profile,
                window_lengths_s,
                applied.window_sums,
                applied.sku,
                lifetime_sums=applied.lifetime,
            )
        )
    return views
