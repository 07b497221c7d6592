"""Prometheus metrics: one set per process, summed across processes through ``DESKLINE_METRICS_DIR``.

Single process (the default): the metrics live in this process and ``GET /metrics`` renders them.
Several processes serving one port (``--workers``, or any supervisor): set ``DESKLINE_METRICS_DIR`` to an
empty directory shared by them (cleared before they start); each process writes its values to memory-mapped
files there (prometheus-client's multiprocess mode) and ``GET /metrics``, whichever process answers it, sums
them. The metrics are created the first time an app is built, never at import.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily

from handlers.context import DEPS_KEY
from handlers.recovery_emits import RecoveringEmits
from handlers.sio_emit import DirectEmitManager, DirectEmitRedisManager

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Every Deskline metric (names start with ``deskline_``)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.registry = registry
        kw: dict[str, Any] = {"registry": registry}
        self.connected = Gauge(
            "deskline_connected_sockets", "Socket.IO connections open on the server", multiprocess_mode="livesum", **kw
        )
        self.events = Counter(
            "deskline_events", "Socket.IO events handled, by event and result code", ["event", "code"], **kw
        )
        self.event_seconds = Histogram(
            "deskline_event_duration_seconds",
            "time to handle one event, by event",
            ["event"],
            buckets=LATENCY_BUCKETS,
            **kw,
        )
        self.emits = Counter(
            "deskline_emits", "pushes the services sent (one per push, any number of sockets)", ["push"], **kw
        )
        self.deliveries = Counter("deskline_deliveries", "pushed event packets written to sockets of this server", **kw)
        self.storage_seconds = Histogram(
            "deskline_storage_operation_seconds",
            "time of one repository operation, by store and operation",
            ["store", "operation", "result"],
            buckets=LATENCY_BUCKETS,
            **kw,
        )
        self.redis_publish_seconds = Histogram(
            "deskline_redis_publish_seconds",
            "time to publish one message to the Redis manager channel",
            buckets=LATENCY_BUCKETS,
            **kw,
        )
        self.redis_publish_errors = Counter(
            "deskline_redis_publish_errors", "Redis manager publishes that failed", **kw
        )
        self.redis_messages_received = Counter(
            "deskline_redis_messages_received",
            "Redis manager messages this process received, by channel: shared, or room (a shard channel)",
            ["channel"],
            **kw,
        )


_metrics: Metrics | None = None
_multiprocess_dir: Path | None = None


def setup_metrics(metrics_dir: Path | None) -> Metrics:
    """Create this process's metrics once (in multiprocess mode with a ``metrics_dir``) and return them."""
    global _metrics, _multiprocess_dir
    wanted = metrics_dir.resolve() if metrics_dir else None
    if _metrics is not None:
        if wanted != _multiprocess_dir:
            raise RuntimeError("DESKLINE_METRICS_DIR cannot change within one process")
        return _metrics
    if wanted is not None:
        wanted.mkdir(parents=True, exist_ok=True)
        # prometheus-client reads the directory from this variable when it writes a value.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(wanted)
        values.ValueClass = values.MultiProcessValue()
        _metrics = Metrics(registry=None)  # values go to files; the scrape sums the files
    else:
        _metrics = Metrics(registry=CollectorRegistry())
    _multiprocess_dir = wanted
    return _metrics


def metrics() -> Metrics:
    """Return this process's metrics (created by ``setup_metrics``; single-process ones if it never ran)."""
    return _metrics if _metrics is not None else setup_metrics(None)


def process_exiting() -> None:
    """Drop this process's live gauges from the shared directory (multiprocess mode), as it stops."""
    if _multiprocess_dir is not None:
        multiprocess.mark_process_dead(os.getpid(), str(_multiprocess_dir))


