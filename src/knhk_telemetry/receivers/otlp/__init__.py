"""The ``otlp`` receiver: OTLP/gRPC (``grpc.py``) and OTLP/HTTP (``http.py``) servers.

One shared instance per id serves every signal; ``receiver.py`` holds what both transports
share (decoding, the hand-off to the pipeline, partial success, error mapping, self-metrics).
"""

from knhk_telemetry.receivers.otlp.config import CorsConfig, GrpcConfig, HttpConfig, OtlpReceiverConfig, ProtocolsConfig
from knhk_telemetry.receivers.otlp.factory import FACTORY
from knhk_telemetry.receivers.otlp.receiver import ExportResult, OtlpReceiver, SignalNotServed

__all__ = [
    "FACTORY",
    "CorsConfig",
    "ExportResult",
    "GrpcConfig",
    "HttpConfig",
    "OtlpReceiver",
    "OtlpReceiverConfig",
    "ProtocolsConfig",
    "SignalNotServed",
]
