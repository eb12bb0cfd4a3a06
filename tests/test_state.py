"""The Redis state store: what only it does (one key per store in its own slot, nothing in Redis
before the commit, a failed commit kept for the next, stores read back after a release), its
window and lateness edge cases, its bounds and the saved blob's versions. What every state
store must do is specified once, for both stores, in tests/test_state_protocol.py."""

from __future__ import annotations

import base64
import pickle

import pytest
import redis.asyncio as redis_asyncio
import redis.exceptions

from stream.config import Settings, WindowSettings
from stream.core.checks import event_from_dict
from stream.core.store_state import StoreState
from stream.core.store_view import StoreView
from stream.core.updates import update_for
from stream.core.windows import WINDOW_METRICS, StateConfig, Window, WindowShape
from stream.state.protocol import StateUnavailableError
from stream.state.state import RedisStateStore, state_key
from stream.tools.embedded import EmbeddedRedis
from tests.helpers import factories as f
from tests.helpers.factories import DAY, HOUR, T0


async def apply(store: RedisStateStore, *events: dict[str, object]) -> list[StoreView]:
    """Apply events as one batch and commit it, as the engine does."""
    updates = [update_for(event_from_dict(e)) for e in events]
    views = await store.link_facts(updates, await store.apply_many(updates))
    await store.commit()
    return views


def make_store(client: redis_asyncio.Redis, **windows: object) -> RedisStateStore:
    return RedisStateStore(client, WindowSettings(**windows) if windows else Settings().windows)


async def test_a_late_event_lands_in_its_own_event_time_bucket(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client)
    views = await apply(
        store,
        f.order("s1", T0 + 3 * HOUR - 60, price=10),
        f.order("s1", T0 + 3 * HOUR - 600, price=5),
    )
    assert not views[-1].late
    # the 1h window ending at the late event's time holds it but not the newer sale
    assert views[-1].window(3600.0)["sales_cny"] == 5
    assert views[-1].window(86400.0)["sales_cny"] == 15


async def test_an_event_beyond_the_allowed_lateness_is_refused(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client, allowed_lateness_s="30m")
    views = await apply(
        store, f.order("s1", T0 + DAY, price=10), f.order("s1", T0 + DAY - 3600, price=5)
    )
    assert views[-1].late
    assert views[-1].max_ts_s == T0 + DAY


async def test_a_late_event_changes_no_state(redis_client: redis_asyncio.Redis) -> None:
    store = make_store(redis_client, allowed_lateness_s="30m")
    await apply(store, f.order("s1", T0 + DAY, price=10), f.order("s1", T0 + DAY - 3600, price=5))
    views = await apply(store, f.withdrawal("s1", T0 + DAY + 1, 1))
    assert views[-1].window(604800.0)["sales_cny"] == 10


async def test_a_committed_store_is_one_key_in_its_own_cluster_slot_that_expires(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client)
    await apply(store, f.store("s1", T0), f.order("s1", T0 + 1, sku="x"))
    assert "{s1}" in state_key("s1")
    assert [key async for key in redis_client.scan_iter("sw:v1:{s1}:*")] == [state_key("s1")]
    ttl = await redis_client.ttl(state_key("s1"))
    assert 0 < ttl <= Settings().windows.idle_store_ttl_s


async def test_nothing_reaches_redis_before_the_commit(redis_client: redis_asyncio.Redis) -> None:
    store = make_store(redis_client)
    await store.apply_many([update_for(event_from_dict(f.order("s1", T0, price=5)))])
    assert await redis_client.exists(state_key("s1")) == 0
    await store.commit()
    assert await redis_client.exists(state_key("s1")) == 1


async def test_a_worker_meeting_a_store_reads_what_another_committed(
    redis_client: redis_asyncio.Redis,
) -> None:
    await apply(
        make_store(redis_client),
        f.store("s1", T0, deposit=1000),
        f.order("s1", T0 + 60, price=100, sku="tv"),
    )
    (view,) = await apply(make_store(redis_client), f.order("s1", T0 + 120, price=50, sku="tv"))
    assert view.window(3600.0)["sales_cny"] == 150
    assert view.profile_float("deposit") == 1000
    assert view.sku is not None and view.sku.units == 2