class _OutboxCollector:
    """The outbox backlog, read from the database just before the scrape (the same for every process)."""

    def __init__(self, depth: int, oldest: float) -> None:
        self.depth, self.oldest = depth, oldest

    def collect(self) -> list[GaugeMetricFamily]:
        """Return the two outbox gauges."""
        return [
            GaugeMetricFamily("deskline_outbox_depth", "emails and SMS waiting or being sent", value=self.depth),
            GaugeMetricFamily(
                "deskline_outbox_oldest_age_seconds", "age of the oldest email or SMS not yet sent", value=self.oldest
            ),
        ]


async def scrape(request: web.Request) -> web.Response:
    """``GET /metrics``: every metric in the Prometheus text format, summed over processes in multiprocess mode."""
    current = metrics()
    registry = current.registry
    if registry is None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, str(_multiprocess_dir))
    body = generate_latest(registry)
    deps = request.app.get(DEPS_KEY)
    if deps is not None:
        depth, oldest = await deps.services.notify.outbox_backlog()
        outbox = CollectorRegistry()
        outbox.register(_OutboxCollector(depth, oldest))
        body += generate_latest(outbox)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class LabelledChildren:
    """One labelled metric's children (``metrics().<name>.labels(...)``), each looked up once and then kept.

    prometheus-client's ``labels()`` builds a key and takes a lock on every call, which cost more than the
    count itself on the per-event path. The metrics are made once per process, so a child never changes; it is
    looked up on first use, not when this is made (no metrics are created by building it).
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *labels: str) -> Any:
        """Return the child for ``labels``."""
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = getattr(metrics(), self._name).labels(*labels)
        return child


def observe_store(store: Any, name: str) -> Any:
    """Time every public coroutine method of ``store`` (in place: the object and its identity stay the same)."""
    for attr, member in inspect.getmembers(type(store)):
        if attr.startswith("_") or not inspect.iscoroutinefunction(member):
            continue
        setattr(store, attr, _timed(getattr(store, attr), name, attr))
    return store


def _timed(method: Callable[..., Awaitable[Any]], store: str, operation: str) -> Callable[..., Awaitable[Any]]:
    ok = metrics().storage_seconds.labels(store, operation, "ok")
    error = metrics().storage_seconds.labels(store, operation, "error")

    @functools.wraps(method)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = await method(*args, **kwargs)
        except BaseException:
            error.observe(time.perf_counter() - started)
            raise
        ok.observe(time.perf_counter() - started)
        return result

    return timed


class _CountsSockets:
    """Manager mixin: keeps ``deskline_connected_sockets`` (connections fully connected here)."""

    _counted: set[tuple[str, str]]

    async def connect(self, sid: str, namespace: str) -> Any:
        """Register a connection and count it."""
        sid = await super().connect(sid, namespace)  # type: ignore[misc]
        counted = self.__dict__.setdefault("_counted", set())
        if (sid, namespace) not in counted:
            counted.add((sid, namespace))
            metrics().connected.inc()
        return sid

    async def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> Any:
        """Forget a connection and stop counting it."""
        counted = self.__dict__.setdefault("_counted", set())
        if (sid, namespace) in counted:
            counted.discard((sid, namespace))
            metrics().connected.dec()
        return await super().disconnect(sid, namespace, **kwargs)  # type: ignore[misc]


class ObservedManager(_CountsSockets, RecoveringEmits, DirectEmitManager):
    """The single-instance client manager (broadcasts framed once), counting connections."""


class ObservedRedisManager(_CountsSockets, RecoveringEmits, DirectEmitRedisManager):
    """``AsyncRedisManager`` counting connections and timing each publish (``deskline_redis_publish_seconds``).

    ``_publish`` is the one method every cross-instance message (emit, room change, disconnect) goes through.
    """

    async def _publish(self, data: Any) -> Any:
        """Publish ``data`` on the channel, timed."""
        started = time.perf_counter()
        try:
            return await super()._publish(data)
        except Exception:
            metrics().redis_publish_errors.inc()
            raise
        finally:
            metrics().redis_publish_seconds.observe(time.perf_counter() - started)
