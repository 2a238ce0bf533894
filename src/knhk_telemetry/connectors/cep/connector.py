"""The ``cep`` connector: CEP rules over the spans of traces pipelines; alerts go out as log records.

Spans in, logs out: every alert of a rule whose actions include ``{type: log_record}`` becomes
a log record (event name ``knhk_telemetry.cep.alert``) in the logs pipelines that list this
connector as a receiver, so alerts are stored and exported like any other telemetry. The other
actions (log, webhook, callback) run as the rule says. A timer advances processing time for
absence rules and the idle timeout; ``shutdown()`` flushes the engine (windows close, pending
absences fire) before the downstream pipeline drains.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from knhk_telemetry.component import Component, CreateSettings
from knhk_telemetry.connectors.cep.config import CepConfig
from knhk_telemetry.errors import BackpressureError, ConfigError, PipelineClosedError
from knhk_telemetry.model.batch import LogBatch, SpanBatch
from knhk_telemetry.stream.cep.alerts import Alert
from knhk_telemetry.stream.cep.config import load_rules_file, parse_rules
from knhk_telemetry.stream.cep.engine import CepEngine

log = logging.getLogger("knhk_telemetry.connectors.cep")


class CepConnector(Component):
    """Runs a :class:`CepEngine` on the spans it consumes."""

    def __init__(self, component_id: str, config: CepConfig, emit: Callable[[LogBatch], object]) -> None:
        super().__init__(component_id)
        self.config = config
        self._emit = emit
        self.emit_failures = 0
        rules = parse_rules(list(config.rules), path=f"connectors.{component_id}.rules", log_sink=self._sink)
        if config.rules_file:
            rules += load_rules_file(config.rules_file, log_sink=self._sink)
        self.engine = CepEngine(
            rules,
            out_of_orderness=config.out_of_orderness,
            event_time=config.event_time,
            idle_timeout=config.idle_timeout or None,
            history_size=config.history_size,
        )
        self._engine_lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def _sink(self, batch: LogBatch) -> None:
        # alerts are rare and small: wait for room rather than lose one
        for _ in range(100):
            try:
                self._emit(batch)
                return
            except BackpressureError:
                self._stop.wait(0.05)
            except PipelineClosedError:
                break
        self.emit_failures += len(batch)
        log.error("could not deliver %d alert log record(s) to the logs pipeline", len(batch))

    def consume_spans(self, batch: SpanBatch) -> None:
        with self._engine_lock:
            self.engine.process(batch)

    def alerts(self, rule: str | None = None, since: int | None = None) -> list[Alert]:
        """The alert history (see ``CepEngine.alerts``)."""
        with self._engine_lock:
            return self.engine.alerts(rule, since)

    def _start(self) -> None:
        self._timer = threading.Thread(target=self._tick, name=f"knhk-cep-{self.component_id}", daemon=True)
        self._timer.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.config.tick_interval):
            with self._engine_lock:
                self.engine.advance()

    def _shutdown(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
        with self._engine_lock:
            self.engine.flush()
            self.engine.close()

    def self_metrics(self) -> Iterable[tuple[str, str, str, dict[str, str], float]]:
        labels = {"connector": self.component_id}
        for name, typ, help_, lab, value in self.engine.self_metrics():
            yield name, typ, help_, {**labels, **lab}, float(value)
        yield (
            "knhk_telemetry_cep_alert_records_failed_total", "counter",
            "Alert log records the logs pipeline did not take.", labels, float(self.emit_failures),
        )  # fmt: skip


def create(settings: CreateSettings, config: CepConfig) -> CepConnector:
    if settings.next_consumer is None:
        raise ConfigError(
            "the cep connector needs a logs pipeline to feed: list it as a receiver of one",
            path=f"connectors.{settings.component_id}",
        )
    return CepConnector(settings.component_id, config, settings.next_consumer)
