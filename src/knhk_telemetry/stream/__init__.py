"""Stream processing: event-time windows over spans, logs and metrics, mergeable quantile sketches, aggregates.

Usable alone from Python and from the offline ``knhk-telemetry windows`` command; the pipeline
adapters live in ``processors/`` and ``connectors/``.
"""

from knhk_telemetry.stream.aggregates import Aggregates, Custom
from knhk_telemetry.stream.keys import DEFAULT_GROUP_BY, DEFAULT_LOG_GROUP_BY, DEFAULT_METRIC_GROUP_BY
from knhk_telemetry.stream.processor import OVERFLOW_KEY, StreamProcessor, WindowConfig
from knhk_telemetry.stream.signals import SignalName
from knhk_telemetry.stream.sketch import LogSketch, relative_error_bound
from knhk_telemetry.stream.windows import Session, Sliding, Tumbling, WindowSpec, parse_window

__all__ = [
    "DEFAULT_GROUP_BY",
    "DEFAULT_LOG_GROUP_BY",
    "DEFAULT_METRIC_GROUP_BY",
    "OVERFLOW_KEY",
    "Aggregates",
    "Custom",
    "LogSketch",
    "Session",
    "SignalName",
    "Sliding",
    "StreamProcessor",
    "Tumbling",
    "WindowConfig",
    "WindowSpec",
    "parse_window",
    "relative_error_bound",
]
