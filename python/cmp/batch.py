"""Many enrollments at once: :func:`enroll_many` and its statistics.

:func:`enroll_many` runs one transaction per :class:`~cmp.requests.EnrollRequest`
over an :class:`~cmp.client.AsyncClient`, at most ``concurrency`` at a time,
and yields a :class:`BatchItem` for each as it completes (not in request
order). A failed transaction is an item with its ``error``; the batch goes
on. Memory stays bounded however long the batch: requests are pulled from
their iterator only when a slot is free and an item has been taken, so at
most ``concurrency`` transactions are in flight and at most ``concurrency``
finished items wait for the caller::

    async with AsyncClient(url, config=config) as client:
        stats = BatchStats()
        async for item in enroll_many(client, requests, concurrency=64, stats=stats):
            if item.error is not None:
                print(item.index, item.error)
        print(stats.summary())

:func:`enroll_many_sync` is the same for synchronous code: it runs the batch
in an event loop of its own, in a thread, and hands the items over as they
come. :class:`BatchStats` keeps count, throughput and latency percentiles in
constant memory (a log-bucketed histogram, 1 % relative precision).
"""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Callable, Union

from cmp._frozen import fast_init
from cmp.client import AsyncClient
from cmp.requests import EnrollRequest
from cmp.transaction import TransactionConfig, TransactionResult

__all__ = [
    "DEFAULT_CONCURRENCY",
    "BatchItem",
    "BatchProgress",
    "BatchStats",
    "enroll_many",
    "enroll_many_sync",
]

DEFAULT_CONCURRENCY = 32
"""Transactions in flight at once unless ``concurrency`` says otherwise."""

Requests = Union[Iterable[EnrollRequest], AsyncIterable[EnrollRequest]]
ProgressCallback = Callable[["BatchProgress"], None]
ClientSource = Union[AsyncClient, Callable[[], AsyncClient]]


@fast_init
@dataclass(frozen=True)
class BatchItem:
    """The outcome of one request of a batch.

    ``index`` is the request's position in the input, ``result`` the
    transaction's result or ``error`` the exception it ended with (exactly one
    of the two is set), ``latency`` the seconds from its start to its end.
    """

    index: int
    request: EnrollRequest
    result: TransactionResult | None
    error: Exception | None
    latency: float

    @property
    def ok(self) -> bool:
        """Whether the transaction succeeded."""
        return self.error is None


@fast_init
@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands, as given to the ``progress`` callback after each item.

    ``done`` items were yielded (``ok`` succeeded, ``failed`` did not),
    ``in_flight`` transactions were started and not yet yielded, ``elapsed``
    seconds passed since the start; ``total`` is the number of requests when
    the input has a length, else None.
    """

    done: int
    ok: int
    failed: int
    in_flight: int
    elapsed: float
    total: int | None = None

    @property
    def throughput(self) -> float:
        """Items finished per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


# --- statistics --------------------------------------------------------------------------------

_PRECISION = 0.01  # relative width of a latency bucket
_LOG_STEP = math.log1p(_PRECISION)
_FLOOR = 1e-6  # seconds: shorter latencies share the lowest bucket
_MAX_BUCKET = int(math.log(86_400 / _FLOOR) / _LOG_STEP)  # a day: longer ones share the top


