"""Rules from YAML, and the key paths of the errors for bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from knhk_telemetry.errors import ConfigError
from knhk_telemetry.model.batch import LogBatch
from knhk_telemetry.stream.cep import (
    Absence,
    AllOf,
    AnyOf,
    CallbackAction,
    CepEngine,
    Consecutive,
    CountThreshold,
    FollowedBy,
    LogAction,
    LogRecordAction,
    RateThreshold,
    Sequence,
    WebhookAction,
    load_rules,
    load_rules_file,
)
from knhk_telemetry.stream.cep import EventMatcher as M

RULES = """
rules:
  - id: checkout-errors
    description: many errors on checkout
    pattern: count_threshold
    params:
      match: {service: checkout, status: error, attributes: {http.response.status_code: {ge: 500}}}
      count: 3
      within: 1m
      resolution: 5s
    partition_by: [service, name]
    severity: error
    message: "{count} errors on {key}"
    suppress_for: 5m
    capture: [http.route]
    actions:
      - {type: log}
      - {type: callback, name: page}
      - {type: log_record}
      - {type: webhook, url: "http://127.0.0.1:9/hook", format: slack, timeout: 2s, retries: 1}
  - id: error-rate
    pattern: rate_threshold
    params: {threshold: 0.1, within: 30s, min_count: 20, error: {any: [{status: error}, {duration: {gt: 2s}}]}}
  - id: checkout-flow
    pattern: sequence
    params:
      steps: [{name_is: login}, {name: "^search"}, {name_is: purchase, not: {status: error}}]
      within: 10m
      contiguity: strict
      strict_scope: {kind: server}
    partition_by: attributes.user.id
  - id: retry
    pattern: followed_by
    params: {first: {status: error}, then: {name: retry}, within: 500ms}
  - id: all-three
    pattern: all
    params: {steps: [{name: a}, {name: b}, {name: c}], within: 1s}
    partition_by: trace_id
  - id: panic
    pattern: any
    params: {of: [{name: panic}, {resource: {deployment.environment: prod, host.name: {regex: "^db"}}}]}
    partition_by: null
  - id: unpaid
    pattern: absence
    params: {first: {name: order.created}, then: {name: order.paid}, within: 15m}
    partition_by: order.id
  - id: heartbeat
    pattern: absence
    params: {first: {}, within: 1m, time_domain: processing}
  - id: streak
    pattern: consecutive
    params: {match: {status: error}, count: 5, scope: {kind: server}}
