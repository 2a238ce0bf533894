"""One test (or a few) per CEP pattern, with timeouts, absence, partitions and watermarks."""

from __future__ import annotations

from typing import Any

import pytest

from knhk_telemetry.stream.cep import (
    Absence,
    AllOf,
    AnyOf,
    CepEngine,
    Consecutive,
    CountThreshold,
    FollowedBy,
    RateThreshold,
    Rule,
    Sequence,
)
from knhk_telemetry.stream.cep import (
    EventMatcher as M,
)


def keys(alerts: list[Any]) -> list[tuple[str, str]]:
    return [(a.rule_id, a.key_text) for a in alerts]


# -- count_threshold -----------------------------------------------------------------------------
def test_count_threshold_fires_once_per_window_and_consumes(sb: Any) -> None:
    rule = Rule("c", CountThreshold(M.status("error"), count=3, within=10, resolution=1), partition_by="service")
    engine = CepEngine([rule])
    errors = [("op", t) for t in (0.5, 1.5, 2.5)]
    alerts = engine.process(sb.events(errors, service="a", status="error"))
    assert [(a.key_text, a.context["count"]) for a in alerts] == [("a", 3)]
    alert = alerts[0]
    # window of 10 buckets of 1s ending at the bucket of the 3rd event: [T0-7, T0+3)
    assert alert.context["window_start_unix_nano"] == sb.ns(-7)
    assert alert.context["window_end_unix_nano"] == sb.ns(3)
    assert alert.time_unix_nano == sb.ns(3)
    # the 3 errors are consumed: 2 more do not fire, the 3rd does
    assert engine.process(sb.events([("op", 3.5), ("op", 4.5)], service="a", status="error")) == []
    assert keys(engine.process(sb.events([("op", 5.5)], service="a", status="error"))) == [("c", "a")]
    # ok spans and other services do not count
    assert engine.process(sb.events([("op", 6.5)] * 5, service="a", status="ok")) == []


def test_count_threshold_sliding_across_batches_and_partitions(sb: Any) -> None:
    def run(out_of_orderness: float) -> list[Any]:
        rule = Rule("c", CountThreshold(M.name("^GET "), count=2, within=5, resolution=1), partition_by="service")
        engine = CepEngine([rule], out_of_orderness=out_of_orderness)
        assert engine.process(sb.events([("GET /a", 0.5)], service="x")) == []
        assert engine.process(sb.events([("GET /a", 1.5)], service="y")) == []
        # 6 s after the first, the window (5 s) no longer holds it
        assert engine.process(sb.events([("GET /b", 6.5)], service="x")) == []
        return engine.process(sb.events([("GET /b", 2.5)], service="y"))

    # y's two events share windows ending at buckets 2..5, all closed by the watermark (6.5 s)
    # when the second arrives; only the window [2 s, 7 s) is open and it holds one event
    assert run(0) == []
    # allowing 5 s of out-of-orderness keeps [-2 s, 3 s) open
    alerts = run(5)
    assert keys(alerts) == [("c", "y")]
    assert alerts[0].context["window_end_unix_nano"] == sb.ns(3)


def test_count_threshold_late_events_are_counted_not_used(sb: Any) -> None:
    rule = Rule("c", CountThreshold(M.everything(), count=2, within=2, resolution=1), partition_by=None)
    engine = CepEngine([rule])
    engine.process(sb.events([("x", 10.5)]))
    # 5.5 + 2 s window ends long before the watermark (10.5): late
    assert engine.process(sb.events([("x", 5.5), ("x", 5.6)])) == []
    late = {m[3]["rule"]: m[4] for m in engine.self_metrics() if m[0] == "knhk_telemetry_cep_late_events_total"}
    assert late == {"c": 2.0}


# -- rate_threshold ------------------------------------------------------------------------------
def test_rate_threshold_fires_when_the_watermark_closes_the_window(sb: Any) -> None:
    rule = Rule(
        "r",
        RateThreshold(threshold=0.5, within=10, min_count=4, resolution=10),
        partition_by="service",
        message="{key}: {errors}/{count} = {rate:.0%}",
    )
    engine = CepEngine([rule])
    batch = sb.batch(
        [
            sb.span("op", 1, service="a", status="error"),
            sb.span("op", 2, service="a", status="error"),
            sb.span("op", 3, service="a", status="error"),
            sb.span("op", 4, service="a", status="ok"),
            sb.span("op", 1, service="b", status="error"),  # 100% but only 2 spans < min_count
            sb.span("op", 2, service="b", status="error"),
            sb.span("op", 1, service="c", status="error"),  # exactly 50%: not above
            sb.span("op", 2, service="c", status="error"),
            sb.span("op", 3, service="c", status="ok"),
            sb.span("op", 4, service="c", status="ok"),
        ]
    )
    assert engine.process(batch) == []  # window [T0, T0+10) still open
    alerts = engine.process(sb.events([("op", 10.0)], service="d"))  # the watermark reaches T0+10
    assert [a.message for a in alerts] == ["a: 3/4 = 75%"]
    assert alerts[0].context["window_end_unix_nano"] == sb.ns(10)
    assert engine.flush() == []


