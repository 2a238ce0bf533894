"""Builders for small span batches in event time (seconds after T0)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest

from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.model.edge import Resource, Span, SpanStatus, spans_to_batch
from knhk_telemetry.model.schema import SpanKind
from knhk_telemetry.model.values import AttributeValue

T0 = 1_700_000_000
NS = 1_000_000_000


def ns(seconds: float) -> int:
    """Absolute event time of ``seconds`` after T0, in ns."""
    return T0 * NS + round(seconds * NS)


@dataclass
class Builder:
    """``span(name, end_s, ...)`` makes a Span ending ``end_s`` seconds after T0."""

    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    T0 = T0
    NS = NS

    @staticmethod
    def ns(seconds: float) -> int:
        return ns(seconds)

    def span(
        self,
        name: str,
        end_s: float,
        *,
        service: str = "svc",
        status: str = "unset",
        attrs: dict[str, AttributeValue] | None = None,
        duration_s: float = 0.01,
        trace: int = 1,
        kind: SpanKind = SpanKind.SERVER,
    ) -> Span:
        n = next(self._ids)
        st = {"unset": SpanStatus.unset(), "ok": SpanStatus.ok(), "error": SpanStatus.error("boom")}[status]
        return Span(
            trace.to_bytes(16, "big"),
            n.to_bytes(8, "big"),
            name,
            ns(end_s) - round(duration_s * NS),
            ns(end_s),
            kind=kind,
            attributes=attrs or {},
            status=st,
            resource=Resource({"service.name": service}),
        )

    def batch(self, spans: Iterable[Span]) -> SpanBatch:
        return spans_to_batch(list(spans))

    def events(self, spec: Iterable[tuple[str, float]], **kwargs: object) -> SpanBatch:
        """A batch of spans given as (name, end_s) pairs sharing the keyword options."""
        return self.batch(self.span(n, t, **kwargs) for n, t in spec)  # type: ignore[arg-type]


@pytest.fixture
def sb() -> Builder:
    return Builder()
