"""Where alerts go: logging, a Python callback, a webhook, the logs pipeline.

Every action gets the alerts of one ``CepEngine`` call at once (``deliver(alerts)``) and
never raises into the engine: failures are logged and counted in ``self_metrics()``.

``WebhookAction`` POSTs JSON from one background thread per action with a timeout and
bounded retries (exponential backoff; retried: connection errors, timeouts, HTTP 429 and
5xx), so the caller never waits for the network; a full queue drops the alert (counted).
Payload shapes (``format``):

- ``generic``: ``Alert.to_dict()``.
- ``slack``: a Slack incoming-webhook message: ``{"text": fallback, "blocks": [section
  (mrkdwn), context]}``, text escaped as Slack requires (``&``, ``<``, ``>``).
- ``pagerduty``: a PagerDuty Events API v2 trigger: ``{"routing_key", "event_action":
  "trigger", "dedup_key" (<= 255 chars), "client", "payload": {"summary" (<= 1024 chars),
  "source", "severity" (critical, error, warning or info: our severities), "timestamp"
  (ISO 8601), "component", "class", "custom_details"}}``.

``LogRecordAction`` turns the alerts into one ``LogBatch`` (``LogEntry`` + ``logs_to_batch``)
and hands it to a sink, e.g. a pipeline's logs consumer; severity maps to the OTLP severity
numbers INFO (9), WARN (13), ERROR (17), FATAL (21).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from knhk_telemetry.model.batch import LogBatch
from knhk_telemetry.model.edge import InstrumentationScope, LogEntry, Resource, Severity, logs_to_batch
from knhk_telemetry.stream.cep.alerts import Alert, iso_time

logger = logging.getLogger("knhk_telemetry.stream.cep")

WebhookFormat = Literal["generic", "slack", "pagerduty"]
WEBHOOK_FORMATS: tuple[str, ...] = ("generic", "slack", "pagerduty")
LOG_LEVELS: dict[str, int] = {
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
OTLP_SEVERITY: dict[str, Severity] = {
    "info": Severity.INFO,
    "warning": Severity.WARN,
    "error": Severity.ERROR,
    "critical": Severity.FATAL,
}
_Metric = tuple[str, str, str, dict[str, str], float]


class Action:
    """Base of the actions; ``name`` labels its self-metrics."""

    type: str = "action"

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.type

    def deliver(self, alerts: Sequence[Alert]) -> None:
        raise NotImplementedError

    def close(self, timeout: float | None = 5.0) -> None:
        """Finish pending work (webhooks: wait up to ``timeout`` seconds); idempotent."""

    def self_metrics(self) -> Iterable[_Metric]:
        return ()


class LogAction(Action):
    """Writes each alert to a ``logging`` logger at the level of its severity."""

    type = "log"

    def __init__(self, logger_name: str = "knhk_telemetry.cep.alerts", *, name: str | None = None) -> None:
        super().__init__(name)
        self.logger = logging.getLogger(logger_name)

    def deliver(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            self.logger.log(LOG_LEVELS[alert.severity], "%s", alert.message, extra={"cep_alert": alert.to_dict()})


class CallbackAction(Action):
    """Calls ``fn(alert)`` for each alert; an exception is logged and counted."""

    type = "callback"

    def __init__(self, fn: Callable[[Alert], object], *, name: str | None = None) -> None:
        super().__init__(name)
        self.fn = fn
        self.failures = 0

    def deliver(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            try:
                self.fn(alert)
            except Exception:
                self.failures += 1
                logger.exception("CEP callback %s failed for alert %s", self.name, alert.id)

    def self_metrics(self) -> Iterable[_Metric]:
        yield (
            "knhk_telemetry_cep_callback_failures_total",
            "counter",
            "Alert callbacks that raised.",
            {"action": self.name},
            float(self.failures),
        )


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_payload(
    alert: Alert,
    fmt: WebhookFormat,
    *,
    routing_key: str = "",
    source: str = "knhk-telemetry",
    component: str | None = None,
) -> dict[str, Any]:
    """The JSON body a webhook of format ``fmt`` sends for ``alert`` (see the module doc)."""
    if fmt == "generic":
        return alert.to_dict()
    if fmt == "slack":
        text = _slack_escape(f"[{alert.severity.upper()}] {alert.message}")
        context = _slack_escape(f"rule {alert.rule_id} · key {alert.key_text} · {iso_time(alert.time_unix_nano)}")
        return {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": context[:3000]}]},
            ],
        }
    if fmt == "pagerduty":
        return {
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": alert.dedup_key[:255],
            "client": "knhk-telemetry",
            "payload": {
                "summary": alert.message[:1024] or alert.rule_id,
                "source": source,
                "severity": alert.severity,
                "timestamp": iso_time(alert.time_unix_nano),
                "component": component if component is not None else alert.key_text,
                "class": alert.pattern,
                "custom_details": alert.to_dict()["context"] | {"rule_id": alert.rule_id, "alert_id": alert.id},
            },
        }
    raise ValueError(f"webhook format must be one of {list(WEBHOOK_FORMATS)}, got {fmt!r}")


class WebhookAction(Action):
    """POSTs each alert as JSON to ``url`` from a background thread (see the module doc)."""

    type = "webhook"

    def __init__(
        self,
        url: str,
        format: WebhookFormat = "generic",
        *,
        routing_key: str = "",
        source: str = "knhk-telemetry",
        component: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_queue: int = 1000,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must start with http:// or https://, got {url!r}")
        if format not in WEBHOOK_FORMATS:
            raise ValueError(f"webhook format must be one of {list(WEBHOOK_FORMATS)}, got {format!r}")
        if format == "pagerduty" and not routing_key:
            raise ValueError("a pagerduty webhook needs a routing_key")
        if timeout <= 0 or retries < 0 or backoff < 0 or max_queue < 1:
            raise ValueError("webhook timeout must be > 0, retries and backoff >= 0, max_queue >= 1")
        self.url = url
        self.format: WebhookFormat = format
        self.routing_key = routing_key
        self.source = source
        self.component = component
        self.headers = {"Content-Type": "application/json", "User-Agent": "knhk-telemetry-cep", **(headers or {})}
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.sent = 0
        self.failures = 0
        self.retried = 0
        self.dropped = 0

    def deliver(self, alerts: Sequence[Alert]) -> None:
        if self._closed.is_set():
            self.dropped += len(alerts)
            return
        self._ensure_thread()
        for alert in alerts:
            payload = webhook_payload(
                alert, self.format, routing_key=self.routing_key, source=self.source, component=self.component
            )
            try:
                self._queue.put_nowait(payload)
            except queue.Full:
                self.dropped += 1
                logger.warning("webhook %s queue full: alert %s dropped", self.name, alert.id)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"cep-webhook-{self.name}", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            payload = self._queue.get()
            try:
                if payload is None:
                    return
                self._send(payload)
            finally:
                self._queue.task_done()

    def _send(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
                if self._closed.wait(self.backoff * 2 ** (attempt - 1)) and attempt > 1:
                    break  # closing: one retry at most, then give up
            try:
                request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                self.sent += 1
                return
            except urllib.error.HTTPError as exc:
                exc.close()
                retry = exc.code == 429 or exc.code >= 500
                logger.warning("webhook %s: HTTP %s (attempt %d)", self.name, exc.code, attempt + 1)
                if not retry:
                    break
            except (urllib.error.URLError, OSError, ValueError) as exc:
                logger.warning("webhook %s: %s (attempt %d)", self.name, exc, attempt + 1)
        self.failures += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued alert is sent or failed; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._queue.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float | None = 5.0) -> None:
        if self._closed.is_set():
            return
        if self._thread is not None:
            self.flush(timeout if timeout is not None else 3600.0)
        self._closed.set()
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join(timeout)

    def self_metrics(self) -> Iterable[_Metric]:
        labels = {"action": self.name}
        yield (
            "knhk_telemetry_cep_webhook_sent_total",
            "counter",
            "Alerts POSTed successfully.",
            labels,
            float(self.sent),
        )
        yield (
            "knhk_telemetry_cep_webhook_failures_total",
            "counter",
            "Alerts not delivered after all retries.",
            labels,
            float(self.failures),
        )
        yield ("knhk_telemetry_cep_webhook_retries_total", "counter", "Webhook retries.", labels, float(self.retried))
        yield (
            "knhk_telemetry_cep_webhook_dropped_total",
            "counter",
            "Alerts dropped because the webhook queue was full or closed.",
            labels,
            float(self.dropped),
        )


class LogRecordAction(Action):
    """Emits the alerts as one ``LogBatch`` through ``sink`` (the pipeline's logs consumer)."""

    type = "log_record"

    def __init__(
        self,
        sink: Callable[[LogBatch], object],
        *,
        service_name: str = "knhk-telemetry",
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.sink = sink
        self.resource = Resource({"service.name": service_name})
        self.scope = InstrumentationScope("knhk_telemetry.stream.cep")
        self.failures = 0
        self.emitted = 0

    def entry(self, alert: Alert) -> LogEntry:
        """The log record of one alert."""
        ctx = alert.context
        attributes: dict[str, Any] = {
            "cep.alert.id": alert.id,
            "cep.rule.id": alert.rule_id,
            "cep.pattern": alert.pattern,
            "cep.partition.key": alert.key_text,
            "cep.alert.severity": alert.severity,
            "cep.dedup_key": alert.dedup_key,
        }
        for name in ("count", "errors", "rate", "window_s", "window_start_unix_nano", "window_end_unix_nano"):
            value = ctx.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attributes[f"cep.{name}"] = value
        trace_id, span_id = ctx.get("last_trace_id"), ctx.get("last_span_id")
        return LogEntry(
            time_unix_nano=alert.time_unix_nano,
            observed_time_unix_nano=alert.emitted_unix_nano,
            severity_number=int(OTLP_SEVERITY[alert.severity]),
            severity_text=alert.severity.upper(),
            body=alert.message,
            attributes=attributes,
            trace_id=bytes.fromhex(trace_id) if isinstance(trace_id, str) and len(trace_id) == 32 else None,
            span_id=bytes.fromhex(span_id) if isinstance(span_id, str) and len(span_id) == 16 else None,
            event_name="knhk_telemetry.cep.alert",
            resource=self.resource,
            scope=self.scope,
        )

    def deliver(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        try:
            batch = logs_to_batch([self.entry(a) for a in alerts])
            self.sink(batch)
            self.emitted += len(alerts)
        except Exception:
            self.failures += len(alerts)
            logger.exception("CEP log record sink %s failed for %d alert(s)", self.name, len(alerts))

    def self_metrics(self) -> Iterable[_Metric]:
        labels = {"action": self.name}
        yield (
            "knhk_telemetry_cep_log_records_total",
            "counter",
            "Alert log records emitted.",
            labels,
            float(self.emitted),
        )
        yield (
            "knhk_telemetry_cep_log_record_failures_total",
            "counter",
            "Alert log records the sink refused.",
            labels,
            float(self.failures),
        )


__all__ = [
    "LOG_LEVELS",
    "OTLP_SEVERITY",
    "WEBHOOK_FORMATS",
    "Action",
    "CallbackAction",
    "LogAction",
    "LogRecordAction",
    "WebhookAction",
    "WebhookFormat",
    "webhook_payload",
]
