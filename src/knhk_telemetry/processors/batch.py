"""The ``batch`` processor: the batcher knobs of the pipeline it is listed in.

Every pipeline already batches (queue -> batcher is built in), so this processor holds no
logic of its own: its config overrides ``service.pipeline`` batching for that pipeline, with
the Collector's key names, so a Collector config carries over. Its position in the
processor list does not matter: batching always happens before the processors run.
"""

from __future__ import annotations

from pydantic import Field

from knhk_telemetry.component import Component, ComponentConfig, CreateSettings, Factory
from knhk_telemetry.config import Duration
from knhk_telemetry.errors import ConfigError
from knhk_telemetry.model.batch import Batch


class BatchConfig(ComponentConfig):
    """As the Collector's batchprocessor."""

    send_batch_size: int = Field(default=8192, ge=1)  # items that trigger sending a batch
    send_batch_max_size: int = Field(default=0, ge=0)  # items per batch at most; 0 = no limit
    timeout: Duration = Field(default=0.2, gt=0)  # seconds a partial batch waits at most

    def validate_config(self, path: str) -> None:
        if self.send_batch_max_size and self.send_batch_max_size < self.send_batch_size:
            raise ConfigError(
                f"must be 0 (no limit) or >= send_batch_size ({self.send_batch_size}), got {self.send_batch_max_size}",
                path=f"{path}.send_batch_max_size",
            )


class BatchProcessor(Component):
    """Passes batches through; the pipeline reads its config."""

    def __init__(self, component_id: str, config: BatchConfig) -> None:
        super().__init__(component_id)
        self.config = config

    def process(self, batch: Batch) -> Batch:
        return batch


def _create(settings: CreateSettings, config: BatchConfig) -> BatchProcessor:
    return BatchProcessor(settings.component_id, config)


FACTORY = Factory(
    type="batch",
    kind="processor",
    config_class=BatchConfig,
    creators={"traces": _create, "metrics": _create, "logs": _create},
)
