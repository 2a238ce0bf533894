"""Queue, batcher, backpressure and statistics; the running service graph built from config."""

from knhk_telemetry.pipeline.pipeline import PipelineBuilder, PipelineSettings, TelemetryPipeline
from knhk_telemetry.pipeline.queue import Backpressure
from knhk_telemetry.pipeline.stats import StatsSnapshot

__all__ = ["Backpressure", "PipelineBuilder", "PipelineSettings", "StatsSnapshot", "TelemetryPipeline"]
