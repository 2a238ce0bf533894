"""Window definitions and vectorised window assignment with Apache Flink's semantics.

- Windows are half-open ``[start, end)`` in integer nanoseconds since the Unix epoch.
- ``Tumbling(size, offset)`` and ``Sliding(size, slide, offset)``: window starts are the epoch
  plus ``offset`` plus multiples of ``slide`` (``slide == size`` for tumbling); the last window
  containing ``ts`` starts at ``ts - floormod(ts - offset, slide)`` (Flink's
  ``TimeWindow.getWindowStartWithOffset``) and ``ts`` belongs to every window starting at that
  start minus ``k * slide`` while the start is ``> ts - size`` (``SlidingEventTimeWindows``).
- ``Session(gap)``: every event opens ``[ts, ts + gap)``; windows that overlap *or touch* merge
  (Flink's ``TimeWindow.intersects`` is inclusive), so events exactly ``gap`` apart share one
  session, which ends at its last event + ``gap``.

>>> import numpy as np
>>> w = Sliding(size=30, slide=10)
>>> idx, starts = assign_windows(np.array([0, 25, -1]), w)
>>> idx.tolist(), starts.tolist()
([0, 0, 0, 1, 1, 1, 2, 2, 2], [0, -10, -20, 20, 10, 0, -10, -20, -30])
>>> session_ids(np.array([0, 5, 11, 30]), gap=5).tolist()  # 0 and 5 touch; 11 is 6 after 5
[0, 0, 1, 2]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from knhk_telemetry.config import parse_duration

__all__ = [
    "Session",
    "Sliding",
    "Tumbling",
    "WindowSpec",
    "assign_windows",
    "parse_duration_ns",
    "parse_window",
    "session_ids",
    "window_start",
]

I64 = npt.NDArray[np.int64]


def parse_duration_ns(value: str | int | float, *, field: str = "duration") -> int:
    """Nanoseconds from ``"10s"``/``"250ms"``/``"1h30m"`` (Go syntax) or an int of nanoseconds."""
    if isinstance(value, bool):
        raise ValueError(f"{field}: invalid duration {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{field}: must be 0 or more, got {value}")
        return value
    try:
        return round(parse_duration(value) * 1e9)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None


def _positive(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{field} must be an int of nanoseconds, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{field} must be > 0 ns, got {value}")
    return int(value)


@dataclass(frozen=True, slots=True)
class Tumbling:
    """Fixed, non-overlapping windows of ``size`` ns starting at ``offset + k * size``."""

    size: int
    offset: int = 0
    kind: Literal["tumbling"] = "tumbling"

    def __post_init__(self) -> None:
        _positive(self.size, "Tumbling.size")
        if not abs(self.offset) < self.size:
            raise ValueError(f"Tumbling.offset must satisfy |offset| < size, got {self.offset}")

    @property
    def slide(self) -> int:
        return self.size


@dataclass(frozen=True, slots=True)
class Sliding:
    """Windows of ``size`` ns starting every ``slide`` ns (at ``offset + k * slide``); may overlap."""

    size: int
    slide: int
    offset: int = 0
    kind: Literal["sliding"] = "sliding"

    def __post_init__(self) -> None:
        _positive(self.size, "Sliding.size")
        _positive(self.slide, "Sliding.slide")
        if not abs(self.offset) < self.slide:
            raise ValueError(f"Sliding.offset must satisfy |offset| < slide, got {self.offset}")


@dataclass(frozen=True, slots=True)
class Session:
    """Per-key sessions: a session ends ``gap`` ns after its last event (touching sessions merge)."""

    gap: int
    kind: Literal["session"] = "session"

    def __post_init__(self) -> None:
        _positive(self.gap, "Session.gap")


WindowSpec: TypeAlias = Tumbling | Sliding | Session

_WINDOW_RE = re.compile(
    r"^\s*(tumbling|sliding|hopping|hop|session):\s*([^/@]+?)\s*(?:/\s*([^@]+?)\s*)?(?:@\s*(.+?))?\s*$"
)


def parse_window(text: str) -> WindowSpec:
    """``tumbling:10s``, ``sliding:30s/10s`` (size/slide), ``session:5s``; ``@offset`` optional.

    >>> parse_window("sliding:30s/10s")
    Sliding(size=30000000000, slide=10000000000, offset=0, kind='sliding')
    """
    m = _WINDOW_RE.match(text)
    if m is None:
        raise ValueError(f"window: expected tumbling:SIZE, sliding:SIZE/SLIDE or session:GAP, got {text!r}")
    kind, a, b, off = m.groups()
    offset = parse_duration_ns(off, field="window offset") if off else 0
    if kind == "tumbling":
        if b:
            raise ValueError(f"window: tumbling takes one duration, got {text!r}")
        return Tumbling(parse_duration_ns(a, field="window size"), offset)
    if kind == "session":
        if b or off:
            raise ValueError(f"window: session takes one gap duration, got {text!r}")
        return Session(parse_duration_ns(a, field="session gap"))
    if not b:
        raise ValueError(f"window: sliding needs SIZE/SLIDE, got {text!r}")
    return Sliding(parse_duration_ns(a, field="window size"), parse_duration_ns(b, field="window slide"), offset)


def window_start(ts: npt.ArrayLike, offset: int, slide: int) -> I64:
    """Start of the last window containing ``ts``: ``ts - floormod(ts - offset, slide)`` (int64)."""
    t = np.asarray(ts, dtype=np.int64)
    out: I64 = t - np.mod(t - offset, slide)
    return out


def windows_per_event_max(spec: Tumbling | Sliding) -> int:
    """Upper bound of the number of windows one timestamp belongs to: ``ceil(size / slide)``."""
    return math.ceil(spec.size / spec.slide)


def assign_windows(ts: npt.ArrayLike, spec: Tumbling | Sliding) -> tuple[I64, I64]:
    """``(event_index, window_start)`` pairs: every window ``[start, start + size)`` holding each ts.

    Ordered by event, then by descending start (Flink's assignment order). With ``slide > size``
    some timestamps fall in no window and get no pair.
    """
    t = np.asarray(ts, dtype=np.int64)
    last = window_start(t, spec.offset, spec.slide)
    k = windows_per_event_max(spec)
    starts = last[:, None] - np.arange(k, dtype=np.int64)[None, :] * spec.slide
    keep = starts > (t - spec.size)[:, None]
    idx = np.broadcast_to(np.arange(t.size, dtype=np.int64)[:, None], starts.shape)
    return idx[keep].astype(np.int64), starts[keep].astype(np.int64)


def session_ids(ts_sorted: npt.ArrayLike, gap: int) -> I64:
    """Session number of each timestamp of one key, given in ascending order.

    A new session starts where the distance to the previous event exceeds ``gap``: windows
    ``[a, a + gap)`` and ``[b, b + gap)`` with ``b - a == gap`` touch and therefore merge.
    """
    t = np.asarray(ts_sorted, dtype=np.int64)
    if t.size == 0:
        return np.zeros(0, dtype=np.int64)
    breaks = np.diff(t) > gap
    out: I64 = np.concatenate([[0], np.cumsum(breaks)]).astype(np.int64)
    return out
