"""OTLP wire codecs: protobuf and OTLP/JSON <-> columnar batches.

``decode*``/``encode*`` here dispatch (``codec``): the compiled numba codecs (``fast``,
``fastenc``) once warmed up, the reference ``proto`` codec until then; both give identical
results. ``proto`` is the reference, the oracle the compiled codecs are tested against;
``json`` speaks OTLP/JSON through it. Decoders return ``Decoded[batch]``: the batch plus the
spans, log records and exemplars refused for malformed ids, counted by reason. Bytes or JSON
that do not parse raise :class:`knhk_telemetry.errors.DecodeError`.
"""

from knhk_telemetry.otlp.codec import (
    WarmupReport,
    decode,
    decode_logs,
    decode_metrics,
    decode_traces,
    encode,
    encode_logs,
    encode_metrics,
    encode_traces,
    set_mode,
    warmup,
    warmup_in_background,
)
from knhk_telemetry.otlp.json import (
    decode_json,
    decode_logs_json,
    decode_metrics_json,
    decode_traces_json,
    encode_json,
    encode_logs_json,
    encode_metrics_json,
    encode_traces_json,
    message_from_json,
    message_to_json,
)
from knhk_telemetry.otlp.proto import (
    REQUEST_TYPES,
    Signal,
    from_message,
    logs_from_message,
    logs_to_message,
    metrics_from_message,
    metrics_to_message,
    to_message,
    traces_from_message,
    traces_to_message,
)

__all__ = [
    "REQUEST_TYPES",
    "Signal",
    "WarmupReport",
    "decode",
    "decode_json",
    "decode_logs",
    "decode_logs_json",
    "decode_metrics",
    "decode_metrics_json",
    "decode_traces",
    "decode_traces_json",
    "encode",
    "encode_json",
    "encode_logs",
    "encode_logs_json",
    "encode_metrics",
    "encode_metrics_json",
    "encode_traces",
    "encode_traces_json",
    "from_message",
    "logs_from_message",
    "logs_to_message",
    "message_from_json",
    "message_to_json",
    "metrics_from_message",
    "metrics_to_message",
    "set_mode",
    "to_message",
    "traces_from_message",
    "traces_to_message",
    "warmup",
    "warmup_in_background",
]