# -- sequence ------------------------------------------------------------------------------------
def _seq_rule(contiguity: str, within: float = 10.0) -> Rule:
    steps = (M.name_is("login"), M.name_is("search"), M.name_is("purchase"))
    return Rule(
        "s",
        Sequence(steps, within=within, contiguity=contiguity),  # type: ignore[arg-type]
        partition_by="user",
        message="{span_names}",
    )


def _user_events(sb: Any, user: str, names: list[tuple[str, float]]) -> Any:
    return sb.events(names, attrs={"user": user})


def test_sequence_relaxed_allows_interleaving(sb: Any) -> None:
    engine = CepEngine([_seq_rule("relaxed")])
    events = [("login", 1), ("browse", 2), ("search", 3), ("login", 4), ("purchase", 5)]
    alerts = engine.process(_user_events(sb, "u1", events))
    assert [a.message for a in alerts] == ["login -> search -> purchase"]
    assert alerts[0].context["count"] == 3
    assert alerts[0].context["window_start_unix_nano"] == sb.ns(1)


def test_sequence_strict_requires_contiguity_among_step_events(sb: Any) -> None:
    engine = CepEngine([_seq_rule("strict")])
    # 'browse' matches no step, so it does not break strictness; the second 'login' does
    events = [("login", 1), ("search", 2), ("login", 3), ("purchase", 4)]
    assert engine.process(_user_events(sb, "u1", events)) == []
    events = [("login", 5), ("browse", 6), ("search", 7), ("purchase", 8)]
    assert [a.message for a in engine.process(_user_events(sb, "u1", events))] == ["login -> search -> purchase"]


def test_sequence_strict_scope_counts_other_spans(sb: Any) -> None:
    steps = (M.name_is("login"), M.name_is("purchase"))
    rule = Rule("s", Sequence(steps, within=10, contiguity="strict", strict_scope=M.everything()), partition_by="user")
    engine = CepEngine([rule])
    assert engine.process(_user_events(sb, "u", [("login", 1), ("browse", 2), ("purchase", 3)])) == []
    assert len(engine.process(_user_events(sb, "u", [("login", 4), ("purchase", 5)]))) == 1


def test_sequence_timeout_and_partitions(sb: Any) -> None:
    engine = CepEngine([_seq_rule("relaxed", within=5)])
    # u1 takes 6 s: timed out; u2 interleaves in another partition and completes
    batch = sb.batch(
        [
            *(sb.span(n, t, attrs={"user": "u1"}) for n, t in [("login", 1), ("search", 2), ("purchase", 7)]),
            *(sb.span(n, t, attrs={"user": "u2"}) for n, t in [("login", 2), ("search", 3), ("purchase", 4)]),
        ]
    )
    alerts = engine.process(batch)
    assert [a.key_text for a in alerts] == ["u2"]
    # spans without the partition attribute take no part
    assert engine.process(sb.events([("login", 8), ("search", 9), ("purchase", 9.5)])) == []
    unkeyed = [m[4] for m in engine.self_metrics() if m[0] == "knhk_telemetry_cep_unkeyed_events_total"]
    assert unkeyed == [3.0]


def test_sequence_out_of_order_input_is_ordered_by_event_time(sb: Any) -> None:
    engine = CepEngine([_seq_rule("strict")], out_of_orderness=5)
    # arrival order purchase, login, search; event-time order login, search, purchase
    assert engine.process(_user_events(sb, "u", [("purchase", 3)])) == []
    assert engine.process(_user_events(sb, "u", [("login", 1)])) == []
    assert engine.process(_user_events(sb, "u", [("search", 2)])) == []
    # nothing fires until the watermark (max - 5 s) reaches the events
    alerts = engine.process(_user_events(sb, "other", [("noise", 8.5)]))
    assert [a.message for a in alerts] == ["login -> search -> purchase"]
    assert alerts[0].time_unix_nano == sb.ns(3)


def test_followed_by(sb: Any) -> None:
    rule = Rule("f", FollowedBy(M.status("error"), M.name_is("retry"), within=2), partition_by="service")
    engine = CepEngine([rule])
    batch = sb.batch(
        [
            sb.span("op", 1, service="a", status="error"),
            sb.span("retry", 2.5, service="a"),  # 1.5 s later: within
            sb.span("op", 1, service="b", status="error"),
            sb.span("retry", 3.5, service="b"),  # 2.5 s later: too late
        ]
    )
    assert keys(engine.process(batch)) == [("f", "a")]


