"""Factory of the ``cep`` connector: traces in, alert log records out."""

from __future__ import annotations

from knhk_telemetry.component import Factory
from knhk_telemetry.connectors.cep.config import CepConfig
from knhk_telemetry.connectors.cep.connector import create

FACTORY = Factory(
    type="cep",
    kind="connector",
    config_class=CepConfig,
    creators={"traces": create},
    connects=(("traces", "logs"),),
)
