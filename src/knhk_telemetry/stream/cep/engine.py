"""``CepEngine``: runs a set of rules over span batches and emits alerts.

    >>> from knhk_telemetry.stream.cep import CepEngine, CountThreshold, EventMatcher as M, Rule
    >>> engine = CepEngine([Rule("errors", CountThreshold(M.status("error"), count=3, within=60))])
    >>> alerts = engine.process(batch)          # doctest: +SKIP
    >>> engine.advance()                         # processing-time timers, idle watermark  # doctest: +SKIP
    >>> engine.flush()                           # end of input: every timer fires  # doctest: +SKIP

Per batch the engine computes the columns once (:class:`BatchView`), evaluates each rule's
matchers to masks, resolves the partition keys of the matched events only, lets the pattern
work on those, then moves the watermark (see ``patterns``) and fires what it closed. Alerts
pass deduplication and suppression, go to the history (``alerts()``) and to the rule's
actions, grouped so that each action gets one call per engine call.

State is per rule and partition key, bounded by ``Rule.max_partitions`` (least recently
seen keys are evicted, counted). ``snapshot()`` gives the state as plain picklable data
keyed by partition *values* (not internal ids) and ``merge()`` adds such a snapshot into an
engine with the same rules: threshold counts add up, partial matches and timers are united,
the watermark is the maximum.

An engine is not thread-safe: feed it from one thread (the pipeline worker); webhook
deliveries run on their own threads and never block it.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.stream.cep._columns import Array, BatchView, EventTime, dense_unique
from knhk_telemetry.stream.cep.actions import Action
from knhk_telemetry.stream.cep.alerts import (
    SEVERITIES,
    Alert,
    Rule,
    new_alert_id,
    render,
    template_variables,
)
from knhk_telemetry.stream.cep.matchers import coded_values
from knhk_telemetry.stream.cep.patterns import END_OF_TIME, NS, EventRef, Events, Fire, Runtime

_Metric = tuple[str, str, str, dict[str, str], float]
_NO_WATERMARK = -(1 << 62)
logger = logging.getLogger("knhk_telemetry.stream.cep")


class _Partitions:
    """Partition key value <-> small integer id, least-recently-seen eviction."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.ids: dict[Hashable, int] = {}
        self.keys: list[Hashable] = []
        self.last = np.zeros(0, np.int64)
        self.free: list[int] = []
        self.evicted = 0
        self.refused = 0  # events whose new key found no room

    def key_of(self, pid: int) -> Hashable:
        return self.keys[pid]

    def _new(self, key: Hashable) -> int:
        if self.free:
            pid = self.free.pop()
            self.keys[pid] = key
        else:
            pid = len(self.keys)
            self.keys.append(key)
            if pid >= len(self.last):
                self.last = np.concatenate([self.last, np.full(max(16, len(self.last)), _NO_WATERMARK, np.int64)])
        self.ids[key] = pid
        return pid

    def pid_of(self, key: Hashable) -> int:
        """The id of ``key``, created if new (merge; not bounded)."""
        pid = self.ids.get(key)
        return pid if pid is not None else self._new(key)

    def resolve(self, values: Sequence[Hashable], times: Array) -> tuple[Array, Array]:
        """Ids of distinct ``values`` (one per value, -1 when there is no room), and the ids evicted."""
        pids = np.empty(len(values), np.int64)
        missing: list[int] = []
        for i, v in enumerate(values):
            pid = self.ids.get(v)
            if pid is None:
                missing.append(i)
                pids[i] = -1
            else:
                pids[i] = pid
        evicted = np.zeros(0, np.int64)
        over = len(self.ids) + len(missing) - self.limit
        if over > 0:
            evicted = self._evict(over + self.limit // 10, pids[pids >= 0])
        room = self.limit - len(self.ids)
        for n, i in enumerate(missing):
            if n >= room:
                break
            pids[i] = self._new(values[i])
        known = pids >= 0
        if known.any():
            np.maximum.at(self.last, pids[known], times[known])
        return pids, evicted

    def _evict(self, count: int, keep: Array) -> Array:
        used = np.array([self.ids[k] for k in self.ids], np.int64) if self.ids else np.zeros(0, np.int64)
        candidates = used[~np.isin(used, keep)]
        if len(candidates) == 0:
            return candidates
        count = min(count, len(candidates))
        victims = candidates[np.argsort(self.last[candidates], kind="stable")[:count]]
        for pid in victims.tolist():
            del self.ids[self.keys[pid]]
            self.keys[pid] = None
            self.last[pid] = _NO_WATERMARK
            self.free.append(pid)
        self.evicted += len(victims)
        return victims


@dataclass(slots=True)
class _RuleState:
    rule: Rule
    runtime: Runtime
    partitions: _Partitions
    matches: int = 0
    unkeyed: int = 0
    suppressed: int = 0
    duplicates: int = 0
    template_errors: int = 0
    alerts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEVERITIES, 0))
    dedup: OrderedDict[str, int] = field(default_factory=OrderedDict)  # dedup key -> last alert time

    def remember(self, dedup_key: str, when: int, limit: int) -> None:
        self.dedup[dedup_key] = when
        self.dedup.move_to_end(dedup_key)
        while len(self.dedup) > limit:
            self.dedup.popitem(last=False)


