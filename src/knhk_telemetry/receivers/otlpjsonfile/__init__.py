"""The ``otlpjsonfile`` receiver: tails files of OTLP/JSON lines (plain, gzip or zstd)."""

from knhk_telemetry.receivers.otlpjsonfile.config import OtlpJsonFileConfig
from knhk_telemetry.receivers.otlpjsonfile.factory import FACTORY
from knhk_telemetry.receivers.otlpjsonfile.receiver import OtlpJsonFileReceiver

__all__ = ["FACTORY", "OtlpJsonFileConfig", "OtlpJsonFileReceiver"]
