"""Receivers: the components that bring telemetry into a pipeline.

Each receiver lives in its own module or component folder (``otlp``, ``otlpjsonfile/``,
``nats``, ...) with a config class, a module-level ``FACTORY`` and the component. A receiver
pushes decoded batches to the ``next_consumer`` its pipeline gave it; receivers that serve
several signals from one source are shared (``Factory(shared=True)``): one instance per id,
with one consumer registered per signal. This package module imports none of them.
"""
