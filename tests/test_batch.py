"""cmp.batch: many enrollments at once, against cmpkit's mock CA in-process and over HTTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from cmp.batch import (
    BatchItem,
    BatchProgress,
    BatchStats,
    enroll_many,
    enroll_many_sync,
)
from cmp.client import AsyncClient
from cmp.requests import EnrollRequest, RequestError
from cmp.server import MockServer, MockServerConfig
from cmp.status import ServerError
from cmp.transaction import TransactionConfig
from cmp.transport import AsyncBaseTransport, InProcessTransport

SECRET = b"batch test secret"
POPO_RAVERIFIED = 0  # refused by the mock CA unless accept_raverified


@pytest.fixture(scope="module")
def ca() -> MockServerConfig:
    return MockServerConfig.generate(secret=SECRET)


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def server(ca: MockServerConfig) -> MockServer:
    return MockServer(ca)


@pytest.fixture
def config(ca: MockServerConfig) -> TransactionConfig:
    assert ca.srv_cert is not None
    return TransactionConfig(secret=SECRET, ref=b"batch", trusted=[ca.srv_cert])


def subject(i: int) -> x509.Name:
    return x509.Name.from_rfc4514_string(f"CN=device {i}")


def requests_for(key: ec.EllipticCurvePrivateKey, n: int) -> list[EnrollRequest]:
    return [EnrollRequest(new_key=key, subject=subject(i)) for i in range(n)]


def in_process(server: MockServer, config: TransactionConfig) -> AsyncClient:
    return AsyncClient(transport=InProcessTransport(server.handle), config=config)


async def collect(client: AsyncClient, requests: Any, **options: Any) -> list[BatchItem]:
    async with client:
        return [item async for item in enroll_many(client, requests, **options)]


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


class Counting(AsyncBaseTransport):
    """Wraps a transport: counts the transactions (sessions) open at once and
    can hold back the first exchange of chosen transactions."""

    def __init__(self, inner: AsyncBaseTransport, slow: dict[int, float] | None = None) -> None:
        self.inner = inner
        self.slow = slow or {}
        self.open = 0
        self.max_open = 0
        self.sessions = 0

    def asession(self) -> AsyncBaseTransport:
        number = self.sessions
        self.sessions += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        return _CountedSession(self, self.slow.get(number, 0.0))

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        return await self.inner.aexchange(request, timeout)


class _CountedSession(AsyncBaseTransport):
    def __init__(self, owner: Counting, delay: float) -> None:
        self.owner = owner
        self.delay = delay

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        await asyncio.sleep(self.delay)  # a real await: transactions overlap
        self.delay = 0.0
        return await self.owner.inner.aexchange(request, timeout)

    async def aclose(self) -> None:
        self.owner.open -= 1


# ---------------------------------------------------------------------------
# Every request enrolled
# ---------------------------------------------------------------------------


def test_enroll_many_enrolls_every_request_in_process(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey, ca: Any
) -> None:
    items = run(collect(in_process(server, config), requests_for(key, 40), concurrency=8))
    assert sorted(item.index for item in items) == list(range(40))
    for item in items:
        assert item.ok and item.error is None and item.result is not None
        cert = item.result.cert
        assert cert is not None
        assert cert.subject == subject(item.index) == item.request.subject
        assert cert.public_key() == key.public_key()
        cert.verify_directly_issued_by(ca.srv_cert)
        assert item.latency > 0
    assert server.open_transactions == 0


def test_enroll_many_over_http_against_the_background_server(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    with server.start_background() as http:
        client = AsyncClient(http.url, config=config, trust_env=False)
        items = run(collect(client, requests_for(key, 30), concurrency=8))
    assert sorted(item.index for item in items) == list(range(30))
    assert all(item.ok for item in items), [item.error for item in items if not item.ok]
    assert {item.result.cert.subject for item in items if item.result and item.result.cert} == {
        subject(i) for i in range(30)
    }


def test_async_iterable_requests(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    async def requests() -> AsyncIterator[EnrollRequest]:
        for request in requests_for(key, 12):
            await asyncio.sleep(0)
            yield request

    items = run(collect(in_process(server, config), requests(), concurrency=4))
    assert sorted(item.index for item in items) == list(range(12))
    assert all(item.ok for item in items)


# ---------------------------------------------------------------------------
# Results as they complete, errors per item
# ---------------------------------------------------------------------------


def test_results_arrive_as_they_complete(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    transport = Counting(InProcessTransport(server.handle), slow={0: 0.3})
    client = AsyncClient(transport=transport, config=config)
    items = run(collect(client, requests_for(key, 10), concurrency=4))
    order = [item.index for item in items]
    assert order[0] != 0
    assert order[-1] == 0  # the slow first request finished last
    assert items[-1].latency >= 0.3 > max(item.latency for item in items[:-1])


def test_failing_items_are_reported_without_stopping_the_batch(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    requests = requests_for(key, 10)
    # The mock CA refuses raVerified (badPOP); a public key cannot sign the POPO.
    requests[3] = EnrollRequest(new_key=key, subject=subject(3), popo=POPO_RAVERIFIED)
    requests[7] = EnrollRequest(new_key=key.public_key(), subject=subject(7))
    stats = BatchStats()
    items = run(collect(in_process(server, config), requests, concurrency=3, stats=stats))
    by_index = {item.index: item for item in items}
    assert sorted(by_index) == list(range(10))
    rejected, unbuildable = by_index.pop(3), by_index.pop(7)
    assert isinstance(rejected.error, ServerError) and rejected.result is None
    assert "badPOP" in str(rejected.error)
    assert isinstance(unbuildable.error, RequestError) and not unbuildable.ok
    assert all(item.ok for item in by_index.values())
    assert (stats.count, stats.ok, stats.failed) == (10, 8, 2)
    assert stats.errors == {"ServerError": 1, "RequestError": 1}


def test_a_failing_server_fails_every_item_but_the_batch_ends(
    ca: MockServerConfig, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    rejecting = MockServer(MockServerConfig.generate(secret=SECRET, pkistatus=2, failure=2))
    items = run(collect(in_process(rejecting, config), requests_for(key, 6), concurrency=2))
    assert len(items) == 6
    assert all(isinstance(item.error, ServerError) for item in items)


def test_an_error_of_the_request_iterator_ends_the_batch(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    def requests() -> Iterator[EnrollRequest]:
        yield from requests_for(key, 3)
        raise RuntimeError("no more devices")

    with pytest.raises(RuntimeError, match="no more devices"):
        run(collect(in_process(server, config), requests(), concurrency=8))


class Cancelling(AsyncBaseTransport):
    """A transport whose exchanges are cancelled from outside the batch."""

    async def aexchange(self, request: bytes, timeout: float | None = None) -> bytes:
        raise asyncio.CancelledError


def test_a_transaction_cancelled_from_outside_ends_the_batch(
    config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    client = AsyncClient(transport=Cancelling(), config=config)
    with pytest.raises(asyncio.CancelledError):
        run(asyncio.wait_for(collect(client, requests_for(key, 5), concurrency=2), 5))


# ---------------------------------------------------------------------------
# Bounds: concurrency, laziness, early exit
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 5])
def test_concurrency_bound_is_respected(
    server: MockServer,
    config: TransactionConfig,
    key: ec.EllipticCurvePrivateKey,
    concurrency: int,
) -> None:
    transport = Counting(InProcessTransport(server.handle))
    client = AsyncClient(transport=transport, config=config)
    items = run(collect(client, requests_for(key, 20), concurrency=concurrency))
    assert len(items) == 20
    assert transport.max_open == concurrency
    assert transport.open == 0


def test_requests_are_pulled_lazily(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    pulled = 0

    def requests() -> Iterator[EnrollRequest]:
        nonlocal pulled
        for i in range(10**9):  # as good as endless: never materialised
            pulled += 1
            yield EnrollRequest(new_key=key, subject=subject(i))

    async def main() -> list[int]:
        seen = []
        async with in_process(server, config) as client:
            async for item in enroll_many(client, requests(), concurrency=4):
                assert item.ok
                seen.append(pulled)
                if len(seen) == 25:
                    break
        return seen

    seen = run(main())
    # Never more than `concurrency` requests started ahead of what was taken.
    assert all(p <= taken + 4 for taken, p in enumerate(seen, 1))
    assert pulled <= 25 + 4


def test_leaving_early_cancels_the_transactions_in_flight(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    transport = Counting(InProcessTransport(server.handle), slow={i: 5.0 for i in range(1, 8)})

    async def main() -> BatchItem:
        async with AsyncClient(transport=transport, config=config) as client:
            batch = enroll_many(client, requests_for(key, 8), concurrency=8)
            async for item in batch:
                await batch.aclose()  # type: ignore[attr-defined]
                return item
        raise AssertionError("no item")

    item = run(asyncio.wait_for(main(), 3))
    assert item.index == 0
    assert transport.open == 0  # the seven slow ones were cancelled, their sessions closed


def test_concurrency_must_be_positive(server: MockServer, config: TransactionConfig) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        run(collect(in_process(server, config), [], concurrency=0))
    with pytest.raises(ValueError, match="concurrency"):
        list(enroll_many_sync(in_process(server, config), [], concurrency=0))


def test_an_empty_batch_yields_nothing(server: MockServer, config: TransactionConfig) -> None:
    assert run(collect(in_process(server, config), [])) == []


# ---------------------------------------------------------------------------
# Progress and statistics
# ---------------------------------------------------------------------------


def test_progress_callback_is_called_after_each_item(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    reports: list[BatchProgress] = []
    requests = requests_for(key, 9)
    requests[4] = EnrollRequest(new_key=key, subject=subject(4), popo=POPO_RAVERIFIED)
    run(collect(in_process(server, config), requests, concurrency=3, progress=reports.append))
    assert [p.done for p in reports] == list(range(1, 10))
    assert all(p.total == 9 for p in reports)
    assert all(0 <= p.in_flight <= 3 for p in reports)
    assert (reports[-1].ok, reports[-1].failed, reports[-1].in_flight) == (8, 1, 0)
    assert reports[-1].throughput > 0


def test_progress_total_is_unknown_for_a_generator(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    reports: list[BatchProgress] = []
    requests = (r for r in requests_for(key, 3))
    run(collect(in_process(server, config), requests, progress=reports.append))
    assert [p.total for p in reports] == [None] * 3


def test_stats_count_throughput_and_latency(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    stats = BatchStats()
    items = run(collect(in_process(server, config), requests_for(key, 20), stats=stats))
    latencies = sorted(item.latency for item in items)
    assert (stats.count, stats.ok, stats.failed) == (20, 20, 0)
    assert stats.elapsed > 0 and stats.throughput == pytest.approx(20 / stats.elapsed)
    assert stats.latency_min == latencies[0] and stats.latency_max == latencies[-1]
    p50 = stats.p50
    assert p50 is not None and p50 == pytest.approx(latencies[9], rel=0.01)
    assert "20 transactions (20 ok, 0 failed)" in stats.summary()


def test_stats_percentiles_are_within_one_percent_in_constant_memory() -> None:
    stats = BatchStats()
    for i in range(1, 100_001):
        stats.add_latency(i * 1e-5)  # 10 µs .. 1 s, uniformly
    for q, exact in ((50, 0.5), (90, 0.9), (99, 0.99)):
        value = stats.percentile(q)
        assert value is not None and value == pytest.approx(exact, rel=0.01)
    assert stats.percentile(100) == pytest.approx(1.0)
    assert stats.histogram_size < 1000  # 100,000 samples, a few hundred buckets
    assert stats.latency_mean == pytest.approx(0.500005)


def test_stats_before_any_item() -> None:
    stats = BatchStats()
    assert stats.p50 is None and stats.latency_min is None and stats.latency_mean is None
    assert stats.throughput == 0.0
    assert stats.summary().startswith("0 transactions")
    with pytest.raises(ValueError):
        stats.percentile(101)


# ---------------------------------------------------------------------------
# The synchronous form
# ---------------------------------------------------------------------------


def test_sync_wrapper_with_a_client_factory(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    stats = BatchStats()
    reports: list[BatchProgress] = []
    items = list(
        enroll_many_sync(
            lambda: in_process(server, config),
            requests_for(key, 15),
            concurrency=4,
            stats=stats,
            progress=reports.append,
        )
    )
    assert sorted(item.index for item in items) == list(range(15))
    assert all(item.ok for item in items)
    assert stats.count == 15 and len(reports) == 15


def test_sync_wrapper_over_http(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    with server.start_background() as http:
        client = AsyncClient(http.url, config=config, trust_env=False)
        items = list(enroll_many_sync(client, requests_for(key, 12), concurrency=4))
    assert sorted(item.index for item in items) == list(range(12))
    assert all(item.ok for item in items)


def test_sync_wrapper_is_lazy_and_stops_early(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    pulled = 0

    def requests() -> Iterator[EnrollRequest]:
        nonlocal pulled
        for i in range(10**9):
            pulled += 1
            yield EnrollRequest(new_key=key, subject=subject(i))

    threads = threading.active_count()
    batch = enroll_many_sync(in_process(server, config), requests(), concurrency=3)
    taken = [next(batch) for _ in range(10)]
    assert all(item.ok for item in taken)
    # In flight (3) plus handed over and waiting for us (3), at most.
    assert pulled <= 10 + 3 + 3
    batch.close()  # type: ignore[attr-defined]
    assert threading.active_count() == threads  # the batch's thread is gone
    assert pulled <= 10 + 3 + 3 + 1


def test_sync_wrapper_raises_what_ends_the_batch(
    server: MockServer, config: TransactionConfig, key: ec.EllipticCurvePrivateKey
) -> None:
    def requests() -> Iterator[EnrollRequest]:
        yield from requests_for(key, 2)
        raise RuntimeError("device list unreadable")

    with pytest.raises(RuntimeError, match="device list unreadable"):
        list(enroll_many_sync(in_process(server, config), requests()))
