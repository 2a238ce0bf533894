"""Factory of the ``spanmetrics`` connector: traces in, metrics out."""

from __future__ import annotations

from knhk_telemetry.component import CreateSettings, Factory
from knhk_telemetry.connectors.spanmetrics.config import SpanMetricsConfig
from knhk_telemetry.connectors.spanmetrics.connector import SpanMetricsConnector
from knhk_telemetry.errors import ConfigError


def _create(settings: CreateSettings, config: SpanMetricsConfig) -> SpanMetricsConnector:
    if settings.next_consumer is None:
        raise ConfigError(
            "the spanmetrics connector needs a metrics pipeline to feed: list it as a receiver of one",
            path=f"connectors.{settings.component_id}",
        )
    return SpanMetricsConnector(settings.component_id, config, settings.next_consumer)


#: ``creators`` is keyed by the input signal; what it emits goes to ``next_consumer``
FACTORY = Factory(
    type="spanmetrics",
    kind="connector",
    config_class=SpanMetricsConfig,
    creators={"traces": _create},
    connects=(("traces", "metrics"),),
)
