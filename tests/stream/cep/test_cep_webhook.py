"""Webhook payloads as received by a local HTTP server, retries and counted failures."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from knhk_telemetry.stream.cep import CepEngine, CountThreshold, Rule, WebhookAction
from knhk_telemetry.stream.cep import EventMatcher as M


class Hook:
    """A local HTTP server that records POSTs and answers with the queued status codes."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.statuses: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.gate.wait(10)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append((self.path, dict(self.headers), json.loads(body)))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def _engine(action: WebhookAction, **rule: Any) -> CepEngine:
    spec = {
        "partition_by": "service",
        "severity": "error",
        "message": "{count} errors on <{key}> & more",
        **rule,
    }
    pattern = CountThreshold(M.status("error"), count=2, within=60, resolution=10)
    return CepEngine([Rule("errs", pattern, actions=(action,), **spec)])


def _fire(engine: CepEngine, sb: Any) -> Any:
    batch = sb.batch(
        [sb.span("POST /pay", t, service="pay", status="error", trace=11) for t in (1, 2)],
    )
    [alert] = engine.process(batch)
    return alert


def test_generic_payload(hook: Hook, sb: Any) -> None:
    action = WebhookAction(hook.url, headers={"X-Token": "t"})
    engine = _engine(action)
    alert = _fire(engine, sb)
    assert action.flush(10)
    [(path, headers, body)] = hook.requests
    assert path == "/hook"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Token"] == "t"
    assert body == alert.to_dict()
    assert body["rule_id"] == "errs"
    assert body["message"] == "2 errors on <pay> & more"
    assert body["time"] == "2023-11-14T22:13:30.000000000Z"
    assert body["key"] == "pay"
    assert body["context"]["window_end_unix_nano"] == sb.ns(10)
    engine.close()


def test_slack_payload(hook: Hook, sb: Any) -> None:
    action = WebhookAction(hook.url, "slack")
    engine = _engine(action)
    _fire(engine, sb)
    engine.close()
    [(_, _, body)] = hook.requests
    text = "[ERROR] 2 errors on &lt;pay&gt; &amp; more"
    assert body == {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "rule errs · key pay · 2023-11-14T22:13:30.000000000Z"},
                ],
            },
        ],
    }


def test_pagerduty_payload(hook: Hook, sb: Any) -> None:
    action = WebhookAction(hook.url, "pagerduty", routing_key="R0UT1NG", source="collector-1")
    engine = _engine(action)
    alert = _fire(engine, sb)
    engine.close()
    [(_, _, body)] = hook.requests
    assert body == {
        "routing_key": "R0UT1NG",
        "event_action": "trigger",
        "dedup_key": "errs:pay",
        "client": "knhk-telemetry",
        "payload": {
            "summary": "2 errors on <pay> & more",
            "source": "collector-1",
            "severity": "error",
            "timestamp": "2023-11-14T22:13:30.000000000Z",
            "component": "pay",
            "class": "count_threshold",
            "custom_details": {**alert.to_dict()["context"], "rule_id": "errs", "alert_id": alert.id},
        },
    }
    assert body["payload"]["custom_details"]["last_trace_id"] == (11).to_bytes(16, "big").hex()


def test_server_error_is_retried_then_counted(hook: Hook, sb: Any) -> None:
    hook.statuses = [500, 500, 500]
    action = WebhookAction(hook.url, retries=2, backoff=0.01)
    engine = _engine(action)
    _fire(engine, sb)  # does not raise
    assert action.flush(10)
    assert len(hook.requests) == 3
    metrics = {m[0]: m[4] for m in engine.self_metrics() if m[3] == {"action": "webhook"}}
    assert metrics["knhk_telemetry_cep_webhook_failures_total"] == 1.0
    assert metrics["knhk_telemetry_cep_webhook_retries_total"] == 2.0
    assert metrics["knhk_telemetry_cep_webhook_sent_total"] == 0.0
    engine.close()


def test_retry_succeeds_and_client_errors_are_not_retried(hook: Hook, sb: Any) -> None:
    hook.statuses = [503, 200, 400]
    action = WebhookAction(hook.url, retries=3, backoff=0.01)
    engine = _engine(action, suppress_for=0)
    _fire(engine, sb)
    assert action.flush(10)
    assert (action.sent, action.failures, action.retried) == (1, 0, 1)
    engine.process(sb.batch([sb.span("x", t, service="other", status="error") for t in (3, 4)]))
    assert action.flush(10)
    assert (action.sent, action.failures, action.retried, len(hook.requests)) == (1, 1, 1, 3)
    engine.close()


def test_connection_refused_is_counted_without_raising(sb: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    action = WebhookAction(f"http://127.0.0.1:{port}/hook", retries=1, backoff=0.01, timeout=2)
    engine = _engine(action)
    _fire(engine, sb)
    assert action.flush(10)
    assert (action.sent, action.failures, action.retried) == (0, 1, 1)
    engine.close()


def test_sending_never_blocks_the_caller(hook: Hook, sb: Any) -> None:
    hook.gate.clear()  # the server holds every request until the gate opens
    action = WebhookAction(hook.url, max_queue=1)
    engine = _engine(action)
    alert = _fire(engine, sb)  # returns although the server has not answered
    assert alert.rule_id == "errs"
    assert hook.requests == []
    # the first payload is in flight (or still queued), so of the next two at least one is dropped
    engine.process(sb.batch([sb.span("x", t, service="b", status="error") for t in (3, 4)]))
    engine.process(sb.batch([sb.span("x", t, service="c", status="error") for t in (5, 6)]))
    hook.gate.set()
    engine.close(10)
    assert action.sent + action.dropped == 3
    assert action.dropped >= 1
    assert len(hook.requests) == action.sent
    dropped = action.dropped
    action.deliver([alert])  # after close: dropped, not sent
    assert action.dropped == dropped + 1


def test_bad_webhook_arguments() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        WebhookAction("file:///etc/passwd")
    with pytest.raises(ValueError, match="routing_key"):
        WebhookAction("http://x", "pagerduty")
    with pytest.raises(ValueError, match="format"):
        WebhookAction("http://x", "teams")  # type: ignore[arg-type]
