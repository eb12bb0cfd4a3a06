"""A Faust consumer that hands each fetch to one handler call, and commits only what it saved.

Faust keeps what it does well here: group membership, assignment, rebalance callbacks, the
commit timer, the producer, timers and the worker's life cycle. Its per-message path goes: a
stock agent costs about 90 us of CPU per message (an ``Event``, a ``ConsumerMessage``, four
asyncio tasks and a lock per record), this consumer about 1.4 us (issue 12 has the
measurements). It also fixes two upstream faults the worker cannot live with: agents with
concurrency above 1 commit past unfinished messages (faust-streaming #606), and records are
processed twice after a rebalance (#502), because offsets acked but not yet committed are
dropped with the revoked partitions.

What it overrides of ``faust.transport.consumer.Consumer`` (faust-streaming 0.15.3, pinned
exactly; ``tests/test_batch_consumer.py`` checks each behaviour relied on, so an upgrade that
changes one fails a test):

- ``_drain_messages``: one ``BatchProcessor.decide`` call per fetch, with the records the
  app's scheduler (the event-time merge) releases, in that order. It returns the offsets that
  are safe to commit: those whose effect is saved. The call runs shielded: a cancelled fetcher
  (shutdown) never cuts a batch in half. Any exception out of it halts the consumer for good
  (``BatchProcessor.halt``): nothing more is fetched, decided or committed.
- ``_new_offset`` and ``_filter_tps_with_pending_acks``: commit exactly the safe offsets
  (Faust's ack lists and gap trees are never filled: no message is tracked or acked).
- ``on_partitions_revoked``: stop starting batches, wait for the one in flight, save and commit
  while the partitions are still ours, then let Faust's revoke handling (and the app's, which
  drops the stores) go on. The worker taking them over starts exactly where this one stopped.
- ``on_stop``: the same save and commit on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.types import TP

log = logging.getLogger(__name__)

# (partition, record): records are aiokafka ConsumerRecords (topic, partition, offset,
# timestamp in ms, key, value)
Fetched = list[tuple[TP, Any]]


class BatchProcessor(Protocol):
    """What the consumer hands its fetches to (the app's ``BatchDecider``)."""

    async def decide(self, batch: Fetched) -> Mapping[TP, int]:
        """Decide the batch; return the next offset to consume of each partition whose
        decided records are now saved (empty while a save is not due)."""
        ...

    async def save(self) -> Mapping[TP, int]:
        """Save whatever is decided and return the offsets that made safe (empty if none)."""
        ...

    def halt(self, exc: BaseException) -> None:
        """The batch path failed: record it (health, log); nothing more will be decided."""
        ...


class BatchConsumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer with the batch path above; ``processor`` is set by the app
    before the worker starts."""

    processor: BatchProcessor | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._safe_offsets: dict[TP, int] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._revoking = False
        self._saving = asyncio.Lock()  # a revocation and the idle path may both ask to save
        self.halted = False

    # -- commits: exactly the saved offsets ------------------------------------------------

    def mark_safe(self, offsets: Mapping[TP, int]) -> None:
        """Offsets (next to consume) whose records' effects are saved: the next commit takes
        them. Partitions no longer assigned are ignored."""
        assignment = self.assignment()
        for tp, offset in offsets.items():
            if tp in assignment and offset > self._safe_offsets.get(tp, -1):
                self._safe_offsets[tp] = offset

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Iterator[TP]:
        for tp, offset in self._safe_offsets.items():
            if topics is not None and tp not in topics and tp.topic not in topics:
                continue
            committed = self._committed_offset.get(tp)
            if committed is None or offset > committed:
                yield tp

    def _new_offset(self, tp: TP) -> int | None:
        return self._safe_offsets.get(tp)

    # -- the batch path --------------------------------------------------------------------

    async def _drain_messages(self, fetcher: Any) -> None:
        """Fetch, merge, decide, mark safe; until stopped or halted."""
        processor = self.processor
        if processor is None:
            raise RuntimeError("BatchConsumer.processor is not set: the app wires it up")
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        iterate = self.scheduler.iterate
        try:
            while not (consumer_should_stop() or fetcher_should_stop() or self.halted):
                records, active = await self._wait_next_records(1.0)
                if records is None or self.should_stop:
                    continue
                if not self.flow_active:
                    # a rebalance stopped the flow after this fetch: Faust seeks back to the
                    # committed offsets, so the records come again
                    continue
                generation = self.app.consumer_generation_id
                if active is None:
                    batch = list(iterate(records))
                else:
                    batch = [(tp, record) for tp, record in iterate(records) if tp in active]
                if self._revoking or generation != self.app.consumer_generation_id:
                    continue  # fetched before the revocation; fetched again after the seek
                if not batch:
                    await self.save_now()  # idle: what is decided gets saved and committed
                    continue
                safe = await self._run(processor.decide(batch))
                if safe:
                    self.mark_safe(safe)
                    await self.commit()
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except Exception as exc:  # the merge or a commit failed: stop rather than skip
            self._halt(exc)

    async def _run(self, call: Any) -> Mapping[TP, int]:
        """Run one processor call to its end even if the fetcher is cancelled meanwhile (a
        half-decided batch must never be saved); halt on any exception."""
        self._idle.clear()
        task = asyncio.ensure_future(call)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            await asyncio.wait([task])
            if not task.cancelled() and task.exception() is not None:
                self._halt(task.exception())
            raise
        except Exception as exc:
            self._halt(exc)
            return {}
        finally:
            self._idle.set()

    def _halt(self, exc: BaseException) -> None:
        self.halted = True
        if self.processor is not None:
            self.processor.halt(exc)

    async def save_now(self) -> None:
        """Save what is decided and commit it (idle, revocation, shutdown). Waits for the batch
        in flight; does nothing once halted."""
        if self.processor is None or self.halted:
            return
        async with self._saving:
            await self._idle.wait()
            safe = await self._run(self.processor.save())
            if safe:
                self.mark_safe(safe)
                await self.commit()

    # -- rebalance and shutdown ------------------------------------------------------------

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Finish and commit the batch in flight while the partitions are still ours, then
        let Faust (and the app's handler) revoke them."""
        self._revoking = True
        try:
            await self.save_now()
        except Exception as exc:  # the revocation must go on: the next owner redoes the rest
            log.warning(
                "could not save before the revocation; the next owner of these "
                "partitions redoes what was not committed: %r",
                exc,
            )
        finally:
            for tp in revoked:
                self._safe_offsets.pop(tp, None)
            try:
                await super().on_partitions_revoked(revoked)
            finally:
                self._revoking = False

    async def on_stop(self) -> None:
        try:
            await self.save_now()
        except Exception as exc:
            log.warning(
                "could not save on shutdown; the next worker redoes what was not " "committed: %r",
                exc,
            )
        await super().on_stop()