async def test_a_failed_commit_keeps_every_change_for_the_next_one() -> None:
    server = EmbeddedRedis().start()
    port = server.port
    client = redis_asyncio.Redis(port=port, decode_responses=True)
    store = make_store(client)
    await store.apply_many([update_for(event_from_dict(f.order("s1", T0, price=7)))])
    server.stop()
    with pytest.raises(StateUnavailableError):
        await store.commit()
    with EmbeddedRedis(port=port):  # Redis is back, empty: the commit brings everything
        await store.commit()
        saved = await store.saved_state("s1")
        assert saved is not None and saved.max_ts_s == T0
    await client.aclose()


async def test_a_commit_saves_every_changed_store_and_the_decided_offsets_with_the_idle_ttl(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client)
    await store.apply_many(
        [update_for(event_from_dict(f.order(s, T0, price=5))) for s in ("s1", "s2", "s3")]
    )
    store.decided(("orders", 0), 41)
    await store.commit()
    ttl_s = Settings().windows.idle_store_ttl_s
    for key in (state_key("s1"), state_key("s2"), state_key("s3"), "sw:v1:decided"):
        assert 0 < await redis_client.ttl(key) <= ttl_s, key
    assert await make_store(redis_client).decided_offsets({("orders", 0)}) == {("orders", 0): 41}


async def test_a_store_redis_refuses_to_save_leaves_the_decided_offsets_unwritten() -> None:
    # The decided offsets vouch for the stores: written before a store they cover is saved,
    # they would claim events whose effect Redis does not hold. Redis refuses the state keys
    # alone here (an ACL that lets the client write nothing else but the offsets' key).
    with EmbeddedRedis() as server:
        client = redis_asyncio.Redis(port=server.port, decode_responses=True)
        store = make_store(client)
        await store.apply_many([update_for(event_from_dict(f.order("s1", T0, price=7)))])
        store.decided(("orders", 0), 9)
        await client.execute_command(  # type: ignore[no-untyped-call]
            "ACL", "SETUSER", "default", "resetkeys", "~sw:v1:decided"
        )
        with pytest.raises(redis.exceptions.NoPermissionError):
            await store.commit()
        assert await client.exists("sw:v1:decided") == 0
        await client.execute_command("ACL", "SETUSER", "default", "allkeys")  # type: ignore[no-untyped-call]
        await store.commit()  # repeated: everything is written this time
        saved = await store.saved_state("s1")
        assert saved is not None and saved.max_ts_s == T0
        assert await client.hget("sw:v1:decided", "orders:0") == "9"
        await client.aclose()


async def test_a_released_store_is_read_again_from_redis(redis_client: redis_asyncio.Redis) -> None:
    store = make_store(redis_client)
    await apply(store, f.order("s1", T0, price=100))
    other_worker = make_store(redis_client)  # took the partition over, then gave it back
    await apply(other_worker, f.order("s1", T0 + 60, price=1))
    store.release()
    (view,) = await apply(store, f.order("s1", T0 + 120, price=10))
    assert view.window(3600.0)["sales_cny"] == 111


async def test_window_memory_is_bounded_by_the_bucket_count(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client)
    events = [f.order("s1", T0 + i * 1800.0, price=1) for i in range(24 * 2 * 20)]  # 20 days
    for start in range(0, len(events), 100):
        await apply(store, *events[start : start + 100])
    saved = await store.saved_state("s1")
    assert saved is not None
    settings = Settings().windows
    for length_s in settings.lengths_s:
        shape = WindowShape.of(length_s, settings.buckets_per_window, settings.allowed_lateness_s)
        assert len(saved.windows[shape.key].buckets) <= shape.ring
    in_memory = store._stores["s1"].windows
    assert all(len(window.buckets) <= 2 * shape.ring + 1 for window in in_memory.values())


async def test_an_event_applied_twice_changes_no_window_twice(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client)
    sale = f.order("s1", T0, price=100)
    first, again = await apply(store, sale, sale)
    assert again.refusal == "duplicate"
    (after,) = await apply(store, f.order("s1", T0 + 60, price=1))
    assert after.window(3600.0)["sales_cny"] == 101


