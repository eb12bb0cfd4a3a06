"""Event-time merging of fetched records across partitions (stream/core/ordering.py)."""

from __future__ import annotations

from itertools import islice

from stream.core.ordering import EventTimeMerger


def merger(max_held: int = 1000) -> EventTimeMerger[str]:
    return EventTimeMerger(timestamp=float, max_held=max_held)


def test_records_are_handed_over_in_timestamp_order_across_partitions() -> None:
    out = list(merger().add({"orders": [1, 4, 6], "refunds": [2, 3, 7]}))
    assert [ts for _, ts in out] == [1, 2, 3, 4, 6]


def test_a_quiet_partition_far_ahead_waits_for_the_busy_one_to_catch_up() -> None:
    m = merger()
    first = list(m.add({"orders": [1, 2, 3], "withdrawals": [2.5, 50]}))
    assert ("withdrawals", 50) not in first
    second = list(m.add({"orders": [40, 60]}))
    assert second == [("orders", 40), ("withdrawals", 50), ("orders", 60)]


def test_a_partition_that_brought_nothing_does_not_hold_the_others_back() -> None:
    m = merger()
    list(m.add({"orders": [1], "withdrawals": [10]}))
    assert list(m.add({"withdrawals": [11]})) == [("withdrawals", 10), ("withdrawals", 11)]


def test_an_empty_fetch_releases_everything_held() -> None:
    m = merger()
    list(m.add({"orders": [1], "withdrawals": [10, 20]}))
    assert list(m.add({})) == [("withdrawals", 10), ("withdrawals", 20)]
    assert m.held == 0


def test_records_left_when_the_consumer_stops_iterating_stay_held() -> None:
    m = merger()
    taken = list(islice(m.add({"orders": [1, 2, 3]}), 1))
    assert taken == [("orders", 1)] and m.held == 2
    assert list(m.add({})) == [("orders", 2), ("orders", 3)]


def test_past_the_cap_the_oldest_held_records_go_first() -> None:
    m = merger(max_held=2)
    out = list(m.add({"orders": [1], "withdrawals": [5, 6, 7, 8]}))
    assert out == [("orders", 1), ("withdrawals", 5), ("withdrawals", 6)]
    assert m.held == 2


def test_clearing_forgets_held_records() -> None:
    m = merger()
    list(m.add({"orders": [1], "withdrawals": [10]}))
    m.clear()
    assert list(m.add({})) == [] and m.held == 0


def test_a_record_stamped_far_ahead_goes_with_the_records_behind_it() -> None:
    m = merger()
    out = list(m.add({"orders": [1, 9999, 2, 3], "prices": [2.5, 4]}))
    assert out[:4] == [("orders", 1), ("orders", 9999), ("orders", 2), ("prices", 2.5)]
    assert ("orders", 3) in out


def test_a_partition_keeps_its_own_order() -> None:
    out = list(merger().add({"orders": [5, 1, 7]}))
    assert out == [("orders", 5), ("orders", 1), ("orders", 7)]


class Clock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def watermarked(at_end: set[str], clock: Clock, max_held: int = 1000) -> EventTimeMerger[str]:
    """A merger told which partitions are fetched to the end of their log (``at_end``)."""
    return EventTimeMerger(
        timestamp=float,
        max_held=max_held,
        caught_up=lambda partition, last: partition in at_end,
        idle_after_s=1.0,
        clock=clock,
    )


def test_a_partition_missing_from_a_fetch_but_not_at_its_end_still_holds_the_others() -> None:
    """A fetch often brings a few partitions only; one left out has more to come."""
    clock, at_end = Clock(), set[str]()
    m = watermarked(at_end, clock)
    m.assign(["orders", "withdrawals"])
    assert list(m.add({"orders": [1, 2], "withdrawals": [1.5, 3]})) == [
        ("orders", 1),
        ("withdrawals", 1.5),
        ("orders", 2),
    ]
    assert list(m.add({"orders": [4, 5]})) == [("withdrawals", 3)]
    assert list(m.add({"withdrawals": [6]})) == [("orders", 4), ("orders", 5)]


def test_a_partition_assigned_but_not_fetched_yet_holds_everything_until_it_brings_records() -> (
    None
):
    clock, at_end = Clock(), set[str]()
    m = watermarked(at_end, clock)
    m.assign(["orders", "withdrawals"])
    assert list(m.add({"orders": [5, 6]})) == []
    assert list(m.add({"withdrawals": [1, 7]})) == [
        ("withdrawals", 1),
        ("orders", 5),
        ("orders", 6),
    ]


def test_partitions_at_the_end_of_their_log_hold_nothing_so_live_records_pass_at_once() -> None:
    clock, at_end = Clock(), {"orders", "withdrawals"}
    m = watermarked(at_end, clock)
    m.assign(["orders", "withdrawals"])
    assert list(m.add({"orders": [5]})) == [("orders", 5)]
    assert m.held == 0


def test_a_partition_that_brought_nothing_for_the_idle_time_stops_holding_the_others() -> None:
    """As Flink's watermark idleness: neither fetched nor known at its end, it is idle."""
    clock, at_end = Clock(), set[str]()
    m = watermarked(at_end, clock)
    m.assign(["orders", "withdrawals"])
    assert list(m.add({"orders": [5]})) == []
    clock.now_s = 0.5
    assert list(m.add({"orders": [6]})) == []
    clock.now_s = 1.2
    assert list(m.add({"orders": [7]})) == [("orders", 5), ("orders", 6), ("orders", 7)]


def test_an_outlier_at_the_end_of_a_fetch_sways_the_watermark_for_that_fetch_only() -> None:
    clock, at_end = Clock(), set[str]()
    m = watermarked(at_end, clock)
    m.assign(["orders", "prices"])
    first = list(m.add({"orders": [1, 2, 50], "prices": [1.5, 99_999]}))  # a clock error
    assert first == [("orders", 1), ("prices", 1.5), ("orders", 2), ("orders", 50)]
    # prices has reached 55, not 99,999: orders' 60 and 70 wait for it again
    assert list(m.add({"orders": [60, 70], "prices": [55]})) == [("prices", 99_999), ("prices", 55)]
    assert m.held == 2


def test_revoking_forgets_what_partitions_reached() -> None:
    clock, at_end = Clock(), set[str]()
    m = watermarked(at_end, clock)
    m.assign(["orders"])
    list(m.add({"orders": [5]}))
    m.clear()
    m.assign(["prices"])
    assert list(m.add({"prices": [1]})) == [("prices", 1)]
