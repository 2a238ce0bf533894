"""Factory of the ``otlp`` receiver: one shared server per id, one consumer per signal.

The factory is ``shared``: the service creates the receiver for the first signal its pipelines
take from ``otlp/<name>`` and attaches every further signal to the same instance, so one gRPC
and one HTTP server serve all signals (as the Collector's otlpreceiver).
"""

from __future__ import annotations

from typing import Any

from knhk_telemetry.component import Component, CreateSettings, Factory
from knhk_telemetry.receivers.otlp.config import OtlpReceiverConfig
from knhk_telemetry.receivers.otlp.receiver import OtlpReceiver


def _create(settings: CreateSettings, config: Any) -> Component:
    if not isinstance(config, OtlpReceiverConfig):
        raise TypeError(f"otlp receiver config must be an OtlpReceiverConfig, got {type(config).__name__}")
    receiver = OtlpReceiver(settings.component_id, config)
    receiver.attach(settings)
    return receiver


FACTORY = Factory(
    type="otlp",
    kind="receiver",
    config_class=OtlpReceiverConfig,
    creators={"traces": _create, "metrics": _create, "logs": _create},
    shared=True,
)
