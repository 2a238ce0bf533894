"""Settings of the ``spanmetrics`` connector, with the Collector's key names and defaults.

Differences from the Collector's ``spanmetricsconnector``: the duration histogram is always
an exponential histogram (``histogram.exponential``; there is no ``explicit`` variant), and
exemplars, events and the resource-metrics caches are not implemented.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from knhk_telemetry.component import ComponentConfig
from knhk_telemetry.config import Duration
from knhk_telemetry.errors import ConfigError

SERVICE_NAME = "service.name"
SPAN_NAME = "span.name"
SPAN_KIND = "span.kind"
STATUS_CODE = "status.code"
#: the dimensions every series has unless excluded, in this order
DEFAULT_DIMENSIONS = (SERVICE_NAME, SPAN_NAME, SPAN_KIND, STATUS_CODE)

Temporality = Literal["AGGREGATION_TEMPORALITY_CUMULATIVE", "AGGREGATION_TEMPORALITY_DELTA"]
CUMULATIVE: Temporality = "AGGREGATION_TEMPORALITY_CUMULATIVE"
DELTA: Temporality = "AGGREGATION_TEMPORALITY_DELTA"
Unit = Literal["ms", "s"]


class Dimension(ComponentConfig):
    """An extra dimension: a span attribute, else a resource attribute, else ``default``."""

    name: str
    #: value when neither the span nor its resource has the attribute; None: leave the
    #: dimension out of that series (as the Collector does)
    default: str | None = None


class ExponentialHistogramConfig(ComponentConfig):
    #: buckets per series at most; more halves the scale (OpenTelemetry's ``max_size``)
    max_size: int = Field(default=160, ge=2)


class HistogramConfig(ComponentConfig):
    #: no duration histogram at all (calls only)
    disable: bool = False
    #: unit of the recorded durations (the Collector's default is still "ms")
    unit: Unit = "ms"
    exponential: ExponentialHistogramConfig = ExponentialHistogramConfig()


class SpanMetricsConfig(ComponentConfig):
    """As the Collector's ``spanmetrics`` connector (``connectors: spanmetrics:`` in YAML)."""

    #: prefix of the metric names: ``<namespace>.calls`` and ``<namespace>.duration``; "" for none
    namespace: str = "traces.span.metrics"
    #: attributes added to the default dimensions, looked up on the span, then its resource
    dimensions: tuple[Dimension, ...] = ()
    #: default dimensions to leave out (of service.name, span.name, span.kind, status.code)
    exclude_dimensions: tuple[str, ...] = ()
    aggregation_temporality: Temporality = CUMULATIVE
    #: seconds between emissions of the metrics (and once more at shutdown)
    metrics_flush_interval: Duration = Field(default=15.0, gt=0)
    #: series at most (per interval with delta temporality); spans of further dimension
    #: sets go to one overflow series whose only attribute is otel.metric.overflow=true;
    #: 0: no limit
    aggregation_cardinality_limit: int = Field(default=0, ge=0)
    histogram: HistogramConfig = HistogramConfig()

    def validate_config(self, path: str) -> None:
        for i, name in enumerate(self.exclude_dimensions):
            if name not in DEFAULT_DIMENSIONS:
                raise ConfigError(
                    f"{name!r} is not a default dimension (one of {', '.join(DEFAULT_DIMENSIONS)})",
                    path=f"{path}.exclude_dimensions[{i}]",
                )
        seen = set(DEFAULT_DIMENSIONS)
        for i, dim in enumerate(self.dimensions):
            if not dim.name:
                raise ConfigError("must not be empty", path=f"{path}.dimensions[{i}].name")
            if dim.name in seen:
                raise ConfigError(f"duplicate dimension name {dim.name!r}", path=f"{path}.dimensions[{i}].name")
            seen.add(dim.name)
