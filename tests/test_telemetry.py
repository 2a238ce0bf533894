"""Tests of the self-metrics server: exposition format (promtool, prometheus parser), errors, endpoints."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping

import pytest
from prometheus_client.parser import text_string_to_metric_families

from knhk_telemetry.errors import ConfigError
from knhk_telemetry.telemetry import MetricsServer, Sample, SampleLike, build_families

GOOD: list[Sample] = [
    Sample("knhk_telemetry_receiver_accepted_spans", "counter", "Spans accepted.", {"receiver": "otlp"}, 12),
    Sample("knhk_telemetry_receiver_accepted_spans_total", "counter", "Spans accepted.", {"receiver": "file"}, 3),
    Sample("knhk_telemetry_queue_items", "gauge", "Items in the queue.", {"pipeline": "traces"}, 7.5),
    Sample(
        "knhk_telemetry_exporter_send_seconds",
        "summary",
        "Send time.",
        {"exporter": "parquet", "quantile": "0.5"},
        0.01,
    ),
    Sample(
        "knhk_telemetry_exporter_send_seconds",
        "summary",
        "Send time.",
        {"exporter": "parquet", "quantile": "0.99"},
        0.2,
    ),
    Sample("knhk_telemetry_exporter_send_seconds_sum", "summary", "Send time.", {"exporter": "parquet"}, 1.5),
    Sample("knhk_telemetry_exporter_send_seconds_count", "summary", "Send time.", {"exporter": "parquet"}, 100),
    Sample("knhk_telemetry_batch_items", "histogram", "Items per batch.", {"le": "10"}, 2),
    Sample("knhk_telemetry_batch_items_bucket", "histogram", "Items per batch.", {"le": "10"}, 2),
    Sample("knhk_telemetry_batch_items_bucket", "histogram", "Items per batch.", {"le": "+Inf"}, 5),
    Sample("knhk_telemetry_batch_items_sum", "histogram", "Items per batch.", {}, 80),
    Sample("knhk_telemetry_batch_items_count", "histogram", "Items per batch.", {}, 5),
]

# the first histogram sample lacks a suffix: it is skipped, the rest is served
EXPECTED_TEXT = """\
# HELP knhk_telemetry_receiver_accepted_spans_total Spans accepted.
# TYPE knhk_telemetry_receiver_accepted_spans_total counter
knhk_telemetry_receiver_accepted_spans_total{receiver="otlp"} 12.0
knhk_telemetry_receiver_accepted_spans_total{receiver="file"} 3.0
# HELP knhk_telemetry_queue_items Items in the queue.
# TYPE knhk_telemetry_queue_items gauge
knhk_telemetry_queue_items{pipeline="traces"} 7.5
# HELP knhk_telemetry_exporter_send_seconds Send time.
# TYPE knhk_telemetry_exporter_send_seconds summary
knhk_telemetry_exporter_send_seconds{exporter="parquet",quantile="0.5"} 0.01
knhk_telemetry_exporter_send_seconds{exporter="parquet",quantile="0.99"} 0.2
knhk_telemetry_exporter_send_seconds_sum{exporter="parquet"} 1.5
knhk_telemetry_exporter_send_seconds_count{exporter="parquet"} 100.0
# HELP knhk_telemetry_batch_items Items per batch.
# TYPE knhk_telemetry_batch_items histogram
knhk_telemetry_batch_items_bucket{le="10"} 2.0
knhk_telemetry_batch_items_bucket{le="+Inf"} 5.0
knhk_telemetry_batch_items_sum 80.0
knhk_telemetry_batch_items_count 5.0
# HELP knhk_telemetry_self_metrics_collect_errors_total Scrapes whose self-metrics collection raised.
# TYPE knhk_telemetry_self_metrics_collect_errors_total counter
knhk_telemetry_self_metrics_collect_errors_total 0.0
# HELP knhk_telemetry_self_metrics_invalid_samples Self-metric samples skipped as invalid in the last scrape.
# TYPE knhk_telemetry_self_metrics_invalid_samples gauge
knhk_telemetry_self_metrics_invalid_samples 1.0
"""


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read().decode()


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, parsed by prometheus_client's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    metrics = MetricsServer("127.0.0.1:0", lambda: GOOD)
    metrics.start()
    yield metrics
    metrics.shutdown()


def test_metrics_are_served_in_the_text_format(server: MetricsServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}/metrics"
    status, content_type, text = get(server.url)
    assert status == 200
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert text == EXPECTED_TEXT


def test_exposition_parses_to_the_exact_values(server: MetricsServer) -> None:
    _, _, text = get(server.url)
    families = {family.name: family.type for family in text_string_to_metric_families(text)}
    assert families == {
        "knhk_telemetry_receiver_accepted_spans": "counter",
        "knhk_telemetry_queue_items": "gauge",
        "knhk_telemetry_exporter_send_seconds": "summary",
        "knhk_telemetry_batch_items": "histogram",
        "knhk_telemetry_self_metrics_collect_errors": "counter",
        "knhk_telemetry_self_metrics_invalid_samples": "gauge",
    }
    assert values(text) == {
        ("knhk_telemetry_receiver_accepted_spans_total", (("receiver", "otlp"),)): 12.0,
        ("knhk_telemetry_receiver_accepted_spans_total", (("receiver", "file"),)): 3.0,
        ("knhk_telemetry_queue_items", (("pipeline", "traces"),)): 7.5,
        ("knhk_telemetry_exporter_send_seconds", (("exporter", "parquet"), ("quantile", "0.5"))): 0.01,
        ("knhk_telemetry_exporter_send_seconds", (("exporter", "parquet"), ("quantile", "0.99"))): 0.2,
        ("knhk_telemetry_exporter_send_seconds_sum", (("exporter", "parquet"),)): 1.5,
        ("knhk_telemetry_exporter_send_seconds_count", (("exporter", "parquet"),)): 100.0,
        ("knhk_telemetry_batch_items_bucket", (("le", "10"),)): 2.0,
        ("knhk_telemetry_batch_items_bucket", (("le", "+Inf"),)): 5.0,
        ("knhk_telemetry_batch_items_sum", ()): 80.0,
        ("knhk_telemetry_batch_items_count", ()): 5.0,
        ("knhk_telemetry_self_metrics_collect_errors_total", ()): 0.0,
        ("knhk_telemetry_self_metrics_invalid_samples", ()): 1.0,
    }


def test_openmetrics_is_served_when_asked(server: MetricsServer) -> None:
    request = urllib.request.Request(server.url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert "# TYPE knhk_telemetry_receiver_accepted_spans counter\n" in text
    assert text.endswith("# EOF\n")


def test_promtool_accepts_the_exposition(server: MetricsServer) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt package 'prometheus'); CI installs it")
    _, _, text = get(server.url)
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_health_and_unknown_paths(server: MetricsServer) -> None:
    base = f"http://127.0.0.1:{server.port}"
    assert get(base + "/healthz") == (200, "text/plain; charset=utf-8", "ok\n")
    assert get(base + "/") == (404, "text/plain; charset=utf-8", "not found: try /metrics or /healthz\n")


def test_a_failing_collect_serves_what_it_gathered(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def collect() -> Iterator[SampleLike]:
        nonlocal calls
        calls += 1
        yield ("knhk_telemetry_up", "gauge", "Up.", {}, 1.0)
        raise RuntimeError("component exploded")

    with MetricsServer("127.0.0.1:0", collect) as metrics, caplog.at_level(logging.ERROR):
        first = get(metrics.url)
        second = get(metrics.url)
    assert first[0] == second[0] == 200
    assert calls == 2
    assert values(second[2]) == {
        ("knhk_telemetry_up", ()): 1.0,
        ("knhk_telemetry_self_metrics_collect_errors_total", ()): 2.0,
        ("knhk_telemetry_self_metrics_invalid_samples", ()): 0.0,
    }
    assert [r.getMessage() for r in caplog.records] == [
        "self-metrics collect() failed; serving the 1 samples before it",
        "self-metrics collect() failed; serving the 1 samples before it",
    ]
    assert caplog.records[0].exc_info is not None
    assert str(caplog.records[0].exc_info[1]) == "component exploded"


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        metrics = MetricsServer(f"127.0.0.1:{port}", list)
        with pytest.raises(ConfigError) as info:
            metrics.start()
    assert str(info.value) == (
        f"service.telemetry.metrics.address: cannot serve self-metrics on 127.0.0.1:{port}: Address already in use"
    )
    metrics.shutdown()  # safe after a failed start


def test_a_malformed_address_is_a_clear_error() -> None:
    with pytest.raises(ConfigError) as info:
        MetricsServer("9464", list)
    assert str(info.value) == (
        "service.telemetry.metrics.address: invalid address '9464': "
        "expected host:port, e.g. 127.0.0.1:9464 or [::1]:9464"
    )


def test_lifecycle_is_idempotent() -> None:
    metrics = MetricsServer("127.0.0.1:0", list)
    assert metrics.port == 0
    metrics.shutdown()  # safe without start
    metrics.start()
    port = metrics.port
    metrics.start()  # no-op while running
    assert metrics.port == port
    assert get(metrics.url)[0] == 200
    metrics.shutdown()
    metrics.shutdown()
    with pytest.raises(urllib.error.URLError):
        get(metrics.url)


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("IPv6 loopback is not configured on this machine")
    with MetricsServer("[::1]:0", lambda: [Sample("knhk_telemetry_up", "gauge", "Up.", {}, 1.0)]) as metrics:
        assert metrics.url == f"http://[::1]:{metrics.port}/metrics"
        assert values(get(metrics.url)[2])[("knhk_telemetry_up", ())] == 1.0


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        (("bad name", "gauge", "", {}, 1.0), "invalid metric name 'bad name'"),
        (
            ("x", "meter", "", {}, 1.0),
            "unknown metric type 'meter' (expected one of: counter, gauge, histogram, summary, unknown)",
        ),
        (("x", "gauge", "", {"bad-label": "v"}, 1.0), "invalid label name 'bad-label'"),
        (("x", "gauge", "", {"__name__": "v"}, 1.0), "invalid label name '__name__'"),
        (("x", "gauge", "", {}, "many"), "value 'many' is not a number"),
        (("x_total", "counter", "", {}, -1.0), "counter value -1.0 is negative or NaN"),
        (("x", "counter", "", {}, float("nan")), "counter value nan is negative or NaN"),
        (("x", "summary", "", {}, 1.0), "a summary sample needs a 'quantile' label, or a _sum/_count suffix"),
        (("x", "summary", "", {"quantile": "median"}, 1.0), "quantile label 'median' is not a number"),
        (("x_bucket", "histogram", "", {}, 1.0), "a histogram _bucket sample needs an 'le' label"),
        (
            ("knhk_telemetry_self_metrics_collect_errors_total", "counter", "", {}, 1.0),
            "metric name 'knhk_telemetry_self_metrics_collect_errors' is reserved for the metrics server itself",
        ),
        (("x",), "not a (name, type, help, labels, value) sample: not enough values to unpack (expected 5, got 1)"),
    ],
)
def test_invalid_samples_are_skipped_with_a_reason(sample: SampleLike, reason: str) -> None:
    rejected: list[tuple[SampleLike, str]] = []
    families = build_families([sample, ("ok", "gauge", "Fine.", {}, 2.0)], lambda s, r: rejected.append((s, r)))
    assert rejected == [(sample, reason)]
    assert [(f.name, [(s.name, s.value) for s in f.samples]) for f in families] == [("ok", [("ok", 2.0)])]


def test_conflicts_within_a_family_are_skipped() -> None:
    rejected: list[str] = []
    labels: Mapping[str, str] = {"a": "1"}
    families = build_families(
        [
            ("x", "gauge", "First help wins.", labels, 1.0),
            ("x", "gauge", "Other help.", {"a": "1"}, 2.0),
            ("x", "counter", "", {}, 3.0),
            ("x", "gauge", "", {"a": "2"}, 4.0),
        ],
        lambda _, reason: rejected.append(reason),
    )
    assert rejected == ["duplicate series x{'a': '1'}", "family 'x' is already a gauge, not a counter"]
    assert len(families) == 1
    assert families[0].documentation == "First help wins."
    assert [(s.labels, s.value) for s in families[0].samples] == [({"a": "1"}, 1.0), ({"a": "2"}, 4.0)]
