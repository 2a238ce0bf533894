"""The OTLP message tree as flat tables the validating pass walks (built from the descriptors).

Every message *position* gets a type id: a KeyValue under a Span is another type than a
KeyValue under a Resource, so counting messages per type id gives each output table its exact
row bound. The recursive AnyValue / ArrayValue / KeyValueList (and a KeyValue inside a
KeyValueList) share one id each, which ends the recursion. ``KIND[t, f]`` says what field
``f`` of type ``t`` is; fields numbered ``MAX_FIELD`` or more are unknown to every type.

The tables are plain arrays passed to the kernels as arguments (never compile-time
constants), so changing them can never be hidden by a cached compilation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

MAX_FIELD = 32
#: KIND values
K_UNKNOWN, K_SCALAR, K_STRING, K_MESSAGE, K_PACKED = 0, 1, 2, 3, 4
#: the type id of field contents that are not messages (groups, unknown fields)
T_NONE = 0

# FieldDescriptor.TYPE_* numbers
_WIRE_OF_TYPE = {
    1: 1,  # double
    2: 5,  # float
    3: 0,  # int64
    4: 0,  # uint64
    5: 0,  # int32
    6: 1,  # fixed64
    7: 5,  # fixed32
    8: 0,  # bool
    13: 0,  # uint32
    14: 0,  # enum
    15: 5,  # sfixed32
    16: 1,  # sfixed64
    17: 0,  # sint32
    18: 0,  # sint64
}
_TYPE_STRING, _TYPE_MESSAGE, _TYPE_BYTES = 9, 11, 12
_SHARED = ("opentelemetry.proto.common.v1.AnyValue", "opentelemetry.proto.common.v1.ArrayValue")
_KVLIST = "opentelemetry.proto.common.v1.KeyValueList"
_KEYVALUE = "opentelemetry.proto.common.v1.KeyValue"

ROOTS = {
    "traces": ExportTraceServiceRequest.DESCRIPTOR,
    "metrics": ExportMetricsServiceRequest.DESCRIPTOR,
    "logs": ExportLogsServiceRequest.DESCRIPTOR,
}


@dataclass
class Schema:
    """Flat field tables over all type ids, and the id of every named position."""

    kind: NDArray[np.int8]
    wire: NDArray[np.int8]
    child: NDArray[np.int32]
    ids: dict[tuple[str, ...], int] = field(default_factory=dict)

    @property
    def n_types(self) -> int:
        return int(self.kind.shape[0])

    def tid(self, *path: str) -> int:
        """Type id of the message at ``path`` (signal, then field names from the root)."""
        return self.ids[path]


def build_schema() -> Schema:
    rows: list[tuple[list[int], list[int], list[int]]] = [([0] * MAX_FIELD, [0] * MAX_FIELD, [0] * MAX_FIELD)]
    ids: dict[tuple[str, ...], int] = {}
    shared: dict[str, int] = {}

    def new(desc: Any, path: tuple[str, ...], memo: str | None) -> int:
        if memo is not None and memo in shared:
            tid = shared[memo]
            ids.setdefault(path, tid)
            return tid
        tid = len(rows)
        rows.append(([0] * MAX_FIELD, [0] * MAX_FIELD, [0] * MAX_FIELD))
        ids[path] = tid
        if memo is not None:
            shared[memo] = tid
        kinds, wires, children = rows[tid]
        for f in desc.fields:
            if f.number >= MAX_FIELD:
                continue
            if f.type == _TYPE_MESSAGE:
                full = f.message_type.full_name
                if full in _SHARED or full == _KVLIST:
                    child_memo: str | None = full
                elif full == _KEYVALUE and desc.full_name == _KVLIST:
                    child_memo = "nested KeyValue"
                else:
                    child_memo = None
                kinds[f.number] = K_MESSAGE
                wires[f.number] = 2
                children[f.number] = new(f.message_type, (*path, f.name), child_memo)
            elif f.type == _TYPE_STRING:
                kinds[f.number], wires[f.number] = K_STRING, 2
            elif f.type == _TYPE_BYTES:
                kinds[f.number], wires[f.number] = K_SCALAR, 2
            else:
                wire = _WIRE_OF_TYPE[f.type]
                kinds[f.number] = K_PACKED if f.is_repeated else K_SCALAR
                wires[f.number] = wire
        return tid

    for signal, desc in ROOTS.items():
        new(desc, (signal,), None)
    kind = np.array([r[0] for r in rows], dtype=np.int8)
    wire = np.array([r[1] for r in rows], dtype=np.int8)
    child = np.array([r[2] for r in rows], dtype=np.int32)
    return Schema(kind, wire, child, ids)


SCHEMA = build_schema()
