"""Synthetic, realistic span batches built column by column (benchmarks, tests, load).

Spans come from a few services, each with its own resource (``service.name``,
``service.version``, ``host.name``, ``telemetry.sdk.*``), carry HTTP server semantic-convention
attributes (``http.request.method``, ``http.route``, ``http.response.status_code``, ...),
log-normal durations and a share of errors. Everything is generated with numpy and assembled
as Arrow arrays directly: no Python object per span, so a million spans take well under a
second and the generator is never what a benchmark measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.model.schema import SpanKind, StatusCode, ValueType

_METHODS = ["GET", "POST", "PUT", "DELETE"]
_ROUTES = ["/api/users/{id}", "/api/orders", "/api/orders/{id}", "/health", "/api/cart", "/api/search"]
_STATUS = [200, 201, 204, 400, 404, 500, 503]


def _dict_array(indices: np.ndarray[Any, Any], values: list[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), pa.array(values, pa.string()))


def _attr_table(
    *,
    rows: np.ndarray[Any, Any],
    keys: list[str],
    key_idx: np.ndarray[Any, Any],
    vtype: np.ndarray[Any, Any],
    str_idx: np.ndarray[Any, Any],
    strings: list[str],
    ints: np.ndarray[Any, Any],
) -> pa.Table:
    is_str = vtype == ValueType.STRING
    is_int = vtype == ValueType.INT
    n = len(rows)
    str_col = pa.DictionaryArray.from_arrays(
        pa.array(str_idx.astype(np.int32), mask=~is_str), pa.array(strings, pa.string())
    )
    return pa.Table.from_arrays(
        [
            pa.array(rows.astype(np.int32)),
            _dict_array(key_idx, keys),
            pa.array(vtype.astype(np.int8)),
            str_col,
            pa.array(ints.astype(np.int64), mask=~is_int).dictionary_encode(),
            pa.nulls(n, S.ATTRIBUTES.field("double").type),
            pa.nulls(n, pa.bool_()),
            pa.nulls(n, pa.binary()),
        ],
        schema=S.ATTRIBUTES,
    )


def synthetic_spans(
    n: int,
    *,
    services: int = 5,
    attributes_per_span: int = 8,
    error_ratio: float = 0.02,
    start_ns: int = 1_700_000_000_000_000_000,
    spread_ns: int = 60_000_000_000,
    seed: int = 0,
) -> SpanBatch:
    """``n`` spans from ``services`` services, sorted by service (one scope per service).

    ``attributes_per_span`` (0..8) HTTP attributes each; ``error_ratio`` of spans have status
    ERROR and a 5xx status code; durations are log-normal around 20 ms.
    """
    if not 0 <= attributes_per_span <= 8:
        raise ValueError("attributes_per_span must be in 0..8")
    rng = np.random.default_rng(seed)
    svc = np.sort(rng.integers(0, services, n))
    names = [f"{m} {r}" for m in _METHODS for r in _ROUTES]
    method = rng.integers(0, len(_METHODS), n)
    route = rng.integers(0, len(_ROUTES), n)
    is_error = rng.random(n) < error_ratio
    status = np.where(is_error, rng.choice([500, 503], n), rng.choice([200, 200, 200, 201, 204, 404], n))
    start = start_ns + rng.integers(0, spread_ns, n).astype(np.uint64)
    duration = np.exp(rng.normal(np.log(20e6), 0.8, n)).astype(np.uint64)
    ids = rng.integers(0, 256, (n, 24), dtype=np.uint8)
    parent_mask = rng.random(n) < 0.3  # 30% root spans
    parents = rng.integers(0, 256, (n, 8), dtype=np.uint8)

    resources = pa.table(
        {
            "schema_url": pa.array(["https://opentelemetry.io/schemas/1.44.0"] * services),
            "dropped_attributes_count": pa.array(np.zeros(services, np.uint32)),
            "entity_refs": pa.nulls(services, S.RESOURCES.field("entity_refs").type),
        },
        schema=S.RESOURCES,
    )
    r_keys = ["service.name", "service.version", "host.name", "telemetry.sdk.language", "telemetry.sdk.name"]
    r_rows = np.repeat(np.arange(services), len(r_keys))
    r_key = np.tile(np.arange(len(r_keys)), services)
    r_strings = [f"service-{i}" for i in range(services)] + ["1.4.2", "python", "opentelemetry"]
    r_strings += [f"host-{i}" for i in range(services)]
    svc_base = 0
    ver, lang, sdk = services, services + 1, services + 2
    host_base = services + 3
    r_str = np.empty(len(r_rows), np.int64)
    for i in range(services):
        r_str[i * 5 : i * 5 + 5] = [svc_base + i, ver, host_base + i, lang, sdk]
    resource_attributes = _attr_table(
        rows=r_rows,
        keys=r_keys,
        key_idx=r_key,
        vtype=np.full(len(r_rows), ValueType.STRING),
        str_idx=r_str,
        strings=r_strings,
        ints=np.zeros(len(r_rows)),
    )
    scopes = pa.table(
        {
            "resource": pa.array(np.arange(services, dtype=np.int32)),
            "name": pa.array(["opentelemetry.instrumentation.flask"] * services),
            "version": pa.array(["0.48b0"] * services),
            "dropped_attributes_count": pa.array(np.zeros(services, np.uint32)),
            "schema_url": pa.array([""] * services),
        },
        schema=S.SCOPES,
    )
    name_idx = method * len(_ROUTES) + route
    spans = pa.Table.from_arrays(
        [
            pa.array(svc.astype(np.int32)),
            pa.FixedSizeBinaryArray.from_buffers(S.TRACE_ID, n, [None, pa.py_buffer(ids[:, :16].tobytes())]),
            pa.FixedSizeBinaryArray.from_buffers(S.SPAN_ID, n, [None, pa.py_buffer(ids[:, 16:].tobytes())]),
            pa.nulls(n, pa.string()),
            pa.FixedSizeBinaryArray.from_buffers(
                S.SPAN_ID, n, [pa.array(~parent_mask).buffers()[1], pa.py_buffer(parents.tobytes())]
            ),
            pa.array(np.full(n, 1, np.uint32)),
            _dict_array(name_idx, names),
            pa.array(np.full(n, SpanKind.SERVER, np.int8)),
            pa.array(start),
            pa.array(start + duration),
            pa.array(np.zeros(n, np.uint32)),
            pa.array(np.zeros(n, np.uint32)),
            pa.array(np.zeros(n, np.uint32)),
            pa.array(np.where(is_error, StatusCode.ERROR, StatusCode.UNSET).astype(np.int8)),
            pa.nulls(n, pa.string()),
        ],
        schema=S.SPANS,
    )
    # span attributes: a fixed layout of up to 8 keys per span
    keys = [
        "http.request.method",
        "http.route",
        "http.response.status_code",
        "url.scheme",
        "server.address",
        "server.port",
        "network.protocol.version",
        "user_agent.original",
    ]
    k = attributes_per_span
    rows = np.repeat(np.arange(n), k)
    key_idx = np.tile(np.arange(k), n)
    strings = [*_METHODS, *_ROUTES, "http", "api.example.com", "1.1", "Mozilla/5.0 (X11; Linux x86_64)"]
    route_base = len(_METHODS)
    const = {
        3: route_base + len(_ROUTES),
        4: route_base + len(_ROUTES) + 1,
        6: route_base + len(_ROUTES) + 2,
        7: route_base + len(_ROUTES) + 3,
    }
    str_idx = np.zeros((n, 8), np.int64)
    ints = np.zeros((n, 8), np.int64)
    vtype = np.full((n, 8), ValueType.STRING, np.int8)
    str_idx[:, 0] = method
    str_idx[:, 1] = route_base + route
    vtype[:, 2] = ValueType.INT
    ints[:, 2] = status
    for col, idx in const.items():
        str_idx[:, col] = idx
    vtype[:, 5] = ValueType.INT
    ints[:, 5] = 443
    span_attributes = _attr_table(
        rows=rows,
        keys=keys[:k],
        key_idx=key_idx,
        vtype=vtype[:, :k].ravel(),
        str_idx=str_idx[:, :k].ravel(),
        strings=strings,
        ints=ints[:, :k].ravel(),
    )
    return SpanBatch(
        {
            "resources": resources,
            "resource_attributes": resource_attributes,
            "scopes": scopes,
            "spans": spans,
            "span_attributes": span_attributes,
        },
        check=False,
    )
