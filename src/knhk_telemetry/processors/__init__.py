"""Processors: thin adapters that put the domain packages into a pipeline."""
