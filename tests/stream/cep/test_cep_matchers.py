"""EventMatcher masks against a plain-Python evaluation of the same spans."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from knhk_telemetry.model.edge import Span, batch_to_spans
from knhk_telemetry.model.schema import SpanKind, StatusCode
from knhk_telemetry.stream.cep import EventMatcher as M
from knhk_telemetry.stream.cep._columns import BatchView
from knhk_telemetry.synth import synthetic_spans

_BATCH = synthetic_spans(3000, services=4, error_ratio=0.1, seed=3)
_SPANS = batch_to_spans(_BATCH)


def _oracle(pred: Callable[[Span], bool]) -> np.ndarray[Any, Any]:
    return np.array([pred(s) for s in _SPANS], bool)


def _num(s: Span, key: str) -> float | None:
    v = s.attributes.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


CASES: list[tuple[str, Any, Callable[[Span], bool]]] = [
    ("name regex", M.name(r"^(GET|PUT) /api"), lambda s: re.search(r"^(GET|PUT) /api", s.name) is not None),
    ("name is", M.name_is("POST /api/orders"), lambda s: s.name == "POST /api/orders"),
    ("status error", M.status("error"), lambda s: s.status.code == StatusCode.ERROR),
    ("status unset", M.status("unset"), lambda s: s.status.code == StatusCode.UNSET),
    ("kind server", M.kind("server"), lambda s: s.kind == SpanKind.SERVER),
    ("kind client", M.kind("client"), lambda s: s.kind == SpanKind.CLIENT),
    ("duration", M.duration(">", 0.03), lambda s: s.duration_ns > 30_000_000),
    ("service", M.service("service-2"), lambda s: s.resource.attributes["service.name"] == "service-2"),
    ("service regex", M.service_regex("[13]$"), lambda s: str(s.resource.attributes["service.name"])[-1] in "13"),
    ("attr str eq", M.attr("http.route", "==", "/health"), lambda s: s.attributes.get("http.route") == "/health"),
    (
        "attr str ne",
        M.attr("http.route", "!=", "/health"),
        lambda s: "http.route" in s.attributes and s.attributes["http.route"] != "/health",
    ),
    (
        "attr regex",
        M.attr("http.route", "regex", r"\{id\}"),
        lambda s: "{id}" in str(s.attributes.get("http.route", "")),
    ),
    (
        "attr int ge",
        M.attr("http.response.status_code", ">=", 500),
        lambda s: (_num(s, "http.response.status_code") or 0) >= 500,
    ),
    (
        "attr int lt float",
        M.attr("http.response.status_code", "<", 204.5),
        lambda s: (_num(s, "http.response.status_code") or 1e9) < 204.5,
    ),
    (
        "attr int eq",
        M.attr("http.response.status_code", "==", 404),
        lambda s: _num(s, "http.response.status_code") == 404,
    ),
    (
        "attr int ne",
        M.attr("http.response.status_code", "!=", 200),
        lambda s: _num(s, "http.response.status_code") not in (None, 200),
    ),
    ("attr absent", M.attr("no.such.key", "==", 1), lambda s: False),
    ("attr type mismatch", M.attr("http.route", ">", 1), lambda s: False),
    ("has", M.has("server.port"), lambda s: "server.port" in s.attributes),
    (
        "resource attr",
        M.resource_attr("host.name", "regex", "-0$"),
        lambda s: s.resource.attributes["host.name"] == "host-0",
    ),
    (
        "and/or/not",
        (M.status("error") | M.name("DELETE")) & ~M.service("service-0"),
        lambda s: (
            (s.status.code == StatusCode.ERROR or "DELETE" in s.name)
            and s.resource.attributes["service.name"] != "service-0"
        ),
    ),
    ("everything", M.everything(), lambda s: True),
]


@pytest.mark.parametrize(("matcher", "oracle"), [(m, o) for _, m, o in CASES], ids=[c[0] for c in CASES])
def test_mask_equals_python_evaluation(matcher: Any, oracle: Callable[[Span], bool]) -> None:
    mask = matcher.mask(BatchView(_BATCH))
    expected = _oracle(oracle)
    assert mask.dtype == np.bool_
    assert np.array_equal(mask, expected)


def test_double_and_bool_attributes(sb: Any) -> None:
    batch = sb.batch(
        [
            sb.span("a", 1, attrs={"ratio": 0.25, "flag": True}),
            sb.span("b", 2, attrs={"ratio": 0.75, "flag": False}),
            sb.span("c", 3, attrs={"ratio": 3}),  # an int attribute compares numerically too
            sb.span("d", 4),
        ]
    )
    view = BatchView(batch)
    names = [s.name for s in batch_to_spans(batch)]

    def hits(m: Any) -> list[str]:
        return [n for n, x in zip(names, m.mask(view), strict=True) if x]

    assert hits(M.attr("ratio", ">", 0.5)) == ["b", "c"]
    assert hits(M.attr("ratio", "==", 0.25)) == ["a"]
    assert hits(M.attr("flag", "==", True)) == ["a"]
    assert hits(M.attr("flag", "!=", True)) == ["b"]
    assert hits(~M.has("ratio")) == ["d"]


def test_regex_runs_once_per_distinct_name() -> None:
    calls: list[str] = []

    class Counting(M.name("x").__class__):  # type: ignore[misc]
        def _eval(self, view: BatchView) -> Any:
            _, names = view.name_codes()
            calls.extend(n or "" for n in names)
            return super()._eval(view)

    Counting("GET").mask(BatchView(_BATCH))
    assert len(calls) == len({s.name for s in _SPANS})  # 24 distinct names for 3000 spans


def test_bad_matchers() -> None:
    with pytest.raises(ValueError, match="invalid regex"):
        M.name("(")
    with pytest.raises(ValueError, match="status must be one of"):
        M.status("broken")
    with pytest.raises(ValueError, match="operator must be one of"):
        M.attr("k", "=~", "x")
    with pytest.raises(ValueError, match="needs a number"):
        M.attr("k", "<", "x")
    with pytest.raises(ValueError, match="duration operator"):
        M.duration("regex", 1)


def test_str() -> None:
    m = M.service("checkout") & M.status("error") & M.duration(">", 0.5)
    assert str(m) == "(service == 'checkout' & status == error & duration > 0.5s)"
