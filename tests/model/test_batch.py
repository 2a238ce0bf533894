"""``Batch.concat``: parent columns re-numbered exactly, with and without combining chunks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.synth import synthetic_spans


def _parts() -> list[SpanBatch]:
    # different shapes: several resources/scopes, events and links, an empty batch between
    return [
        synthetic_spans(40, services=3, attributes_per_span=4, seed=1),
        SpanBatch.empty(),
        synthetic_spans(25, services=2, attributes_per_span=2, seed=2),
        synthetic_spans(7, services=1, attributes_per_span=6, seed=3),
    ]


def _expected_parent(parts: list[SpanBatch], table: str, parent: str, column: str) -> list[int]:
    out: list[int] = []
    offset = 0
    for b in parts:
        out.extend(int(v) + offset for v in b.table(table).column(column).to_pylist())
        offset += b.table(parent).num_rows
    return out


@pytest.mark.parametrize("combine", [True, False])
def test_concat_renumbers_every_parent_column(combine: bool) -> None:
    parts = _parts()
    both = SpanBatch.concat(parts, combine=combine)
    both.check()  # parents in range and sorted
    assert len(both) == 72
    for spec in SpanBatch.TABLES:
        assert both.table(spec.name).num_rows == sum(b.table(spec.name).num_rows for b in parts)
        if spec.parent is not None:
            got = both.table(spec.name).column(spec.parent_column).to_pylist()
            assert got == _expected_parent(parts, spec.name, spec.parent, spec.parent_column)
    # the spans, as rows, are the parts' spans in order
    names = [n for b in parts for n in b.spans.column("name").to_pylist()]
    assert both.spans.column("name").to_pylist() == names


def test_concat_without_combining_keeps_chunks_and_equals_the_combined() -> None:
    parts = _parts()
    chunked = SpanBatch.concat(parts, combine=False)
    combined = SpanBatch.concat(parts)
    assert chunked == combined
    assert chunked.table("span_attributes").column("key").num_chunks > 1
    assert all(c.num_chunks == 1 for c in combined.table("span_attributes").columns)
    # selections work on the chunked batch and match the combined one
    mask = np.arange(len(chunked)) % 3 == 0
    assert chunked.filter(mask) == combined.filter(mask)
    assert chunked.slice(30, 20) == combined.slice(30, 20)
    assert SpanBatch.concat([chunked, parts[0]]) == SpanBatch.concat([*parts, parts[0]])


def test_concat_of_one_or_none() -> None:
    one = synthetic_spans(3, seed=4)
    assert SpanBatch.concat([one]) is one
    assert len(SpanBatch.concat([])) == 0
    assert isinstance(SpanBatch.concat([]), SpanBatch)


def test_concat_index_columns_keep_their_type() -> None:
    both = SpanBatch.concat(_parts(), combine=False)
    for spec in SpanBatch.TABLES:
        if spec.parent is not None:
            assert both.table(spec.name).schema.field(spec.parent_column).type == pa.int32()
