"""OTLP wire codecs: protobuf and OTLP/JSON <-> columnar batches.

``proto`` is the reference protobuf codec (the oracle faster decoders are tested against);
``json`` speaks OTLP/JSON through it. Decoders return ``Decoded[batch]``: the batch plus the
spans, log records and exemplars refused for malformed ids, counted by reason. Bytes or JSON
that do not parse raise :class:`knhk_telemetry.errors.DecodeError`.
"""

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
    decode,
    decode_logs,
    decode_metrics,
    decode_traces,
    encode,
    encode_logs,
    encode_metrics,
    encode_traces,
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
    "to_message",
    "traces_from_message",
    "traces_to_message",
]