class CepEngine:
    """Runs ``rules`` over span batches (module docstring).

    ``out_of_orderness`` (seconds): how late an event may arrive and still count (the
    watermark trails the maximum event time by it). ``event_time``: ``"end"`` (default)
    or ``"start"`` time of a span. ``idle_timeout`` (seconds, None = never): after that
    long without a batch, ``advance()`` moves the watermark forward with processing time.
    ``clock``: processing time in ns (injectable for tests). ``history_size``: alerts kept
    for ``alerts()``. ``dedup_size``: dedup keys remembered per rule."""

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        out_of_orderness: float = 0.0,
        event_time: EventTime = "end",
        idle_timeout: float | None = None,
        clock: Callable[[], int] = time.time_ns,
        history_size: int = 1000,
        dedup_size: int = 10_000,
    ) -> None:
        self.rules: dict[str, _RuleState] = {}
        for rule in rules:
            if rule.id in self.rules:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            self.rules[rule.id] = _RuleState(rule, rule.pattern.runtime(), _Partitions(rule.max_partitions))
        if event_time not in ("end", "start"):
            raise ValueError(f"event_time must be 'end' or 'start', got {event_time!r}")
        if out_of_orderness < 0 or (idle_timeout is not None and idle_timeout <= 0):
            raise ValueError("out_of_orderness must be >= 0 and idle_timeout > 0 seconds")
        self.out_of_orderness_ns = round(out_of_orderness * NS)
        self.event_time: EventTime = event_time
        self.idle_timeout_ns = None if idle_timeout is None else round(idle_timeout * NS)
        self.clock = clock
        self.history: deque[Alert] = deque(maxlen=history_size)
        self.dedup_size = dedup_size
        self._watermark = _NO_WATERMARK
        self._max_time: int | None = None
        self._last_arrival: int | None = None
        self._batch_no = 0
        self.events = 0
        self.batches = 0
        self.alerts_total = 0

    # -- time ---------------------------------------------------------------------------------
    @property
    def watermark(self) -> int | None:
        """The current watermark (ns), None before the first event."""
        return None if self._watermark == _NO_WATERMARK else self._watermark

    def _move_watermark(self, to: int) -> list[tuple[_RuleState, list[Fire]]]:
        self._watermark = max(self._watermark, min(to, END_OF_TIME))
        return [(st, st.runtime.on_watermark(self._watermark)) for st in self.rules.values()]

    # -- the three entry points ---------------------------------------------------------------
    def process(self, batch: SpanBatch) -> list[Alert]:
        """Match the spans of ``batch``; returns the alerts this caused (also delivered)."""
        now = self.clock()
        self._batch_no += 1
        self.batches += 1
        view = BatchView(batch, event_time=self.event_time)
        self.events += view.n
        fired: list[tuple[_RuleState, list[Fire]]] = []
        for st in self.rules.values():
            ev = self._events(st, view, now)
            if ev is not None:
                fired.append((st, st.runtime.process(ev, self._watermark)))
        self._last_arrival = now
        if view.n:
            top = int(view.time.max())
            self._max_time = top if self._max_time is None else max(self._max_time, top)
            fired += self._move_watermark(self._max_time - self.out_of_orderness_ns)
        return self._emit(fired, now)

    def advance(self, processing_time: int | None = None) -> list[Alert]:
        """Fire processing-time timers (and, after ``idle_timeout`` without batches, move the
        watermark by the processing time elapsed since the last batch)."""
        now = self.clock() if processing_time is None else int(processing_time)
        fired: list[tuple[_RuleState, list[Fire]]] = []
        if (
            self.idle_timeout_ns is not None
            and self._last_arrival is not None
            and self._max_time is not None
            and now - self._last_arrival >= self.idle_timeout_ns
        ):
            fired += self._move_watermark(self._max_time - self.out_of_orderness_ns + (now - self._last_arrival))
        fired += [(st, st.runtime.on_processing_time(now)) for st in self.rules.values()]
        return self._emit(fired, now)

    def flush(self) -> list[Alert]:
        """End of input: the watermark goes to the end of time, every event-time timer and
        window fires (events arriving afterwards are late)."""
        return self._emit(self._move_watermark(END_OF_TIME), self.clock())

    def close(self, timeout: float | None = 5.0) -> None:
        """Close every action (webhooks finish their queue within ``timeout``)."""
        for action in self._actions():
            action.close(timeout)

    # -- matching -----------------------------------------------------------------------------
    def _events(self, st: _RuleState, view: BatchView, now: int) -> Events | None:
        matchers = st.rule.pattern.matchers()
        masks = [m.mask(view) for m in matchers]
        union = masks[0]
        for m in masks[1:]:
            union = union | m
        rows = np.flatnonzero(union)
        st.matches += len(rows)
        if len(rows) == 0:
            return None
        fields = st.rule.fields
        times = view.time[rows]
        if fields:
            coded = coded_values(view, fields, rows)
            codes = coded.codes
            values = coded.values
            keyed = codes >= 0
            if not keyed.all():
                st.unkeyed += int((~keyed).sum())
                rows, times, codes = rows[keyed], times[keyed], codes[keyed]
            uniq, inverse = dense_unique(codes, len(values))
            distinct = [values[c] for c in uniq.tolist()]
        else:
            inverse = np.zeros(len(rows), np.int64)
            distinct = [None]
        latest = np.full(len(distinct), _NO_WATERMARK, np.int64)
        np.maximum.at(latest, inverse, times)
        local, evicted = st.partitions.resolve(distinct, latest)
        if len(evicted):
            st.runtime.evict(evicted)
        pid = local[inverse]
        ok = pid >= 0
        if not ok.all():
            st.partitions.refused += int((~ok).sum())
            rows, times, pid = rows[ok], times[ok], pid[ok]
        if len(rows) == 0:
            return None
        hits = np.stack([m[rows] for m in masks], axis=1)
        capture = st.rule.capture
        return Events(view, rows, times, pid, hits, self._batch_no, now, _ref_maker(capture))

    # -- alerts -------------------------------------------------------------------------------
    def _emit(self, fired: list[tuple[_RuleState, list[Fire]]], now: int) -> list[Alert]:
        out: list[Alert] = []
        per_action: dict[int, tuple[Action, list[Alert]]] = {}
        for st, fires in fired:
            rule = st.rule
            for fire in sorted(fires, key=lambda f: f.time_unix_nano):
                key = st.partitions.key_of(fire.pid)
                variables = template_variables(rule, key, fire)
                message = render(rule.message, variables)
                dedup_key = render(rule.dedup_key, variables)
                if "[template error:" in message:
                    st.template_errors += 1
                previous = st.dedup.get(dedup_key)
                if previous is not None:
                    if previous == fire.time_unix_nano:
                        st.duplicates += 1
                        continue
                    if 0 <= fire.time_unix_nano - previous < rule.suppress_for * NS:
                        st.suppressed += 1
                        continue
                st.remember(dedup_key, fire.time_unix_nano, self.dedup_size)
                alert = Alert(
                    id=new_alert_id(),
                    rule_id=rule.id,
                    severity=rule.severity,
                    message=message,
                    pattern=rule.pattern.kind,
                    key=key,
                    key_text=variables["key"],
                    time_unix_nano=fire.time_unix_nano,
                    emitted_unix_nano=now,
                    dedup_key=dedup_key,
                    context=variables,
                )
                st.alerts[rule.severity] += 1
                self.alerts_total += 1
                self.history.append(alert)
                out.append(alert)
                for action in rule.actions:
                    per_action.setdefault(id(action), (action, []))[1].append(alert)
        for action, alerts in per_action.values():
            try:
                action.deliver(alerts)
            except Exception:  # an action must not break the engine
                logger.exception("CEP action %s failed", action.name)
        return out

    def alerts(self, rule: str | None = None, since: int | None = None) -> list[Alert]:
        """Alerts in the history (oldest first), of one rule and/or at event time >= ``since`` ns."""
        return [
            a
            for a in self.history
            if (rule is None or a.rule_id == rule) and (since is None or a.time_unix_nano >= since)
        ]

    def _actions(self) -> list[Action]:
        seen: dict[int, Action] = {}
        for st in self.rules.values():
            for action in st.rule.actions:
                seen.setdefault(id(action), action)
        return list(seen.values())

    # -- state --------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The engine's state as plain data (see the module docstring)."""
        return {
            "watermark": self._watermark,
            "max_time": self._max_time,
            "rules": {
                rid: {
                    "state": st.runtime.snapshot(st.partitions.key_of),
                    "dedup": dict(st.dedup),
                }
                for rid, st in self.rules.items()
            },
            "history": list(self.history),
        }

    def merge(self, snapshot: Mapping[str, Any]) -> None:
        """Add another engine's ``snapshot()`` (same rules) into this one."""
        unknown = set(snapshot["rules"]) - set(self.rules)
        if unknown:
            raise ValueError(f"snapshot has rules this engine does not: {sorted(unknown)}")
        for rid, data in snapshot["rules"].items():
            st = self.rules[rid]
            st.runtime.merge(data["state"], st.partitions.pid_of)
            for k, when in data["dedup"].items():
                st.remember(k, max(when, st.dedup.get(k, when)), self.dedup_size)
        known = {a.id for a in self.history}
        merged = sorted(
            [*self.history, *(a for a in snapshot["history"] if a.id not in known)], key=lambda a: a.time_unix_nano
        )
        self.history = deque(merged, maxlen=self.history.maxlen)
        if snapshot["max_time"] is not None:
            self._max_time = max(self._max_time or snapshot["max_time"], snapshot["max_time"])
        self._watermark = max(self._watermark, snapshot["watermark"])

    # -- self-metrics -------------------------------------------------------------------------
    def self_metrics(self) -> Iterable[_Metric]:
        """``(name, type, help, labels, value)`` tuples (``knhk_telemetry_cep_*``)."""
        yield ("knhk_telemetry_cep_events_total", "counter", "Spans seen by the CEP engine.", {}, float(self.events))
        yield (
            "knhk_telemetry_cep_batches_total",
            "counter",
            "Batches seen by the CEP engine.",
            {},
            float(self.batches),
        )
        if self.watermark is not None:
            yield ("knhk_telemetry_cep_watermark_seconds", "gauge", "Event-time watermark.", {}, self._watermark / NS)
        per_rule: tuple[tuple[str, str, Callable[[_RuleState], int]], ...] = (
            ("matches", "Spans matched by a rule's matchers.", lambda st: st.matches),
            ("late_events", "Matched spans that arrived after the watermark passed them.", lambda st: st.runtime.late),
            ("unkeyed_events", "Matched spans lacking a partition key field.", lambda st: st.unkeyed),
            ("suppressed_alerts", "Alerts suppressed within a rule's suppression window.", lambda st: st.suppressed),
            ("duplicate_alerts", "Alerts dropped as exact duplicates.", lambda st: st.duplicates),
            ("partitions_evicted", "Partition keys evicted over max_partitions.", lambda st: st.partitions.evicted),
            (
                "partition_refused_events",
                "Events of new keys refused at max_partitions.",
                lambda st: st.partitions.refused,
            ),
            ("runs_dropped", "Partial matches or timers dropped over max_runs.", lambda st: st.runtime.dropped),
            ("template_errors", "Alert messages whose template failed.", lambda st: st.template_errors),
        )
        for name, help_text, get in per_rule:
            for rid, st in self.rules.items():
                yield (f"knhk_telemetry_cep_{name}_total", "counter", help_text, {"rule": rid}, float(get(st)))
        for rid, st in self.rules.items():
            yield (
                "knhk_telemetry_cep_partitions",
                "gauge",
                "Partition keys held by a rule.",
                {"rule": rid},
                float(len(st.partitions.ids)),
            )
            for severity, n in st.alerts.items():
                yield (
                    "knhk_telemetry_cep_alerts_total",
                    "counter",
                    "Alerts emitted.",
                    {"rule": rid, "severity": severity},
                    float(n),
                )
        for action in self._actions():
            yield from action.self_metrics()


def _ref_maker(capture: tuple[str, ...]) -> Callable[[BatchView, int], EventRef]:
    def make(view: BatchView, row: int) -> EventRef:
        idx = np.array([row], np.int64)
        attributes: dict[str, Any] = {}
        for name in capture:
            coded = view.field(name, idx)
            c = int(coded.codes[0])
            attributes[name] = coded.values[c] if c >= 0 else None
        return EventRef(
            name=view.span_name(row),
            span_id=view.id_hex("span_id", row),
            trace_id=view.id_hex("trace_id", row),
            time_unix_nano=int(view.time[row]),
            attributes=attributes,
        )

    return make


__all__ = ["CepEngine"]
