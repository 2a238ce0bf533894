"""Refused items, counted by reason: what decoders and validation hand back with a batch.

Reasons are short snake_case ids (``invalid_trace_id``, ``end_before_start``); they become
the ``reason`` label of ``knhk_telemetry_pipeline_refused_total`` and the text of an OTLP
``partial_success.error_message``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from knhk_telemetry.model.batch import Batch

B = TypeVar("B", bound=Batch)

#: at most this many example messages are kept per Rejections (the counts stay exact)
MAX_MESSAGES = 10

INVALID_TRACE_ID = "invalid_trace_id"
INVALID_SPAN_ID = "invalid_span_id"
INVALID_PARENT_SPAN_ID = "invalid_parent_span_id"
END_BEFORE_START = "end_before_start"
#: a numeric field out of its OTLP range or of the wrong type (time, count, flags, enum)
INVALID_FIELD = "invalid_field"
#: an attribute (or log body) value that is not an AnyValue
INVALID_ATTRIBUTE = "invalid_attribute"
#: a metric data point that does not fit its metric (wrong point type, bucket count mismatch)
INVALID_DATA_POINT = "invalid_data_point"


@dataclass(slots=True)
class Rejections:
    """How many items were refused, by reason, with the first few messages."""

    counts: Counter[str] = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)

    def add(self, reason: str, message: str, n: int = 1) -> None:
        if n <= 0:
            return
        self.counts[reason] += n
        if len(self.messages) < MAX_MESSAGES:
            self.messages.append(message)

    def update(self, other: Rejections) -> None:
        self.counts.update(other.counts)
        room = MAX_MESSAGES - len(self.messages)
        if room > 0:
            self.messages.extend(other.messages[:room])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __bool__(self) -> bool:
        return self.total > 0

    def summary(self) -> str:
        """One line for an OTLP partial_success error_message or a log."""
        if not self:
            return ""
        counts = ", ".join(f"{r}={n}" for r, n in sorted(self.counts.items()))
        return f"refused {self.total} ({counts}): " + "; ".join(self.messages)


@dataclass(slots=True)
class Decoded(Generic[B]):
    """A decoded batch and what was refused while decoding it."""

    batch: B
    rejected: Rejections = field(default_factory=Rejections)
