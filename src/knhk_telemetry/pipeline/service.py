"""The running service: pipelines, receivers and exporters built from a :class:`Config`.

One :class:`TelemetryPipeline` per ``service.pipelines`` entry. Receivers are created once
per (id, signal) and push into every pipeline of that signal that lists them (a fan-out:
batches are immutable Arrow data, so the pipelines share them without copying). Exporters
are created once per (id, signal); a factory marked ``shared`` may hand back one instance
for several signals (a file exporter writing all signals to one file), and the service
starts and shuts each distinct instance down exactly once.

Start order is exporters -> pipelines -> receivers; shutdown is the reverse, so every
item a receiver accepted is drained through the pipelines before the exporters close.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from knhk_telemetry.component import Component, CreateSettings, Signal
from knhk_telemetry.config import ComponentSpec, Config, PipelineSpec
from knhk_telemetry.errors import BackpressureError
from knhk_telemetry.model.batch import Batch
from knhk_telemetry.model.rejections import Rejections
from knhk_telemetry.pipeline.memory import MemoryLimiter
from knhk_telemetry.pipeline.pipeline import PipelineSettings, Processor, TelemetryPipeline
from knhk_telemetry.pipeline.stats import stats_samples
from knhk_telemetry.processors.batch import BatchConfig

log = logging.getLogger("knhk_telemetry.service")

Sample = tuple[str, str, str, dict[str, str], float]


def pipeline_settings(config: Config, spec: PipelineSpec) -> PipelineSettings:
    """The service-wide knobs, overridden by a ``batch`` processor in this pipeline."""
    knobs = config.service.pipeline
    settings = {
        "channel_capacity": knobs.channel_capacity,
        "batch_size": knobs.batch_size,
        "flush_interval": knobs.flush_interval,
        "backpressure": knobs.backpressure,
        "block_timeout": knobs.block_timeout,
    }
    for pid in spec.processors:
        batch = config.processors[pid].config
        if isinstance(batch, BatchConfig):
            settings.update(
                batch_size=batch.send_batch_size, max_batch_size=batch.send_batch_max_size, flush_interval=batch.timeout
            )
    return PipelineSettings(**settings)  # type: ignore[arg-type]


class Service:
    """Everything a config describes, wired and running."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pipelines: dict[str, TelemetryPipeline] = {}
        self._exporters: dict[tuple[str, Signal], Component] = {}
        self._receivers: dict[tuple[str, Signal], Component] = {}
        self._processors: list[Component] = []
        self._connectors: set[tuple[str, Signal]] = set()
        self._shared: dict[tuple[str, str], Component] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False
        knobs = config.service.pipeline
        self.memory_limiter = (
            MemoryLimiter(
                knobs.memory_limit_mib * 2**20,
                spike_bytes=knobs.memory_spike_limit_mib * 2**20 or None,
                check_interval=knobs.memory_check_interval,
            )
            if knobs.memory_limit_mib
            else None
        )
        self._build()

    # -- construction ---------------------------------------------------------------------
    def _component(self, spec: ComponentSpec, signal: Signal, consumer: Callable[..., int] | None = None) -> Component:
        """A new component, or for a ``shared`` factory the id's one instance, attached to
        ``signal`` (so one receiver owns one port whatever signals flow through it)."""
        settings = CreateSettings(spec.id, signal, consumer)
        if not spec.factory.shared:
            return spec.factory.create(signal, settings, spec.config)
        existing = self._shared.get((spec.kind, spec.id))
        if existing is None:
            existing = self._shared[(spec.kind, spec.id)] = spec.factory.create(signal, settings, spec.config)
        else:
            existing.attach(settings)
        return existing

    def _build(self) -> None:
        cfg = self.config
        pipes = cfg.service.pipelines
        for pid, spec in pipes.items():
            processors: list[Processor] = []
            for proc_id in spec.processors:
                component = self._component(cfg.processors[proc_id], spec.signal)
                self._processors.append(component)
                process = getattr(component, "process", None)
                if process is None:
                    raise TypeError(f"processor {proc_id!r} has no process(batch) method")
                processors.append(process)
            # exporters are started and shut down by the service (they may be shared)
            self.pipelines[pid] = TelemetryPipeline(
                pipeline_settings(cfg, spec),
                exporters=[],
                processors={spec.signal: processors},
                name=pid,
                manage_exporters=False,
                autostart=False,
                memory_limiter=self.memory_limiter,
            )
        # who receives from each receiver or connector id, by signal
        fanout: dict[tuple[str, Signal], list[TelemetryPipeline]] = {}
        for pid, spec in pipes.items():
            for rid in spec.receivers:
                fanout.setdefault((rid, spec.signal), []).append(self.pipelines[pid])
        for pid, spec in pipes.items():
            for eid in spec.exporters:
                key = (eid, spec.signal)
                if key not in self._exporters:
                    if eid in cfg.connectors:
                        self._exporters[key] = self._connector(cfg.connectors[eid], spec.signal, fanout)
                        self._connectors.add(key)
                    else:
                        self._exporters[key] = self._component(cfg.exporters[eid], spec.signal)
                self.pipelines[pid].exporters.append(self._exporters[key])
        for (rid, signal), targets in fanout.items():
            if rid in cfg.receivers:
                self._receivers[(rid, signal)] = self._component(cfg.receivers[rid], signal, _fan_out(targets))
        self._order = self._topological_order()

    def _connector(
        self, spec: ComponentSpec, signal: Signal, fanout: dict[tuple[str, Signal], list[TelemetryPipeline]]
    ) -> Component:
        """A connector ending pipelines of ``signal``: what it emits goes to every pipeline that
        lists it as a receiver, routed by the emitted batch's signal."""
        routes = {
            out: _fan_out(fanout[(spec.id, out)])
            for a, out in spec.factory.connects
            if a == signal and (spec.id, out) in fanout
        }

        def emit(batch: Batch, **kwargs: object) -> int:
            route = routes.get(batch.SIGNAL)  # type: ignore[call-overload]
            if route is None:
                raise TypeError(f"connector {spec.id} emitted {batch.SIGNAL}, which no pipeline receives from it")
            return int(route(batch, **kwargs))

        return self._component(spec, signal, emit)

    def _topological_order(self) -> list[str]:
        """Pipelines ordered so that one feeding a connector comes before the pipelines the
        connector feeds: shutting down in this order drains each upstream pipeline (and
        flushes its connectors) while the downstream ones still accept data."""
        pipes = self.config.service.pipelines
        feeds: dict[str, set[str]] = {pid: set() for pid in pipes}
        for up, up_spec in pipes.items():
            for cid in up_spec.exporters:
                if cid in self.config.connectors:
                    feeds[up] |= {down for down, d in pipes.items() if cid in d.receivers}
        indegree = dict.fromkeys(pipes, 0)
        for downs in feeds.values():
            for down in downs:
                indegree[down] += 1
        ready = [pid for pid in pipes if indegree[pid] == 0]
        order: list[str] = []
        while ready:
            pid = ready.pop(0)
            order.append(pid)
            for down in sorted(feeds[pid]):
                indegree[down] -= 1
                if indegree[down] == 0:
                    ready.append(down)
        cyclic = [pid for pid in pipes if pid not in order]
        if cyclic:
            log.warning(
                "pipelines form a cycle through connectors; shutdown may drop data", extra={"pipelines": cyclic}
            )
        return order + cyclic

    def _distinct(self, components: Iterable[Component]) -> list[Component]:
        seen: dict[int, Component] = {}
        for c in components:
            seen.setdefault(id(c), c)
        return list(seen.values())

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        if self.memory_limiter is not None:
            self.memory_limiter.start()
        for key, component in self._exporters.items():
            if key not in self._connectors:
                component.start()
        for component in self._processors:
            component.start()
        for pipeline in self.pipelines.values():
            pipeline.start()
        for key in self._connectors:
            self._exporters[key].start()
        for component in self._distinct(self._receivers.values()):
            component.start()
        log.info(
            "service started",
            extra={"pipelines": sorted(self.pipelines), "receivers": sorted({r for r, _ in self._receivers})},
        )

    def shutdown(self) -> None:
        """Receivers stop, pipelines drain, then exporters flush and close (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        for component in self._distinct(self._receivers.values()):
            _safe(component.shutdown, component.component_id)
        pipes = self.config.service.pipelines
        done: set[str] = set()
        flushed: set[tuple[str, Signal]] = set()
        for pid in self._order:
            _safe(self.pipelines[pid].shutdown, f"pipeline {pid}")
            done.add(pid)
            # a connector flushes once every pipeline feeding it has drained into it
            for key in sorted(self._connectors - flushed):
                cid, signal = key
                feeders = {p for p, spec in pipes.items() if cid in spec.exporters and spec.signal == signal}
                if feeders <= done:
                    flushed.add(key)
                    _safe(self._exporters[key].shutdown, cid)
        for component in self._processors:
            _safe(component.shutdown, component.component_id)
        for key, component in self._exporters.items():
            if key not in self._connectors:
                _safe(component.shutdown, component.component_id)
        if self.memory_limiter is not None:
            self.memory_limiter.shutdown()
        log.info("service stopped")

    # -- observability --------------------------------------------------------------------
    def samples(self) -> list[Sample]:
        """Self-metrics of every pipeline and component."""
        out: list[Sample] = []
        for pid, pipeline in self.pipelines.items():
            out.extend(stats_samples(pipeline.stats(), {"pipeline": pid}))
        if self.memory_limiter is not None:
            m = self.memory_limiter
            out.append(
                (
                    "knhk_telemetry_process_memory_limit_bytes",
                    "gauge",
                    "Configured memory limit.",
                    {},
                    float(m.limit_bytes),
                )
            )
            out.append(
                (
                    "knhk_telemetry_process_memory_limited",
                    "gauge",
                    "1 while data is refused for being over the memory limit.",
                    {},
                    float(m.over),
                )
            )
        for component in self._distinct([*self._receivers.values(), *self._processors, *self._exporters.values()]):
            out.extend((n, t, h, dict(lab), float(v)) for n, t, h, lab, v in component.self_metrics())
        return out


def _fan_out(targets: list[TelemetryPipeline]) -> Callable[..., int]:
    """One consumer feeding several pipelines, with ``record_batch``'s signature. If the first
    refuses (backpressure), nothing was accepted anywhere and the error goes back to the
    receiver, which may retry; ``timeout`` and ``rejections`` apply to it. Once one pipeline
    has accepted, the others are waited for, never refused back: a retry by the receiver would
    duplicate the batch in the pipelines that already took it."""
    if len(targets) == 1:
        return targets[0].record_batch

    def consume(batch: Batch, *, timeout: float | None = None, rejections: Rejections | None = None) -> int:
        accepted = targets[0].record_batch(batch, timeout=timeout, rejections=rejections)
        for target in targets[1:]:
            delay = 0.005
            while True:
                try:
                    accepted = min(accepted, target.record_batch(batch))
                    break
                except BackpressureError:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
        return accepted

    return consume


def _safe(fn: Callable[[], None], what: str) -> None:
    try:
        fn()
    except Exception:
        log.exception("%s failed to shut down", what)
