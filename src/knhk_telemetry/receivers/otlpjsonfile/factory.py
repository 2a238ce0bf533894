"""Factory of the ``otlpjsonfile`` receiver: one shared instance per id, one consumer per signal.

The factory is ``shared``: the service creates the receiver for the first signal its pipelines
take from ``otlpjsonfile/<name>`` and attaches every further signal to the same instance, so
one reader thread reads each file once and routes each line by its signal.
"""

from __future__ import annotations

from typing import Any

from knhk_telemetry.component import Component, CreateSettings, Factory
from knhk_telemetry.receivers.otlpjsonfile.config import OtlpJsonFileConfig
from knhk_telemetry.receivers.otlpjsonfile.receiver import OtlpJsonFileReceiver


def _create(settings: CreateSettings, config: Any) -> Component:
    assert isinstance(config, OtlpJsonFileConfig)
    receiver = OtlpJsonFileReceiver(settings.component_id, config)
    receiver.attach(settings)
    return receiver


FACTORY = Factory(
    type="otlpjsonfile",
    kind="receiver",
    config_class=OtlpJsonFileConfig,
    creators={"traces": _create, "metrics": _create, "logs": _create},
    shared=True,
)
