"""Factory of the ``otlpjsonfile`` receiver: one shared instance per id, one consumer per signal.

The service calls the creator once per signal that its pipelines take from
``otlpjsonfile/<name>``. The first call makes the receiver; every call registers that
signal's ``next_consumer`` on it and returns the same instance, so one reader thread reads
each file once and routes each line by its signal (as the Collector's shared receivers do).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from knhk_telemetry.component import Component, CreateSettings, Factory
from knhk_telemetry.errors import ConfigError
from knhk_telemetry.receivers.otlpjsonfile.config import OtlpJsonFileConfig
from knhk_telemetry.receivers.otlpjsonfile.receiver import OtlpJsonFileReceiver

_instances: weakref.WeakValueDictionary[str, OtlpJsonFileReceiver] = weakref.WeakValueDictionary()
_instances_lock = threading.Lock()


def _create(settings: CreateSettings, config: Any) -> Component:
    assert isinstance(config, OtlpJsonFileConfig)
    if settings.next_consumer is None:
        raise ConfigError(f"receiver {settings.component_id} needs a next consumer for {settings.signal}")
    with _instances_lock:
        receiver = _instances.get(settings.component_id)
        if receiver is None or receiver.is_shut_down or receiver.config != config:
            receiver = OtlpJsonFileReceiver(settings.component_id, config)
            _instances[settings.component_id] = receiver
        receiver.register(settings.signal, settings.next_consumer)
        return receiver


FACTORY = Factory(
    type="otlpjsonfile",
    kind="receiver",
    config_class=OtlpJsonFileConfig,
    creators={"traces": _create, "metrics": _create, "logs": _create},
    shared=True,
)