"""


def test_load_rules_builds_every_pattern_and_action() -> None:
    batches: list[LogBatch] = []
    rules = load_rules(RULES, callbacks={"page": lambda a: None}, log_sink=batches.append)
    by_id = {r.id: r for r in rules}
    assert list(by_id) == [
        "checkout-errors",
        "error-rate",
        "checkout-flow",
        "retry",
        "all-three",
        "panic",
        "unpaid",
        "heartbeat",
        "streak",
    ]
    first = by_id["checkout-errors"]
    assert first.pattern == CountThreshold(
        M.service("checkout") & M.status("error") & M.attr("http.response.status_code", ">=", 500),
        count=3,
        within=60.0,
        resolution=5.0,
    )
    assert first.partition_by == ("service", "name")
    assert (first.severity, first.message, first.suppress_for, first.capture) == (
        "error",
        "{count} errors on {key}",
        300.0,
        ("http.route",),
    )
    assert [type(a) for a in first.actions] == [LogAction, CallbackAction, LogRecordAction, WebhookAction]
    hook = first.actions[3]
    assert isinstance(hook, WebhookAction)
    assert (hook.format, hook.timeout, hook.retries) == ("slack", 2.0, 1)
    rate = by_id["error-rate"].pattern
    assert rate == RateThreshold(
        threshold=0.1, within=30.0, min_count=20, error=M.status("error") | M.duration(">", 2.0)
    )
    flow = by_id["checkout-flow"].pattern
    assert isinstance(flow, Sequence)
    assert flow.steps[2] == M.name_is("purchase") & ~M.status("error")
    assert (flow.contiguity, flow.strict_scope, flow.within) == ("strict", M.kind("server"), 600.0)
    assert by_id["checkout-flow"].partition_by == "attributes.user.id"
    assert isinstance(by_id["retry"].pattern, FollowedBy)
    assert by_id["retry"].pattern.within == 0.5
    assert isinstance(by_id["all-three"].pattern, AllOf)
    assert by_id["panic"].partition_by is None
    assert isinstance(by_id["panic"].pattern, AnyOf)
    assert by_id["unpaid"].pattern == Absence(M.name("order.created"), 900.0, then=M.name("order.paid"))
    assert by_id["heartbeat"].pattern == Absence(M.everything(), 60.0, time_domain="processing")
    assert by_id["streak"].pattern == Consecutive(M.status("error"), 5, scope=M.kind("server"))
    engine = CepEngine(rules)  # the rules run
    engine.close(0.1)


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ("rules: {}", "rules", "expected a list"),
        ("rules: [{pattern: any, params: {of: [{}]}}]", "rules[0].id", "required"),
        ("rules: [{id: x, params: {}}]", "rules[0].pattern", "required"),
        ("rules: [{id: x, pattern: nope}]", "rules[0].pattern", "unknown pattern 'nope'"),
        ("rules: [{id: x, pattern: count_threshold, params: {count: 1}}]", "rules[0].params.match", "required"),
        (
            "rules: [{id: x, pattern: count_threshold, params: {match: {}, count: 0, within: 1s}}]",
            "rules[0].params.count",
            "expected an integer >= 1",
        ),
        (
            "rules: [{id: x, pattern: count_threshold, params: {match: {}, count: 2, within: soon}}]",
            "rules[0].params.within",
            "invalid duration 'soon'",
        ),
        (
            "rules: [{id: x, pattern: count_threshold, params: {match: {}, count: 2, within: 1s, extra: 1}}]",
            "rules[0].params.extra",
            "unknown key",
        ),
        (
            "rules: [{id: x, pattern: count_threshold, params: {match: {}, count: 2, within: 1s, resolution: 2s}}]",
            "rules[0].params",
            "resolution (2.0s) must not exceed within",
        ),
        (
            "rules: [{id: x, pattern: count_threshold, params: {match: {colour: red}, count: 2, within: 1s}}]",
            "rules[0].params.match.colour",
            "unknown key",
        ),
        (
            "rules: [{id: x, pattern: any, params: {of: [{}, {name: '('}]}}]",
            "rules[0].params.of[1].name",
            "invalid regex",
        ),
        (
            "rules: [{id: x, pattern: any, params: {of: [{status: broken}]}}]",
            "rules[0].params.of[0].status",
            "expected one of",
        ),
        (
            "rules: [{id: x, pattern: any, params: {of: [{attributes: {http.status: {gt: high}}}]}}]",
            "rules[0].params.of[0].attributes.http.status.gt",
            "needs a number",
        ),
        (
            "rules: [{id: x, pattern: any, params: {of: [{duration: {gt: fast}}]}}]",
            "rules[0].params.of[0].duration.gt",
            "invalid duration",
        ),
        (
            "rules: [{id: x, pattern: any, params: {of: [{all: []}]}}]",
            "rules[0].params.of[0].all",
            "at least 1 item",
        ),
        (
            "rules: [{id: x, pattern: rate_threshold, params: {threshold: 2, within: 1s}}]",
            "rules[0].params.threshold",
            "expected a rate in [0, 1)",
        ),
        (
            "rules: [{id: x, pattern: sequence, params: {steps: [{}], within: 1s}}]",
            "rules[0].params.steps",
            "at least 2 item",
        ),
        (
            "rules: [{id: x, pattern: sequence, params: {steps: [{}, {}], within: 1s, contiguity: loose}}]",
            "rules[0].params.contiguity",
            "expected one of ['strict', 'relaxed']",
        ),
        ("rules: [{id: x, pattern: any, params: {of: [{}]}, severity: fatal}]", "rules[0].severity", "expected one"),
        (
            "rules: [{id: x, pattern: any, params: {of: [{}]}, message: '{nope}'}]",
            "rules[0].message",
            "unknown template variable 'nope'",
        ),
        ("rules: [{id: x, pattern: any, params: {of: [{}]}, colour: red}]", "rules[0].colour", "unknown key"),
        (
            "rules: [{id: x, pattern: any, params: {of: [{}]}, actions: [{type: email}]}]",
            "rules[0].actions[0].type",
            "expected one of",
        ),
        (
            "rules: [{id: x, pattern: any, params: {of: [{}]}, actions: [{type: callback, name: f}]}]",
            "rules[0].actions[0].name",
            "no callback named 'f'",
        ),
        (
            "rules: [{id: x, pattern: any, params: {of: [{}]}, actions: [{type: log_record}]}]",
            "rules[0].actions[0].type",
            "need a log sink",
        ),
        (
            "rules: [{id: x, pattern: any, params: {of: [{}]}, actions: [{type: webhook, url: 'ftp://x'}]}]",
            "rules[0].actions[0]",
            "must start with http",
        ),
        (
            "rules: [{id: x, pattern: any, params: {of: [{}]}, actions: [{type: webhook, url: 'http://x', "
            "format: pagerduty}]}]",
            "rules[0].actions[0].routing_key",
            "required for format 'pagerduty'",
        ),
        (
            "rules: [{id: x, pattern: any, params: {of: [{}]}}, {id: x, pattern: any, params: {of: [{}]}}]",
            "rules[1].id",
            "duplicate rule id 'x' (first at rules[0])",
        ),
    ],
)
def test_bad_rules_name_the_key_path(text: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_rules(text)
    assert info.value.path == path
    assert message in info.value.message


def test_yaml_syntax_error_and_file_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_rules("rules: [", source="r.yaml")
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [{id: x, pattern: any, params: {of: [{}]}, severity: loud}]\n")
    with pytest.raises(ConfigError) as info:
        load_rules_file(path)
    assert (
        str(info.value)
        == f"{path}: rules[0].severity: expected one of ['info', 'warning', 'error', 'critical'], got 'loud'"
    )
    with pytest.raises(ConfigError, match="cannot read rules file"):
        load_rules_file(tmp_path / "missing.yaml")


def test_yaml_rule_runs(sb: Any) -> None:
    [rule] = load_rules(
        "rules: [{id: slow, pattern: count_threshold, partition_by: http.route, message: '{key}',"
        " params: {match: {duration: {ge: 1s}, attributes: {http.route: {regex: '^/api'}}}, count: 2, within: 10s}}]"
    )
    engine = CepEngine([rule])
    batch = sb.batch(
        [
            sb.span("a", 5, duration_s=1.5, attrs={"http.route": "/api/x"}),
            sb.span("b", 6, duration_s=2.0, attrs={"http.route": "/api/x"}),
            sb.span("c", 6, duration_s=0.5, attrs={"http.route": "/api/y"}),
            sb.span("d", 7, duration_s=3.0, attrs={"http.route": "/other"}),
        ]
    )
    assert [a.message for a in engine.process(batch)] == ["/api/x"]
