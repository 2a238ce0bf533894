"""Factory of the ``otlp`` receiver: one shared server per id, one consumer per signal.

The service calls the creator once per signal its pipelines take from ``otlp/<name>``; the
first call makes the receiver and every call registers that signal's ``next_consumer`` on
it, so one gRPC and one HTTP server serve all signals (as the Collector's otlpreceiver).
A receiver that has started, was shut down, has another config, or already has a consumer
for the signal is not reused: a second service in the same process gets its own servers.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from knhk_telemetry.component import Component, CreateSettings, Factory
from knhk_telemetry.errors import ConfigError
from knhk_telemetry.receivers.otlp.config import OtlpReceiverConfig
from knhk_telemetry.receivers.otlp.receiver import OtlpReceiver

_instances: weakref.WeakValueDictionary[str, OtlpReceiver] = weakref.WeakValueDictionary()
_instances_lock = threading.Lock()


def _create(settings: CreateSettings, config: Any) -> Component:
    if not isinstance(config, OtlpReceiverConfig):
        raise TypeError(f"otlp receiver config must be an OtlpReceiverConfig, got {type(config).__name__}")
    if settings.next_consumer is None:
        raise ConfigError(f"receiver {settings.component_id} needs a next consumer for {settings.signal}")
    with _instances_lock:
        receiver = _instances.get(settings.component_id)
        if (
            receiver is None
            or receiver.is_started
            or receiver.is_shut_down
            or receiver.config != config
            or receiver.serves(settings.signal)
        ):
            receiver = OtlpReceiver(settings.component_id, config)
            _instances[settings.component_id] = receiver
        receiver.register(settings.signal, settings.next_consumer)
        return receiver


FACTORY = Factory(
    type="otlp",
    kind="receiver",
    config_class=OtlpReceiverConfig,
    creators={"traces": _create, "metrics": _create, "logs": _create},
    shared=True,
)
