"""Connectors: components that consume one signal and emit another through
``CreateSettings.next_consumer`` (e.g. ``spanmetrics``: spans in, RED metrics out).

A connector is listed as an exporter of the pipelines it consumes and as a receiver of the
pipelines it feeds; its factory's ``creators`` are keyed by the input signal.
"""
