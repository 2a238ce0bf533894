"""The one error tree of knhk-telemetry.

Every error the package raises on purpose derives from :class:`KnhkTelemetryError`, so a
caller can catch them all at once; foreign exceptions (pyarrow, protobuf, yaml, OS errors)
are mapped at the boundary where they enter, with the original chained as ``__cause__``.

- :class:`ConfigError`: a configuration value is wrong; ``path`` names the YAML key path.
- :class:`DecodeError`: bytes or JSON that do not decode as OTLP; names the field.
- :class:`ValidationError`: a record breaks an OTLP rule (id length, end before start).
- :class:`BackpressureError`: the pipeline could not accept data in time.
- :class:`MemoryLimitError`: a ``BackpressureError`` because the process is over its memory limit.
- :class:`ExportError`: an exporter failed to deliver a batch.
- :class:`PipelineClosedError`: data offered after ``shutdown()``.
"""

from __future__ import annotations


class KnhkTelemetryError(Exception):
    """Base of every error raised by knhk-telemetry."""


class ConfigError(KnhkTelemetryError):
    """A configuration problem, located by its YAML key path (``exporters.file.path``)."""

    def __init__(self, message: str, *, path: str = "", source: str | None = None) -> None:
        self.path = path
        self.source = source
        where = f"{source}: " if source else ""
        at = f"{path}: " if path else ""
        super().__init__(f"{where}{at}{message}")
        self.message = message


class DecodeError(KnhkTelemetryError):
    """Input that does not decode as OTLP (protobuf or JSON)."""


class ValidationError(KnhkTelemetryError):
    """A record that breaks an OTLP rule; ``reason`` is the counted reason id."""

    def __init__(self, message: str, *, reason: str) -> None:
        self.reason = reason
        super().__init__(message)


class BackpressureError(KnhkTelemetryError):
    """The pipeline's queue stayed full for longer than the producer was willing to wait."""


class MemoryLimitError(BackpressureError):
    """The process is over its configured memory limit; data is refused until it drops.

    Receivers map it to gRPC ``RESOURCE_EXHAUSTED`` (plain backpressure is ``UNAVAILABLE``)."""


class PipelineClosedError(KnhkTelemetryError):
    """Data was offered to a pipeline that has been shut down."""


class ExportError(KnhkTelemetryError):
    """An exporter failed to deliver a batch."""


__all__ = [
    "BackpressureError",
    "ConfigError",
    "DecodeError",
    "ExportError",
    "KnhkTelemetryError",
    "MemoryLimitError",
    "PipelineClosedError",
    "ValidationError",
]
