"""Span batches for window tests, built from plain rows (``make_spans`` fixture)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.model.edge import Resource, Span, SpanStatus, spans_to_batch
from knhk_telemetry.model.schema import SpanKind, StatusCode

#: (service, name, end_ns, duration_ns, is_error[, span attributes])
Row = tuple[Any, ...]


def build_spans(rows: Iterable[Row]) -> SpanBatch:
    spans = []
    for i, row in enumerate(rows):
        service, name, end, dur, err = row[:5]
        attrs: Mapping[str, Any] = row[5] if len(row) > 5 else {}
        spans.append(
            Span(
                trace_id=(i + 1).to_bytes(16, "big"),
                span_id=(i + 1).to_bytes(8, "big"),
                name=name,
                start_time_unix_nano=end - dur,
                end_time_unix_nano=end,
                kind=SpanKind.SERVER,
                attributes=dict(attrs),
                status=SpanStatus(code=StatusCode.ERROR if err else StatusCode.UNSET),
                resource=Resource(attributes={"service.name": service}),
            )
        )
    return spans_to_batch(spans)


@pytest.fixture(scope="session")
def make_spans() -> Callable[[Iterable[Row]], SpanBatch]:
    return build_spans
