"""Complex event processing over span batches: matchers, patterns, rules, alerts, actions.

    >>> from knhk_telemetry.stream.cep import CepEngine, CountThreshold, EventMatcher as M, Rule
    >>> from knhk_telemetry.synth import synthetic_spans
    >>> rule = Rule(
    ...     "many-errors",
    ...     CountThreshold(M.status("error"), count=5, within=60),
    ...     partition_by="service",
    ...     severity="error",
    ...     message="{count} errors on {key} within {window}",
    ... )
    >>> engine = CepEngine([rule])
    >>> alerts = engine.process(synthetic_spans(2000, services=2, error_ratio=0.02, spread_ns=10**9))
    >>> sorted(a.message for a in alerts)  # all errors of the batch count in the window that fired
    ['17 errors on service-0 within 1m', '19 errors on service-1 within 1m']

Modules: ``matchers`` (``EventMatcher``, vectorised masks), ``patterns`` (the patterns and
their time semantics), ``alerts`` (``Rule``, ``Alert``, message templates), ``actions``
(log, callback, webhook, log records), ``engine`` (``CepEngine``), ``config`` (rules from
YAML).
"""

from knhk_telemetry.stream.cep.actions import (
    Action,
    CallbackAction,
    LogAction,
    LogRecordAction,
    WebhookAction,
    webhook_payload,
)
from knhk_telemetry.stream.cep.alerts import TEMPLATE_VARIABLES, Alert, Rule, Severity
from knhk_telemetry.stream.cep.config import load_rules, load_rules_file, parse_matcher, parse_rules
from knhk_telemetry.stream.cep.engine import CepEngine
from knhk_telemetry.stream.cep.matchers import EventMatcher
from knhk_telemetry.stream.cep.patterns import (
    Absence,
    AllOf,
    AnyOf,
    Consecutive,
    CountThreshold,
    EventRef,
    FollowedBy,
    Pattern,
    RateThreshold,
    Sequence,
)

__all__ = [
    "TEMPLATE_VARIABLES",
    "Absence",
    "Action",
    "Alert",
    "AllOf",
    "AnyOf",
    "CallbackAction",
    "CepEngine",
    "Consecutive",
    "CountThreshold",
    "EventMatcher",
    "EventRef",
    "FollowedBy",
    "LogAction",
    "LogRecordAction",
    "Pattern",
    "RateThreshold",
    "Rule",
    "Sequence",
    "Severity",
    "WebhookAction",
    "load_rules",
    "load_rules_file",
    "parse_matcher",
    "parse_rules",
    "webhook_payload",
]