class BatchStats:
    """Count, outcome, throughput and latency percentiles of a batch, updated
    item by item in constant memory.

    Percentiles come from a histogram of logarithmic buckets 1 % wide (at
    most ~2,500 of them, from 1 µs to a day), so they are within 0.5 % of
    the exact value; min, max and mean are exact. ``elapsed`` runs from
    :meth:`start` (or creation) to the last item recorded.
    """

    def __init__(self, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._started = clock()
        self._last = self._started
        self.count = 0
        self.ok = 0
        self.failed = 0
        self.errors: dict[str, int] = {}
        """Failures by exception class name."""
        self._sum = 0.0
        self._min = math.inf
        self._max = 0.0
        self._buckets: dict[int, int] = {}

    def start(self) -> None:
        """(Re)start the clock that ``elapsed`` and ``throughput`` use."""
        self._started = self._last = self._clock()

    def record(self, item: BatchItem) -> None:
        """Account for one finished item."""
        self.record_outcome(item.error, item.latency)

    def record_outcome(
        self, error: BaseException | None = None, latency: float | None = None
    ) -> None:
        """Account for one outcome that is not a :class:`BatchItem`: a
        transaction run some other way (``latency`` its seconds), or a
        request that failed before it could be sent (no ``latency``: it
        counts, but not in the percentiles)."""
        self._last = self._clock()
        self.count += 1
        if error is None:
            self.ok += 1
        else:
            self.failed += 1
            name = type(error).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
        if latency is not None:
            self.add_latency(latency)

    def add_latency(self, seconds: float) -> None:
        """Add one latency sample (``record`` does this for items)."""
        self._sum += seconds
        self._min = min(self._min, seconds)
        self._max = max(self._max, seconds)
        bucket = _bucket(seconds)
        self._buckets[bucket] = self._buckets.get(bucket, 0) + 1

    @property
    def samples(self) -> int:
        """Latency samples held (items recorded, plus any added directly)."""
        return sum(self._buckets.values())

    @property
    def elapsed(self) -> float:
        """Seconds from the start to the last item recorded."""
        return self._last - self._started

    @property
    def throughput(self) -> float:
        """Items per second over ``elapsed``."""
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def latency_min(self) -> float | None:
        return self._min if self._buckets else None

    @property
    def latency_max(self) -> float | None:
        return self._max if self._buckets else None

    @property
    def latency_mean(self) -> float | None:
        n = self.samples
        return self._sum / n if n else None

    def percentile(self, q: float) -> float | None:
        """The latency (seconds) at or below which ``q`` percent of the items
        finished (nearest rank); None before the first item."""
        if not 0 <= q <= 100:
            raise ValueError("a percentile lies between 0 and 100")
        n = self.samples
        if not n:
            return None
        rank = max(1, math.ceil(q / 100 * n))
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                return min(max(_bucket_value(bucket), self._min), self._max)
        return self._max  # not reached: the counts add up to n

    @property
    def p50(self) -> float | None:
        return self.percentile(50)

    @property
    def p90(self) -> float | None:
        return self.percentile(90)

    @property
    def p99(self) -> float | None:
        return self.percentile(99)

    @property
    def histogram_size(self) -> int:
        """Buckets in use: bounded, whatever the number of items."""
        return len(self._buckets)

    def summary(self) -> str:
        """One line for people: counts, throughput, latency percentiles."""
        head = (
            f"{self.count} transactions ({self.ok} ok, {self.failed} failed) "
            f"in {self.elapsed:.2f} s: {self.throughput:.1f}/s"
        )
        if not self._buckets:
            return head
        return (
            f"{head}; latency p50 {_ms(self.p50)}, p90 {_ms(self.p90)}, "
            f"p99 {_ms(self.p99)}, max {_ms(self.latency_max)}"
        )


def _bucket(seconds: float) -> int:
    if seconds <= _FLOOR:
        return 0
    return min(int(math.log(seconds / _FLOOR) / _LOG_STEP), _MAX_BUCKET)


def _bucket_value(bucket: int) -> float:
    """The geometric middle of a bucket."""
    return _FLOOR * math.exp((bucket + 0.5) * _LOG_STEP)


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.2f} ms"


# --- the batch -------------------------------------------------------------------------------


