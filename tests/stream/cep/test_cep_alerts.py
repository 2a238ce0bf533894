"""Alerts: templates, deduplication and suppression, history, actions, state and self-metrics."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pytest

from knhk_telemetry.model.batch import LogBatch
from knhk_telemetry.model.edge import batch_to_logs
from knhk_telemetry.stream.cep import (
    Absence,
    CallbackAction,
    CepEngine,
    CountThreshold,
    LogAction,
    LogRecordAction,
    RateThreshold,
    Rule,
    Sequence,
)
from knhk_telemetry.stream.cep import EventMatcher as M
from knhk_telemetry.stream.cep.alerts import check_template, render


def _errors(sb: Any, service: str, times: list[float], route: str = "/cart") -> Any:
    return sb.batch(
        [sb.span("POST /cart", t, service=service, status="error", attrs={"http.route": route}) for t in times]
    )


def test_message_template_variables(sb: Any) -> None:
    rule = Rule(
        "errs",
        CountThreshold(M.status("error"), count=2, within=60, resolution=10),
        partition_by=("service", "http.route"),
        severity="critical",
        message=(
            "[{severity}] {rule}: {count} errors >= {threshold} on {keys[service]} {keys[http.route]} in {window} "
            "({window_s:.0f}s) until {window_end}; last {last_span_name} {last_span_id} route={attrs[http.route]} "
            "missing='{errors}{rate:.1%}{attrs[nope]}'"
        ),
        capture=("http.route",),
    )
    engine = CepEngine([rule])
    batch = sb.batch(
        [
            sb.span("POST /cart", 1, service="shop", status="error", attrs={"http.route": "/cart"}),
            sb.span("POST /cart", 2, service="shop", status="error", attrs={"http.route": "/cart"}),
        ]
    )
    [alert] = engine.process(batch)
    last_id = alert.context["last_span_id"]
    assert alert.message == (
        f"[critical] errs: 2 errors >= 2 on shop /cart in 1m (60s) until 2023-11-14T22:13:30.000000000Z; "
        f"last POST /cart {last_id} route=/cart missing=''"
    )
    assert alert.key == ("shop", "/cart")
    assert alert.key_text == "service=shop,http.route=/cart"
    assert alert.context["first_span_name"] == "POST /cart"
    assert alert.context["span_names"] == "POST /cart -> POST /cart"
    assert len(last_id) == 16
    assert len(alert.context["last_trace_id"]) == 32


def test_template_checks() -> None:
    with pytest.raises(ValueError, match="unknown template variable 'nope'"):
        check_template("{nope}")
    with pytest.raises(ValueError, match="attribute access"):
        check_template("{rule.__class__}")
    with pytest.raises(ValueError, match="positional"):
        check_template("{0}")
    with pytest.raises(ValueError, match="invalid template"):
        check_template("{rule")
    with pytest.raises(ValueError, match="rule 'x': message: unknown template variable"):
        Rule("x", CountThreshold(M.everything(), count=1, within=1), message="{bogus}")
    # a format spec that does not fit the value renders the template and the error, never raises
    assert render("{key:d}", {"key": "a"}).startswith("{key:d} [template error:")


def test_suppression_window_and_dedup(sb: Any) -> None:
    rule = Rule(
        "c",
        CountThreshold(M.status("error"), count=1, within=1, resolution=1),
        partition_by="service",
        suppress_for=30,
    )
    engine = CepEngine([rule])
    assert len(engine.process(_errors(sb, "a", [1]))) == 1
    assert engine.process(_errors(sb, "a", [10, 20])) == []  # within 30 s of the first: suppressed
    assert len(engine.process(_errors(sb, "b", [21]))) == 1  # other key: own window
    assert [a.time_unix_nano for a in engine.process(_errors(sb, "a", [32]))] == [sb.ns(33)]
    metrics = {m[0]: m[4] for m in engine.self_metrics() if m[3] == {"rule": "c"}}
    assert metrics["knhk_telemetry_cep_suppressed_alerts_total"] == 2.0
    by_severity = {m[3]["severity"]: m[4] for m in engine.self_metrics() if m[0] == "knhk_telemetry_cep_alerts_total"}
    assert by_severity == {"info": 0.0, "warning": 3.0, "error": 0.0, "critical": 0.0}


def test_custom_dedup_key_and_replayed_alert(sb: Any) -> None:
    rule = Rule(
        "c",
        CountThreshold(M.status("error"), count=1, within=1, resolution=1),
        partition_by="service",
        dedup_key="{rule}",  # one alert per rule, whatever the key
        suppress_for=100,
    )
    engine = CepEngine([rule])
    assert len(engine.process(_errors(sb, "a", [1]))) == 1
    assert engine.process(_errors(sb, "b", [2])) == []
    # a replay of the same firing (same dedup key and time) is always dropped
    replay = CepEngine([Rule("c", CountThreshold(M.status("error"), count=1, within=1, resolution=1))])
    first = replay.process(_errors(sb, "a", [1]))
    replay.merge(replay.snapshot())
    assert len(first) == 1
    dup = CepEngine([Rule("d", Absence(M.everything(), within=5))])
    dup.process(sb.events([("op", 1)]))
    state = dup.snapshot()
    assert len(dup.flush()) == 1
    dup.merge(state)  # the heartbeat timer comes back from the snapshot
    assert dup.flush() == []
    assert [m[4] for m in dup.self_metrics() if m[0] == "knhk_telemetry_cep_duplicate_alerts_total"] == [1.0]


def test_alert_history(sb: Any) -> None:
    engine = CepEngine(
        [
            Rule("a", CountThreshold(M.status("error"), count=1, within=1, resolution=1)),
            Rule("b", CountThreshold(M.name("POST"), count=1, within=1, resolution=1)),
        ],
        history_size=3,
    )
    engine.process(_errors(sb, "s", [1]))
    engine.process(_errors(sb, "s", [5]))
    assert [(a.rule_id, a.time_unix_nano) for a in engine.alerts()] == [
        ("b", sb.ns(2)),
        ("a", sb.ns(6)),
        ("b", sb.ns(6)),
    ]
    assert [a.rule_id for a in engine.alerts(rule="a")] == ["a"]
    assert len(engine.alerts(since=sb.ns(6))) == 2
    assert engine.alerts(rule="a", since=sb.ns(7)) == []


def test_callback_log_and_failing_actions(sb: Any, caplog: pytest.LogCaptureFixture) -> None:
    got: list[str] = []

    def boom(alert: Any) -> None:
        raise RuntimeError("no")

    good, bad = CallbackAction(lambda a: got.append(a.message)), CallbackAction(boom, name="boom")
    rule = Rule(
        "c",
        CountThreshold(M.status("error"), count=1, within=1),
        actions=(good, bad, LogAction()),
        severity="error",
        message="hi {key}",
    )
    engine = CepEngine([rule])
    with caplog.at_level(logging.INFO):
        alerts = engine.process(_errors(sb, "a", [1]))
    assert got == ["hi a"]
    assert len(alerts) == 1
    records = [r for r in caplog.records if r.name == "knhk_telemetry.cep.alerts"]
    assert [(r.levelno, r.getMessage()) for r in records] == [(logging.ERROR, "hi a")]
    failures = {m[3]["action"]: m[4] for m in engine.self_metrics() if m[0].endswith("callback_failures_total")}
    assert failures == {"callback": 0.0, "boom": 1.0}


def test_alert_log_record_batch(sb: Any) -> None:
    batches: list[LogBatch] = []
    action = LogRecordAction(batches.append, service_name="cep-test")
    rule = Rule(
        "rate",
        RateThreshold(threshold=0.4, within=10, min_count=2, resolution=10),
        partition_by="service",
        actions=(action,),
        severity="critical",
        message="{key} error rate {rate:.0%}",
    )
    engine = CepEngine([rule])
    engine.process(
        sb.batch(
            [
                sb.span("op", 1, service="a", status="error", trace=5),
                sb.span("op", 2, service="a", status="ok"),
                sb.span("op", 3, service="b", status="error"),
                sb.span("op", 4, service="b", status="error"),
            ]
        )
    )
    alerts = engine.flush()
    assert len(batches) == 1
    logs = batch_to_logs(batches[0])
    assert [(e.body, e.severity_number, e.severity_text) for e in logs] == [
        ("a error rate 50%", 21, "CRITICAL"),
        ("b error rate 100%", 21, "CRITICAL"),
    ]
    first = logs[0]
    assert first.event_name == "knhk_telemetry.cep.alert"
    assert first.resource.attributes == {"service.name": "cep-test"}
    assert first.scope.name == "knhk_telemetry.stream.cep"
    assert first.time_unix_nano == sb.ns(10)
    assert first.observed_time_unix_nano == alerts[0].emitted_unix_nano
    assert first.trace_id == (5).to_bytes(16, "big")
    assert first.span_id is not None
    assert first.span_id.hex() == alerts[0].context["last_span_id"]
    assert first.attributes == {
        "cep.alert.id": alerts[0].id,
        "cep.rule.id": "rate",
        "cep.pattern": "rate_threshold",
        "cep.partition.key": "a",
        "cep.alert.severity": "critical",
        "cep.dedup_key": "rate:a",
        "cep.count": 2,
        "cep.errors": 1,
        "cep.rate": 0.5,
        "cep.window_s": 10.0,
        "cep.window_start_unix_nano": sb.ns(0),
        "cep.window_end_unix_nano": sb.ns(10),
    }


def test_log_record_sink_failure_is_counted(sb: Any) -> None:
    def refuse(batch: LogBatch) -> None:
        raise RuntimeError("queue full")

    action = LogRecordAction(refuse)
    engine = CepEngine([Rule("c", CountThreshold(M.status("error"), count=1, within=1), actions=(action,))])
    assert len(engine.process(_errors(sb, "a", [1]))) == 1
    assert {m[0]: m[4] for m in action.self_metrics()}["knhk_telemetry_cep_log_record_failures_total"] == 1.0


def test_snapshot_merge_adds_threshold_counts_and_partial_matches(sb: Any) -> None:
    def rules() -> list[Rule]:
        return [
            Rule("c", CountThreshold(M.status("error"), count=4, within=60)),
            Rule("s", Sequence((M.name_is("a"), M.name_is("b")), within=60), partition_by=None),
        ]

    left, right = CepEngine(rules()), CepEngine(rules())
    assert left.process(_errors(sb, "x", [1, 2])) == []
    assert right.process(_errors(sb, "x", [3])) == []
    assert left.process(sb.events([("a", 4)])) == []
    state = pickle.loads(pickle.dumps(left.snapshot()))  # plain, picklable data
    right.merge(state)
    assert [a.rule_id for a in right.process(sb.events([("b", 5)]))] == ["s"]
    assert [(a.rule_id, a.context["count"]) for a in right.process(_errors(sb, "x", [6]))] == [("c", 4)]
    with pytest.raises(ValueError, match="rules this engine does not"):
        CepEngine([]).merge(state)


def test_engine_arguments_and_metric_names(sb: Any) -> None:
    with pytest.raises(ValueError, match="duplicate rule id"):
        CepEngine([Rule("x", CountThreshold(M.everything(), count=1, within=1))] * 2)
    with pytest.raises(ValueError, match="event_time"):
        CepEngine([], event_time="middle")  # type: ignore[arg-type]
    engine = CepEngine([Rule("x", CountThreshold(M.everything(), count=1, within=1))], event_time="start")
    [alert] = engine.process(sb.batch([sb.span("op", 10, duration_s=5)]))
    assert alert.context["window_end_unix_nano"] == sb.ns(5.1)  # bucket of the start time (0.1 s buckets)
    names = {m[0] for m in engine.self_metrics()}
    assert {
        "knhk_telemetry_cep_events_total",
        "knhk_telemetry_cep_matches_total",
        "knhk_telemetry_cep_alerts_total",
        "knhk_telemetry_cep_late_events_total",
        "knhk_telemetry_cep_partitions",
        "knhk_telemetry_cep_watermark_seconds",
    } <= names
    assert engine.watermark == sb.ns(5)