def test_all_in_any_order(sb: Any) -> None:
    rule = Rule("all", AllOf((M.name_is("a"), M.name_is("b"), M.name_is("c")), within=5), partition_by=None)
    engine = CepEngine([rule])
    alerts = engine.process(sb.events([("c", 1), ("a", 2), ("x", 3), ("b", 4)]))
    assert [a.context["span_names"] for a in alerts] == ["c -> a -> b"]
    # too far apart: a at 10, b at 11, c at 16 (a expired by then)
    assert engine.process(sb.events([("a", 10), ("b", 11), ("c", 16)])) == []
    assert engine.process(sb.events([("a", 17)])) == []  # c(16), a(17); b(11) expired
    assert [a.context["span_names"] for a in engine.process(sb.events([("b", 18)]))] == ["c -> a -> b"]


def test_any_of(sb: Any) -> None:
    rule = Rule(
        "any", AnyOf((M.name_is("panic"), M.attr("http.response.status_code", ">=", 500))), partition_by="service"
    )
    engine = CepEngine([rule])
    batch = sb.batch(
        [
            sb.span("op", 1, service="a", attrs={"http.response.status_code": 503}),
            sb.span("panic", 2, service="a"),
            sb.span("op", 1, service="b", attrs={"http.response.status_code": 200}),
            sb.span("panic", 3, service="c"),
        ]
    )
    alerts = engine.process(batch)
    assert [(a.key_text, a.context["count"], a.context["first_span_name"]) for a in alerts] == [
        ("a", 2, "op"),
        ("c", 1, "panic"),
    ]


# -- absence -------------------------------------------------------------------------------------
def test_absence_a_not_followed_by_b(sb: Any) -> None:
    rule = Rule(
        "abs",
        Absence(M.name_is("order.created"), within=10, then=M.name_is("order.paid")),
        partition_by="order.id",
        message="order {key} not paid within {window}",
    )
    engine = CepEngine([rule])
    batch = sb.batch(
        [
            sb.span("order.created", 1, attrs={"order.id": "o1"}),
            sb.span("order.paid", 5, attrs={"order.id": "o1"}),
            sb.span("order.created", 2, attrs={"order.id": "o2"}),
            sb.span("order.created", 3, attrs={"order.id": "o3"}),
            sb.span("order.paid", 13, attrs={"order.id": "o3"}),  # exactly at the deadline: in time
        ]
    )
    # the watermark (13 s) passed o2's deadline (12 s); o3 was paid at its deadline
    assert [a.message for a in engine.process(batch)] == ["order o2 not paid within 10s"]
    assert engine.flush() == []


def test_absence_fires_on_watermark(sb: Any) -> None:
    rule = Rule(
        "abs",
        Absence(M.name_is("order.created"), within=10, then=M.name_is("order.paid")),
        partition_by="order.id",
        message="order {key} not paid within {window}",
    )
    engine = CepEngine([rule])
    first = sb.batch(
        [
            sb.span("order.created", 1, attrs={"order.id": "o1"}),
            sb.span("order.paid", 5, attrs={"order.id": "o1"}),
            sb.span("order.created", 2, attrs={"order.id": "o2"}),
            sb.span("order.created", 3, attrs={"order.id": "o3"}),
        ]
    )
    assert engine.process(first) == []
    alerts = engine.process(sb.batch([sb.span("order.paid", 13, attrs={"order.id": "o3"})]))
    assert [a.message for a in alerts] == ["order o2 not paid within 10s"]
    assert alerts[0].time_unix_nano == sb.ns(12)
    assert engine.flush() == []  # o3 was paid exactly at its deadline


def test_absence_flush_fires_pending_timers(sb: Any) -> None:
    rule = Rule("abs", Absence(M.name_is("start"), within=60, then=M.name_is("end")), partition_by=None)
    engine = CepEngine([rule])
    assert engine.process(sb.events([("start", 1)])) == []
    assert [a.time_unix_nano for a in engine.flush()] == [sb.ns(61)]


def test_heartbeat_event_time(sb: Any) -> None:
    rule = Rule("hb", Absence(M.everything(), within=5), partition_by="service", message="{key} silent")
    engine = CepEngine([rule])
    engine.process(sb.batch([sb.span("op", 1, service="a"), sb.span("op", 1, service="b")]))
    engine.process(sb.events([("op", 4)], service="b"))
    # b keeps beating; a's last beat was at 1: silent once the watermark passes 6
    alerts = engine.process(sb.events([("op", 7)], service="b"))
    assert [a.message for a in alerts] == ["a silent"]
    assert alerts[0].context["window_start_unix_nano"] == sb.ns(1)
    # fires once; a is re-armed when seen again
    assert engine.process(sb.events([("op", 8)], service="b")) == []
    engine.process(sb.events([("op", 9)], service="a"))
    assert [a.message for a in engine.process(sb.events([("op", 15)], service="c"))] == ["b silent", "a silent"]


