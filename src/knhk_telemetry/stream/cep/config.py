"""CEP rules from YAML; every error is a ``ConfigError`` naming the key path.

Schema (durations as in the Collector config: ``500ms``, ``1m30s`` or seconds)::

    rules:
      - id: checkout-errors                 # required, unique
        description: many errors on checkout
        pattern: count_threshold             # see PATTERN_PARAMS
        params: {match: {service: checkout, status: error}, count: 5, within: 1m}
        partition_by: service                # a field, a list of fields, or null (global)
        severity: error                      # info | warning | error | critical
        message: "{count} errors on {key} within {window}"
        dedup_key: "{rule}:{key}"
        suppress_for: 5m
        capture: [http.route]
        max_partitions: 10000
        actions:
          - {type: log}
          - {type: webhook, url: "https://hooks.slack.com/...", format: slack, timeout: 2s, retries: 3}
          - {type: webhook, url: "https://events.pagerduty.com/v2/enqueue", format: pagerduty, routing_key: KEY}
          - {type: callback, name: page_oncall}  # a function passed in ``callbacks``
          - {type: log_record}                   # needs ``log_sink``

Matchers are mappings whose entries all must hold (``{}`` matches every span)::

    name: "^GET "            name_is: "GET /cart"      status: error     kind: server
    service: checkout        service_regex: "^pay"    duration: {gt: 500ms}
    attributes: {http.route: /cart, http.response.status_code: {ge: 500}, user.id: {exists: true}}
    resource: {deployment.environment: prod}
    all: [m, ...]            any: [m, ...]             not: m

Attribute conditions: a plain value means equality; a mapping holds operators ``eq``,
``ne``, ``lt``, ``le``, ``gt``, ``ge``, ``regex`` and ``exists`` (all must hold).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from knhk_telemetry.config import parse_duration
from knhk_telemetry.errors import ConfigError
from knhk_telemetry.model.batch import LogBatch
from knhk_telemetry.stream.cep.actions import (
    WEBHOOK_FORMATS,
    Action,
    CallbackAction,
    LogAction,
    LogRecordAction,
    WebhookAction,
)
from knhk_telemetry.stream.cep.alerts import DEFAULT_DEDUP_KEY, DEFAULT_MESSAGE, SEVERITIES, Rule, check_template
from knhk_telemetry.stream.cep.matchers import KINDS, STATUSES, EventMatcher
from knhk_telemetry.stream.cep.patterns import (
    PATTERNS,
    Absence,
    AllOf,
    AnyOf,
    Consecutive,
    CountThreshold,
    FollowedBy,
    Pattern,
    RateThreshold,
    Sequence,
)

_OPS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "regex": "regex"}
_MATCHER_KEYS = (
    "name",
    "name_is",
    "status",
    "kind",
    "service",
    "service_regex",
    "duration",
    "attributes",
    "resource",
    "all",
    "any",
    "not",
)
#: the params each pattern takes (required ones first)
PATTERN_PARAMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "count_threshold": (("match", "count", "within"), ("resolution",)),
    "rate_threshold": (("threshold", "within"), ("match", "error", "min_count", "resolution")),
    "sequence": (("steps", "within"), ("contiguity", "strict_scope", "max_runs")),
    "followed_by": (("first", "then", "within"), ("max_runs",)),
    "all": (("steps", "within"), ()),
    "any": (("of",), ()),
    "absence": (("first", "within"), ("then", "time_domain", "max_runs")),
    "consecutive": (("match", "count"), ("scope",)),
}
_RULE_KEYS = (
    "id",
    "description",
    "pattern",
    "params",
    "partition_by",
    "severity",
    "message",
    "dedup_key",
    "suppress_for",
    "capture",
    "max_partitions",
    "actions",
)
_ACTION_KEYS: dict[str, tuple[str, ...]] = {
    "log": ("type", "logger", "name"),
    "callback": ("type", "name"),
    "log_record": ("type", "service_name", "name"),
    "webhook": (
        "type",
        "url",
        "format",
        "routing_key",
        "source",
        "component",
        "headers",
        "timeout",
        "retries",
        "backoff",
        "max_queue",
        "name",
    ),
}


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(message, path=path)


def _mapping(value: Any, path: str, allowed: tuple[str, ...] | None = None) -> Mapping[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise _fail(path, f"expected a mapping, got {type(value).__name__}")
    if allowed is not None:
        for key in value:
            if key not in allowed:
                raise _fail(_join(path, str(key)), f"unknown key; expected one of {list(allowed)}")
    return value


def _list(value: Any, path: str, *, min_len: int = 0) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(path, f"expected a list, got {type(value).__name__}")
    if len(value) < min_len:
        raise _fail(path, f"expected at least {min_len} item(s), got {len(value)}")
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(path, f"expected a non-empty string, got {value!r}")
    return value


def _int(value: Any, path: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(path, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, f"expected a number, got {value!r}")
    return float(value)


def _duration(value: Any, path: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _fail(path, str(exc)) from None


def _call(path: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(...)`` with a ``ValueError`` turned into a ``ConfigError`` at ``path``."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        raise _fail(path, str(exc)) from None


def parse_matcher(value: Any, path: str) -> EventMatcher:
    """An ``EventMatcher`` from its YAML form (module docstring)."""
    spec = _mapping(value, path, _MATCHER_KEYS)
    parts: list[EventMatcher] = []
    for key, item in spec.items():
        at = _join(path, key)
        if key in ("name", "name_is", "service", "service_regex"):
            text = _str(item, at)
            parts.append(_call(at, getattr(EventMatcher, key), text))
        elif key == "status":
            if not isinstance(item, str) or item.lower() not in STATUSES:
                raise _fail(at, f"expected one of {sorted(STATUSES)}, got {item!r}")
            parts.append(EventMatcher.status(item))
        elif key == "kind":
            if not isinstance(item, str) or item.lower() not in KINDS:
                raise _fail(at, f"expected one of {sorted(KINDS)}, got {item!r}")
            parts.append(EventMatcher.kind(item))
        elif key == "duration":
            ops = _mapping(item, at, tuple(k for k in _OPS if k != "regex"))
            if not ops:
                raise _fail(at, "expected at least one of gt, ge, lt, le, eq, ne")
            parts.extend(EventMatcher.duration(_OPS[op], _duration(v, _join(at, op))) for op, v in ops.items())
        elif key in ("attributes", "resource"):
            make = EventMatcher.attr if key == "attributes" else EventMatcher.resource_attr
            for attr_key, cond in _mapping(item, at).items():
                parts.extend(_attr_conditions(str(attr_key), cond, _join(at, str(attr_key)), make, key == "attributes"))
        elif key in ("all", "any"):
            subs = [parse_matcher(m, _join(at, i)) for i, m in enumerate(_list(item, at, min_len=1))]
            combined = subs[0]
            for s in subs[1:]:
                combined = (combined & s) if key == "all" else (combined | s)
            parts.append(combined)
        else:  # not
            parts.append(~parse_matcher(item, at))
    if not parts:
        return EventMatcher.everything()
    out = parts[0]
    for p in parts[1:]:
        out = out & p
    return out


def _attr_conditions(
    key: str, cond: Any, path: str, make: Callable[[str, str, object], EventMatcher], span: bool
) -> list[EventMatcher]:
    if not isinstance(cond, Mapping):
        return [_call(path, make, key, "==", cond)]
    ops = _mapping(cond, path, (*_OPS, "exists"))
    if not ops:
        raise _fail(path, f"expected a value or at least one of {[*_OPS, 'exists']}")
    out: list[EventMatcher] = []
    for op, value in ops.items():
        at = _join(path, op)
        if op == "exists":
            if not isinstance(value, bool):
                raise _fail(at, f"expected true or false, got {value!r}")
            present = EventMatcher.has(key) if span else EventMatcher.resource_has(key)
            out.append(present if value else ~present)
        else:
            out.append(_call(at, make, key, _OPS[op], value))
    return out


def parse_pattern(kind: Any, params: Any, path: str) -> Pattern:
    """A pattern from ``pattern:`` and ``params:`` (``path`` is the rule's path)."""
    if kind not in PATTERNS:
        raise _fail(_join(path, "pattern"), f"unknown pattern {kind!r}; expected one of {sorted(PATTERNS)}")
    required, optional = PATTERN_PARAMS[kind]
    at = _join(path, "params")
    p = _mapping(params, at, (*required, *optional))
    for name in required:
        if name not in p:
            raise _fail(_join(at, name), f"required by pattern {kind!r}")

    def matcher(name: str) -> EventMatcher:
        return parse_matcher(p[name], _join(at, name))

    def matchers(name: str, min_len: int) -> tuple[EventMatcher, ...]:
        items = _list(p[name], _join(at, name), min_len=min_len)
        return tuple(parse_matcher(m, _join(_join(at, name), i)) for i, m in enumerate(items))

    def within() -> float:
        return _duration(p["within"], _join(at, "within"))

    def opt(name: str, conv: Callable[[Any, str], Any]) -> dict[str, Any]:
        return {name: conv(p[name], _join(at, name))} if name in p and p[name] is not None else {}

    def choice(options: tuple[str, ...]) -> Callable[[Any, str], str]:
        def conv(value: Any, where: str) -> str:
            if value not in options:
                raise _fail(where, f"expected one of {list(options)}, got {value!r}")
            return str(value)

        return conv

    def matcher_conv(value: Any, where: str) -> EventMatcher:
        return parse_matcher(value, where)

    build: Callable[[], Pattern]
    if kind == "count_threshold":

        def build() -> Pattern:
            return CountThreshold(
                matcher("match"), _int(p["count"], _join(at, "count")), within(), **opt("resolution", _duration)
            )
    elif kind == "rate_threshold":

        def build() -> Pattern:
            threshold = _number(p["threshold"], _join(at, "threshold"))
            if not 0 <= threshold < 1:
                raise _fail(_join(at, "threshold"), f"expected a rate in [0, 1), got {threshold!r}")
            return RateThreshold(
                threshold,
                within(),
                **opt("min_count", _int),
                **opt("match", matcher_conv),
                **opt("error", matcher_conv),
                **opt("resolution", _duration),
            )
    elif kind == "sequence":

        def build() -> Pattern:
            return Sequence(
                matchers("steps", 2),
                within(),
                **opt("contiguity", choice(("strict", "relaxed"))),
                **opt("strict_scope", matcher_conv),
                **opt("max_runs", _int),
            )
    elif kind == "followed_by":

        def build() -> Pattern:
            return FollowedBy(matcher("first"), matcher("then"), within(), **opt("max_runs", _int))
    elif kind == "all":

        def build() -> Pattern:
            return AllOf(matchers("steps", 2), within())
    elif kind == "any":

        def build() -> Pattern:
            return AnyOf(matchers("of", 1))
    elif kind == "absence":

        def build() -> Pattern:
            return Absence(
                matcher("first"),
                within(),
                **opt("then", matcher_conv),
                **opt("time_domain", choice(("event", "processing"))),
                **opt("max_runs", _int),
            )
    else:

        def build() -> Pattern:
            return Consecutive(matcher("match"), _int(p["count"], _join(at, "count")), **opt("scope", matcher_conv))

    return _call(at, build)  # type: ignore[no-any-return]


def parse_action(
    value: Any,
    path: str,
    *,
    callbacks: Mapping[str, Callable[..., object]] | None,
    log_sink: Callable[[LogBatch], object] | None,
    shared: dict[str, Action],
) -> Action:
    spec = _mapping(value, path)
    kind = spec.get("type")
    if kind not in _ACTION_KEYS:
        raise _fail(_join(path, "type"), f"expected one of {sorted(_ACTION_KEYS)}, got {kind!r}")
    _mapping(spec, path, _ACTION_KEYS[kind])
    if kind == "log":
        return LogAction(_str(spec.get("logger", "knhk_telemetry.cep.alerts"), _join(path, "logger")))
    if kind == "callback":
        name = _str(spec.get("name"), _join(path, "name"))
        if callbacks is None or name not in callbacks:
            known = sorted(callbacks or {})
            raise _fail(_join(path, "name"), f"no callback named {name!r} was given (known: {known})")
        return shared.setdefault(f"callback:{name}", CallbackAction(callbacks[name], name=name))
    if kind == "log_record":
        if log_sink is None:
            raise _fail(_join(path, "type"), "log_record actions need a log sink (none was given)")
        service = _str(spec.get("service_name", "knhk-telemetry"), _join(path, "service_name"))
        return shared.setdefault(f"log_record:{service}", LogRecordAction(log_sink, service_name=service))
    url = _str(spec.get("url"), _join(path, "url"))
    fmt = spec.get("format", "generic")
    if fmt not in WEBHOOK_FORMATS:
        raise _fail(_join(path, "format"), f"expected one of {list(WEBHOOK_FORMATS)}, got {fmt!r}")
    if fmt == "pagerduty" and not spec.get("routing_key"):
        raise _fail(_join(path, "routing_key"), "required for format 'pagerduty'")
    headers = _mapping(spec.get("headers"), _join(path, "headers"))
    kwargs: dict[str, Any] = {
        "routing_key": str(spec.get("routing_key", "")),
        "source": _str(spec.get("source", "knhk-telemetry"), _join(path, "source")),
        "headers": {str(k): str(v) for k, v in headers.items()},
        "timeout": _duration(spec.get("timeout", 5.0), _join(path, "timeout")),
        "retries": _int(spec.get("retries", 3), _join(path, "retries"), 0),
        "backoff": _duration(spec.get("backoff", 0.5), _join(path, "backoff")),
        "max_queue": _int(spec.get("max_queue", 1000), _join(path, "max_queue")),
    }
    if spec.get("component") is not None:
        kwargs["component"] = _str(spec["component"], _join(path, "component"))
    if spec.get("name") is not None:
        kwargs["name"] = _str(spec["name"], _join(path, "name"))
    if kwargs["timeout"] <= 0:
        raise _fail(_join(path, "timeout"), "must be > 0")
    return _call(path, WebhookAction, url, fmt, **kwargs)  # type: ignore[no-any-return]


def parse_rule(
    value: Any,
    path: str,
    *,
    callbacks: Mapping[str, Callable[..., object]] | None = None,
    log_sink: Callable[[LogBatch], object] | None = None,
    shared: dict[str, Action] | None = None,
) -> Rule:
    """One rule from its YAML mapping (module docstring)."""
    spec = _mapping(value, path, _RULE_KEYS)
    if "id" not in spec:
        raise _fail(_join(path, "id"), "required")
    rule_id = _str(spec["id"], _join(path, "id"))
    if "pattern" not in spec:
        raise _fail(_join(path, "pattern"), "required")
    pattern = parse_pattern(spec["pattern"], spec.get("params"), path)
    partition: Any = spec.get("partition_by", "service")
    at = _join(path, "partition_by")
    if isinstance(partition, list):
        partition = tuple(_str(f, _join(at, i)) for i, f in enumerate(partition))
    elif partition is not None:
        partition = _str(partition, at)
    severity = spec.get("severity", "warning")
    if severity not in SEVERITIES:
        raise _fail(_join(path, "severity"), f"expected one of {list(SEVERITIES)}, got {severity!r}")
    templates = {}
    for name, default in (("message", DEFAULT_MESSAGE), ("dedup_key", DEFAULT_DEDUP_KEY)):
        text = spec.get(name, default)
        _call(_join(path, name), check_template, text)
        templates[name] = text
    capture = tuple(
        _str(f, _join(_join(path, "capture"), i))
        for i, f in enumerate(_list(spec.get("capture", []), _join(path, "capture")))
    )
    shared = {} if shared is None else shared
    actions = tuple(
        parse_action(a, _join(_join(path, "actions"), i), callbacks=callbacks, log_sink=log_sink, shared=shared)
        for i, a in enumerate(_list(spec.get("actions", []), _join(path, "actions")))
    )
    return _call(  # type: ignore[no-any-return]
        path,
        Rule,
        rule_id,
        pattern,
        partition,
        actions,
        severity,
        templates["message"],
        _duration(spec.get("suppress_for", 0), _join(path, "suppress_for")),
        templates["dedup_key"],
        description=str(spec.get("description", "")),
        capture=capture,
        max_partitions=_int(spec.get("max_partitions", 100_000), _join(path, "max_partitions")),
    )


def parse_rules(
    data: Any,
    *,
    path: str = "rules",
    callbacks: Mapping[str, Callable[..., object]] | None = None,
    log_sink: Callable[[LogBatch], object] | None = None,
) -> list[Rule]:
    """Rules from parsed YAML: the list itself, or a mapping with a ``rules`` list."""
    if isinstance(data, Mapping):
        _mapping(data, "", ("rules",))
        data = data.get("rules")
    items = _list(data, path)
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    shared: dict[str, Action] = {}
    for i, item in enumerate(items):
        rule = parse_rule(item, _join(path, i), callbacks=callbacks, log_sink=log_sink, shared=shared)
        if rule.id in seen:
            raise _fail(
                _join(_join(path, i), "id"), f"duplicate rule id {rule.id!r} (first at {path}[{seen[rule.id]}])"
            )
        seen[rule.id] = i
        rules.append(rule)
    return rules


def load_rules(
    text: str,
    *,
    source: str | None = None,
    callbacks: Mapping[str, Callable[..., object]] | None = None,
    log_sink: Callable[[LogBatch], object] | None = None,
) -> list[Rule]:
    """Rules from YAML text (``source`` names it in errors)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source=source) from exc
    try:
        return parse_rules(data, callbacks=callbacks, log_sink=log_sink)
    except ConfigError as exc:
        if source is None:
            raise
        raise ConfigError(exc.message, path=exc.path, source=source) from exc


def load_rules_file(path: str | Path, **kwargs: Any) -> list[Rule]:
    """Rules from a YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read rules file: {exc}", source=str(p)) from exc
    return load_rules(text, source=str(p), **kwargs)


__all__ = [
    "PATTERN_PARAMS",
    "load_rules",
    "load_rules_file",
    "parse_matcher",
    "parse_pattern",
    "parse_rule",
    "parse_rules",
]