async def test_event_ids_are_forgotten_beyond_the_allowed_lateness(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client, allowed_lateness_s="30m")
    await apply(store, *(f.order("s1", T0 + i * HOUR, price=1) for i in range(48)))
    saved = await store.saved_state("s1")
    assert saved is not None and len(saved.ids["order"]) == 1


async def test_a_copy_after_the_commit_is_a_duplicate(redis_client: redis_asyncio.Redis) -> None:
    sale = f.order("s1", T0, price=100)
    await apply(make_store(redis_client), sale)
    (again,) = await apply(make_store(redis_client), sale)
    assert again.refusal == "duplicate"


async def test_a_refund_for_an_order_the_store_never_placed_is_refused(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client, allowed_lateness_s="30m")
    *_, refund = await apply(
        store,
        f.order("s1", T0, price=100, order_id="o-1"),
        f.order("s1", T0 + 2 * HOUR, price=5, order_id="o-2"),
        f.refund("s1", T0 + HOUR, amount=50, order_id="o-9"),
    )
    assert refund.refusal == "unknown_order"


async def test_a_refund_that_overtook_its_order_still_counts(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client, allowed_lateness_s="30m")
    refund, order, later = await apply(
        store,
        f.refund("s1", T0 + HOUR, amount=50, order_id="o-1"),
        f.order("s1", T0, price=100, order_id="o-1"),
        f.withdrawal("s1", T0 + 2 * HOUR, 10),
    )
    assert refund.refusal is None and order.refusal is None
    assert later.window(86400.0)["refund_price_protection_cny"] == 50


async def test_a_refused_event_leaves_no_cross_store_fact(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client)
    claim = f.refund("s1", T0 + 3 * HOUR, amount=50, order_id="o-9")
    views = await apply(
        store,
        f.order("s1", T0, price=100, order_id="o-1"),
        f.order("s1", T0 + 4 * HOUR, price=5),
        claim,
    )
    assert views[-1].refusal == "unknown_order"
    assert await redis_client.exists("sw:v1:fact:claim:{buyer-1}") == 0


async def test_windows_of_events_arriving_out_of_order_across_streams_are_exact(
    redis_client: redis_asyncio.Redis,
) -> None:
    """Refunds lag the orders by up to the allowed lateness (the slow path of the script):
    every view's windows must equal a brute-force sum over the buckets they cover."""
    import random

    settings = WindowSettings(lengths_s=["1h", "6h"], allowed_lateness_s="30m")
    store = RedisStateStore(redis_client, settings)
    rng = random.Random(11)
    arrivals = []
    for i in range(150):
        ts = T0 + i * 97.0
        arrivals.append((ts, f.order("s1", ts, price=float(rng.randint(1, 50)))))
        lagged = ts - rng.uniform(0, 1700)
        arrivals.append(
            (ts + 0.5, f.refund("s1", lagged, amount=float(rng.randint(1, 9)), reason="other"))
        )
    # each stream in its own order, the refunds behind the orders
    applied: list[tuple[float, str, float]] = []
    for _, event in arrivals:
        (view,) = await apply(store, event)
        assert view.refusal is None
        ts_s = float(event_from_dict(event).ts_s)
        metric = "sales_cny" if event["type"] == "order" else "refund_other_cny"
        applied.append((ts_s, metric, float(event.get("unit_price") or event.get("amount") or 0)))
        for length_s in settings.lengths_s:
            bucket_s = length_s / settings.buckets_per_window
            idx = ts_s // bucket_s
            for name in ("sales_cny", "refund_other_cny"):
                expected = sum(
                    v
                    for t, m, v in applied
                    if m == name and idx - settings.buckets_per_window < t // bucket_s <= idx
                )
                assert abs(view.window(length_s)[name] - expected) < 1e-6, (length_s, name)