async def enroll_many(
    client: AsyncClient,
    requests: Requests,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    config: TransactionConfig | None = None,
    progress: ProgressCallback | None = None,
    stats: BatchStats | None = None,
) -> AsyncIterator[BatchItem]:
    """Run a transaction for each of ``requests`` over ``client``, at most
    ``concurrency`` at once, yielding a :class:`BatchItem` for each as it
    completes.

    ``requests`` is any iterable or async iterable of
    :class:`~cmp.requests.EnrollRequest`, pulled lazily (a generator of
    millions is fine). ``config`` replaces the client's
    :class:`~cmp.transaction.TransactionConfig` for the whole batch. An
    exception of a transaction becomes the item's ``error``; an exception of
    the ``requests`` iterator or of ``progress`` ends the batch. ``progress``
    is called with a :class:`BatchProgress` after each item, ``stats`` (when
    given) is restarted and records every item. A transaction cancelled from
    outside the batch (or interrupted) ends the batch with that exception.

    Leaving the loop early (``break``, an exception, closing the generator)
    cancels the transactions in flight.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    loop = asyncio.get_running_loop()
    clock = time.perf_counter
    started = clock()
    if stats is not None:
        stats.start()
    total = _length(requests)
    finished: asyncio.Queue[BatchItem | _Abort] = asyncio.Queue()
    tasks: set[asyncio.Task[None]] = set()
    source = _pull(requests)
    exhausted = False
    index = done = failed = 0

    async def one(position: int, request: EnrollRequest) -> None:
        begin = clock()
        try:
            result = await client.run(request, config=config)
        except Exception as exc:  # the item's failure, reported, never the batch's
            finished.put_nowait(BatchItem(position, request, None, exc, clock() - begin))
        except BaseException as exc:  # cancelled from outside, interrupted: the batch's end
            finished.put_nowait(_Abort(exc))
            raise
        else:
            finished.put_nowait(BatchItem(position, request, result, None, clock() - begin))

    try:
        while True:
            # Started but not yet yielded (in flight, or finished and queued):
            # at most `concurrency`, which bounds tasks and items alike.
            while not exhausted and index - done < concurrency:
                try:
                    request = await source.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                task = loop.create_task(one(index, request))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
            if index == done:
                return
            item = await finished.get()
            if isinstance(item, _Abort):
                raise item.reason
            done += 1
            failed += item.error is not None
            if stats is not None:
                stats.record(item)
            if progress is not None:
                elapsed = clock() - started
                progress(BatchProgress(done, done - failed, failed, index - done, elapsed, total))
            yield item
    finally:
        await _cancel(tasks)
        await _aclose(source)


class _Abort:
    """A transaction ended with a BaseException (not an item's failure)."""

    def __init__(self, reason: BaseException) -> None:
        self.reason = reason


async def _pull(requests: Requests) -> AsyncIterator[EnrollRequest]:
    """One async iterator over a sync or async iterable."""
    if isinstance(requests, AsyncIterable):
        async for request in requests:
            yield request
    else:
        for request in requests:
            yield request


def _length(requests: object) -> int | None:
    try:
        return len(requests)  # type: ignore[arg-type]
    except TypeError:
        return None


async def _cancel(tasks: set[asyncio.Task[None]]) -> None:
    pending = list(tasks)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


async def _aclose(iterator: AsyncIterator[EnrollRequest]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


# --- the synchronous form --------------------------------------------------------------------


class _End:
    """The batch is over: normally (``error`` None) or with ``error``."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def enroll_many_sync(
    client: ClientSource,
    requests: Requests,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    config: TransactionConfig | None = None,
    progress: ProgressCallback | None = None,
    stats: BatchStats | None = None,
) -> Iterator[BatchItem]:
    """:func:`enroll_many` for synchronous code: the batch runs in an event
    loop of its own in a background thread; the items come out as they
    complete, at most ``concurrency`` of them waiting for the caller.

    ``client`` is an :class:`~cmp.client.AsyncClient` or a function making
    one (``lambda: AsyncClient(url, config=cfg)``). Either way the client
    lives in the batch's event loop and is closed at its end: its pooled
    connections cannot outlive that loop. ``progress`` runs in the batch's
    thread. Leaving the loop early stops the batch and cancels the
    transactions in flight.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    handover: queue.Queue[BatchItem | _End] = queue.Queue()
    ready = threading.Event()
    loop_box: list[asyncio.AbstractEventLoop] = []
    credits_box: list[asyncio.Semaphore] = []
    main_box: list[asyncio.Task[None]] = []

    async def pump() -> None:
        # At most `concurrency` items wait in `handover`: each one taken by
        # the caller gives back a credit.
        credits = asyncio.Semaphore(concurrency)
        credits_box.append(credits)
        loop_box.append(asyncio.get_running_loop())
        main_box.append(asyncio.current_task())  # type: ignore[arg-type]
        ready.set()
        own = client() if not isinstance(client, AsyncClient) else client
        batch = enroll_many(
            own,
            requests,
            concurrency=concurrency,
            config=config,
            progress=progress,
            stats=stats,
        )
        try:
            async for item in batch:
                await credits.acquire()
                handover.put(item)
        finally:
            await _aclose_batch(batch)
            await own.aclose()

    def run() -> None:
        try:
            asyncio.run(pump())
        except BaseException as exc:  # handed to the caller's thread
            ready.set()
            handover.put(_End(exc))
        else:
            handover.put(_End())

    thread = threading.Thread(target=run, name="cmpkit-batch", daemon=True)
    thread.start()
    ready.wait()
    finished = False
    try:
        while True:
            got = handover.get()
            if isinstance(got, _End):
                finished = True
                if got.error is not None and not isinstance(got.error, asyncio.CancelledError):
                    raise got.error
                return
            _give_credit(loop_box, credits_box)
            yield got
    finally:
        if not finished:
            _stop(loop_box, main_box)
        thread.join()


async def _aclose_batch(batch: AsyncIterator[BatchItem]) -> None:
    aclose = getattr(batch, "aclose", None)
    if aclose is not None:
        await aclose()


def _give_credit(
    loop_box: list[asyncio.AbstractEventLoop], credits_box: list[asyncio.Semaphore]
) -> None:
    if loop_box and credits_box:
        try:
            loop_box[0].call_soon_threadsafe(credits_box[0].release)
        except RuntimeError:  # the loop is already closed: nothing waits for credit
            pass


def _stop(loop_box: list[asyncio.AbstractEventLoop], main_box: list[asyncio.Task[None]]) -> None:
    if loop_box and main_box:
        try:
            loop_box[0].call_soon_threadsafe(main_box[0].cancel)
        except RuntimeError:  # the loop is already closed
            pass
