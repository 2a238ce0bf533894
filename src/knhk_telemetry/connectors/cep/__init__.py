"""The ``cep`` connector: complex-event rules on spans, alerts as log records."""

from knhk_telemetry.connectors.cep.config import CepConfig
from knhk_telemetry.connectors.cep.connector import CepConnector
from knhk_telemetry.connectors.cep.factory import FACTORY

__all__ = ["FACTORY", "CepConfig", "CepConnector"]
