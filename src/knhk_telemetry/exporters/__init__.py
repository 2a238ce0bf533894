"""Exporters: the components that end a pipeline path.

Each exporter lives in its own module or component folder (``nop``, ``debug``,
``parquet/``, ``file/``, ...) with a config class, a module-level ``FACTORY`` and the
component. This package module imports none of them, so importing one exporter does not
pull in the dependencies of the others.
"""