def test_heartbeat_processing_time_with_injected_clock(sb: Any) -> None:
    now = [0]
    rule = Rule("hb", Absence(M.everything(), within=30, time_domain="processing"), partition_by="service")
    engine = CepEngine([rule], clock=lambda: now[0])
    now[0] = 100 * sb.NS
    engine.process(sb.batch([sb.span("op", 1, service="a"), sb.span("op", 1, service="b")]))
    now[0] = 120 * sb.NS
    engine.process(sb.events([("op", 1)], service="b"))  # same event time: b still arrives
    assert engine.advance(129 * sb.NS) == []
    now[0] = 130 * sb.NS
    assert [a.key_text for a in engine.advance()] == ["a"]  # silent for 30 s of processing time
    assert [a.key_text for a in engine.advance(150 * sb.NS)] == ["b"]
    assert engine.advance(1000 * sb.NS) == []


def test_idle_timeout_moves_the_watermark_with_processing_time(sb: Any) -> None:
    now = [0]
    rule = Rule("hb", Absence(M.everything(), within=10), partition_by="service")
    engine = CepEngine([rule], idle_timeout=5, clock=lambda: now[0])
    engine.process(sb.events([("op", 1)], service="a"))
    assert engine.advance(3 * sb.NS) == []  # not idle long enough
    assert engine.advance(8 * sb.NS) == []  # watermark ~ 1 + 8 = 9 s < 11 s
    assert [a.key_text for a in engine.advance(11 * sb.NS)] == ["a"]


# -- consecutive ---------------------------------------------------------------------------------
def test_consecutive_n_in_a_row(sb: Any) -> None:
    rule = Rule("cons", Consecutive(M.status("error"), count=3), partition_by="service")
    engine = CepEngine([rule])

    def run(statuses: str, start: float, service: str = "a") -> list[Any]:
        spans = [
            sb.span("op", start + i, service=service, status="error" if s == "E" else "ok")
            for i, s in enumerate(statuses)
        ]
        return engine.process(sb.batch(spans))

    assert run("EEOEE", 0) == []  # an ok breaks the streak; 2 carried
    alerts = run("E", 10)  # 3rd in a row across batches
    assert [(a.key_text, a.time_unix_nano) for a in alerts] == [("a", sb.ns(10))]
    assert len(run("EEEEEE", 20)) == 2  # every 3rd
    assert run("EE", 30, service="b") == []  # partitions are separate


# -- partitions ----------------------------------------------------------------------------------
def test_partition_by_trace_id_and_composite_keys(sb: Any) -> None:
    by_trace = Rule("t", CountThreshold(M.status("error"), count=2, within=10), partition_by="trace_id")
    composite = Rule("k", CountThreshold(M.everything(), count=2, within=10), partition_by=("service", "name"))
    engine = CepEngine([by_trace, composite])
    batch = sb.batch(
        [
            sb.span("GET", 1, service="a", status="error", trace=7),
            sb.span("GET", 2, service="a", status="error", trace=7),
            sb.span("PUT", 2, service="a", status="error", trace=8),
            sb.span("GET", 3, service="b", trace=9),
        ]
    )
    alerts = engine.process(batch)
    assert sorted(keys(alerts)) == [("k", "service=a,name=GET"), ("t", (7).to_bytes(16, "big").hex())]


def test_max_partitions_evicts_least_recently_seen(sb: Any) -> None:
    rule = Rule("c", CountThreshold(M.everything(), count=2, within=100), partition_by="service", max_partitions=2)
    engine = CepEngine([rule])
    engine.process(sb.events([("op", 1)], service="a"))
    engine.process(sb.events([("op", 2)], service="b"))
    engine.process(sb.events([("op", 3)], service="c"))  # evicts a (oldest)
    assert engine.process(sb.events([("op", 4)], service="a")) == []  # a's first count was lost
    metrics = {m[0]: m[4] for m in engine.self_metrics() if m[3] == {"rule": "c"}}
    assert metrics["knhk_telemetry_cep_partitions_evicted_total"] == 2.0
    assert metrics["knhk_telemetry_cep_partitions"] <= 2


def test_bad_pattern_parameters() -> None:
    with pytest.raises(ValueError, match="count must be an integer >= 1"):
        CountThreshold(M.everything(), count=0, within=1)
    with pytest.raises(ValueError, match="threshold must be in"):
        RateThreshold(threshold=1.5, within=1)
    with pytest.raises(ValueError, match="at least 2 steps"):
        Sequence((M.everything(),), within=1)
    with pytest.raises(ValueError, match="contiguity"):
        Sequence((M.everything(), M.everything()), within=1, contiguity="loose")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resolution"):
        CountThreshold(M.everything(), count=1, within=1, resolution=2)
