"""Settings of the ``cep`` connector: the rules (inline or from a file) and the engine's clock."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from knhk_telemetry.component import ComponentConfig
from knhk_telemetry.config import Duration
from knhk_telemetry.errors import ConfigError
from knhk_telemetry.stream.cep.config import load_rules_file, parse_rules


class CepConfig(ComponentConfig):
    """Rules use the schema of ``knhk_telemetry.stream.cep.config`` (documented in docs/stream.md)."""

    #: rules written in the config itself
    rules: tuple[dict[str, Any], ...] = ()
    #: a YAML file of rules (a list, or a mapping with ``rules:``), loaded after the inline ones
    rules_file: str | None = None
    #: how late a span may arrive and still count (the watermark trails the newest event time)
    out_of_orderness: Duration = 0.0
    #: which span time is the event time
    event_time: Literal["end", "start"] = "end"
    #: after this long without spans, time moves on by the clock (absence rules fire); 0 = never
    idle_timeout: Duration = 0.0
    #: how often the clock is consulted for processing-time timers
    tick_interval: Duration = Field(default=1.0, gt=0)
    #: alerts kept for the alert history
    history_size: int = Field(default=1000, ge=1)

    def validate_config(self, path: str) -> None:
        if not self.rules and not self.rules_file:
            raise ConfigError("needs `rules` or a `rules_file`", path=path)
        # parse now, so a bad rule is a config error with its key path, not a runtime failure
        parse_rules(list(self.rules), path=f"{path}.rules", log_sink=lambda batch: None)
        if self.rules_file:
            load_rules_file(self.rules_file, log_sink=lambda batch: None)
