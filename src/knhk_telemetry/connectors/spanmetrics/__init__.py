"""The ``spanmetrics`` connector: RED metrics (calls, duration) from spans, as the Collector's."""

from knhk_telemetry.connectors.spanmetrics.config import Dimension, SpanMetricsConfig
from knhk_telemetry.connectors.spanmetrics.connector import SpanMetricsConnector
from knhk_telemetry.connectors.spanmetrics.factory import FACTORY

__all__ = ["FACTORY", "Dimension", "SpanMetricsConfig", "SpanMetricsConnector"]