async def test_a_store_listing_ever_new_skus_keeps_only_those_sold_within_the_longest_window(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client, lengths_s=["1h", "1d"])
    sales = [f.order("s1", T0 + i * 600.0, sku=f"sku-{i}") for i in range(600)]  # ~4 days
    for start in range(0, len(sales), 100):
        await apply(store, *sales[start : start + 100])
    saved = await store.saved_state("s1")
    assert saved is not None
    sold_within_a_day = 144  # stale records are dropped each time the records double
    assert len(saved.skus) <= 2 * sold_within_a_day + 1


async def test_an_established_store_keeps_no_order_memory(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client)
    await apply(
        store, f.order("s1", T0, order_id="o-1"), f.order("s1", T0 + 8 * DAY, order_id="o-2")
    )
    saved = await store.saved_state("s1")
    assert saved is not None and saved.orders == {}


def _saved_form(state: StoreState) -> str:
    """Everything a saved state holds, types included (repr tells 1.0 from 1 and -0.0 from 0.0)."""
    windows = {key: (w.head, w.running, w.buckets) for key, w in state.windows.items()}
    return repr(
        (
            state.profile,
            state.max_ts_s,
            state.stream_max_ts_s,
            windows,
            state.skus,
            state.ids,
            state.orders,
            state.buyers,
            state.lifetime,
        )
    )


def _odd_state(config: StateConfig) -> StoreState:
    """A store whose windows hold every kind of float a blob must bring back as it was."""
    state = StoreState()
    state.profile = {"first_ts": "1709294400.25", "bank_account": "6222025718629959150"}
    state.max_ts_s = T0 + 0.125
    state.stream_max_ts_s = {"order": T0 + 0.125}
    shape = config.shapes[0]
    head = int(T0 // shape.bucket_s)
    running = [0.0] * len(WINDOW_METRICS)
    running[0], running[1], running[2], running[3] = 92713.99999999994, 3.0, -0.0, 1e300
    state.windows[shape.key] = Window(
        head, running, {head: {0: 0.1 + 0.2, 1: 3.0, 2: -0.0}, head - 2: {3: 1e300, 4: 0.0}}
    )
    state.skus = {"k1": [T0 + 0.125, 249.0, 383.0, 92713.99999999994]}
    state.ids = {"order": {"o-1": T0 + 0.125}}
    state.buyers = ["b1"]
    state.lifetime = [92713.99999999994, 3.0]
    return state


def test_a_saved_state_reads_back_exactly() -> None:
    config = Settings().windows
    state_config = StateConfig.of(
        list(config.lengths_s), config.buckets_per_window, config.allowed_lateness_s
    )
    state = _odd_state(state_config)
    blob = state.to_blob(state_config)
    assert _saved_form(StoreState.from_blob(blob)) == _saved_form(state)


def test_a_state_saved_by_the_version_before_is_read() -> None:
    """Version 3 pickled the same containers; a worker upgraded mid-run reads what it left."""
    config = Settings().windows
    state_config = StateConfig.of(
        list(config.lengths_s), config.buckets_per_window, config.allowed_lateness_s
    )
    state = _odd_state(state_config)
    windows = {key: (w.head, w.running, w.buckets) for key, w in state.windows.items()}
    fields = (state.profile, state.max_ts_s, state.stream_max_ts_s, windows, state.skus)
    rest = (state.ids, state.orders, state.buyers, state.lifetime)
    blob = pickle.dumps((3, *fields, *rest), protocol=5)
    assert _saved_form(StoreState.from_blob(blob)) == _saved_form(state)


def test_a_state_blob_of_no_known_version_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="version"):
        StoreState.from_blob(b"\x93\x01\x02\x03")
    with pytest.raises(ValueError, match="version"):
        StoreState.from_blob(pickle.dumps((9, {}), protocol=5))


async def test_model_snapshots_saved_in_the_earlier_base64_form_are_read(
    redis_client: redis_asyncio.Redis,
) -> None:
    store = make_store(redis_client)
    await redis_client.hset(store.models_key("app"), "claims", base64.b64encode(b"\x80old"))
    await store.save_models("app", {"price_cut": b"\x80new" * 100})
    assert await store.load_models("app") == {"claims": b"\x80old", "price_cut": b"\x80new" * 100}
    saved = await redis_client.hstrlen(store.models_key("app"), "price_cut")
    assert 0 < saved < 100  # compressed
