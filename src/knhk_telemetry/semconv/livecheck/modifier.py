"""Level overrides and filters of findings, as Weaver's ``finding_level_overrides`` / ``finding_filters``.

Semantics (Weaver's ``FindingModifier``):

- an **override** changes the level of the findings it matches: ``ids`` (none = every id), scoped
  by ``signal_type`` (the *parent* signal: ``span``, ``metric``, ``log``, ``resource``) and
  ``sample_names`` (glob patterns over the sample name: attribute key for attribute findings,
  span / metric / event name for signal findings). The first matching override wins.
- a **filter** drops findings: by id (``exclude``), below a level (``min_level``), or for sample
  names (``exclude_samples``, globs), scoped by ``signal_type`` and ``sample_names`` like overrides.
- overrides apply before filters, so ``min_level`` sees the overridden level.

From YAML::

    finding_level_overrides:
      - ids: [undefined_enum_variant]
        level: violation
    finding_filters:
      - exclude: [not_stable]
        signal_type: span
        sample_names: ["http.*"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, cast

import yaml

from knhk_telemetry.errors import ConfigError
from knhk_telemetry.semconv.livecheck.findings import LEVELS, Finding, Level, level_rank

__all__ = ["FindingFilter", "FindingModifier", "LevelOverride"]

_SIGNAL_TYPES = ("span", "metric", "log", "resource", "profile")


def _globs(patterns: Sequence[str], name: str | None) -> bool:
    return name is not None and any(fnmatchcase(name, p) for p in patterns)


def _in_scope(signal_type: str | None, sample_names: Sequence[str], f: Finding) -> bool:
    if signal_type is not None and f.signal_type != signal_type:
        return False
    return not sample_names or _globs(sample_names, f.sample_name)


@dataclass(frozen=True, slots=True)
class LevelOverride:
    """Set ``level`` on the findings of ``ids`` (None: every id) in scope."""

    level: Level
    ids: tuple[str, ...] | None = None
    signal_type: str | None = None
    sample_names: tuple[str, ...] = ()

    def matches(self, f: Finding) -> bool:
        return _in_scope(self.signal_type, self.sample_names, f) and (self.ids is None or f.id in self.ids)


@dataclass(frozen=True, slots=True)
class FindingFilter:
    """Drop findings in scope that have an id in ``exclude``, a level below ``min_level`` or a
    sample name matching ``exclude_samples``."""

    exclude: tuple[str, ...] = ()
    min_level: Level | None = None
    exclude_samples: tuple[str, ...] = ()
    signal_type: str | None = None
    sample_names: tuple[str, ...] = ()

    def drops(self, f: Finding) -> bool:
        if not _in_scope(self.signal_type, self.sample_names, f):
            return False
        if f.id in self.exclude:
            return True
        if self.min_level is not None and level_rank(f.level) < level_rank(self.min_level):
            return True
        return bool(self.exclude_samples) and _globs(self.exclude_samples, f.sample_name)


class FindingModifier:
    """Applies overrides then filters to a finding (``None``: the finding is dropped)."""

    def __init__(self, overrides: Sequence[LevelOverride] = (), filters: Sequence[FindingFilter] = ()) -> None:
        self.overrides = tuple(overrides)
        self.filters = tuple(filters)
        #: whether a rule looks at sample names (then signal findings are resolved per name)
        self.sample_scoped = any(o.sample_names for o in self.overrides) or any(
            f.sample_names or f.exclude_samples for f in self.filters
        )

    def __bool__(self) -> bool:
        return bool(self.overrides or self.filters)

    def apply(self, f: Finding) -> Finding | None:
        for rule in self.overrides:
            if rule.matches(f):
                if rule.level != f.level:
                    f = dataclasses.replace(f, level=rule.level)
                break
        for flt in self.filters:
            if flt.drops(f):
                return None
        return f

    # -- construction from config -------------------------------------------------------------
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, *, path: str = "") -> FindingModifier:
        """From ``{finding_level_overrides: [...], finding_filters: [...]}`` (also accepted:
        ``overrides`` / ``filters``); errors name the offending key."""
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(f"must be a mapping, got {type(data).__name__}", path=path)
        known = {"finding_level_overrides", "overrides", "finding_filters", "filters"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown}; expected {sorted(known)}", path=path)
        raw_o = data.get("finding_level_overrides", data.get("overrides")) or []
        raw_f = data.get("finding_filters", data.get("filters")) or []
        o_key = "finding_level_overrides" if "finding_level_overrides" in data else "overrides"
        f_key = "finding_filters" if "finding_filters" in data else "filters"
        overrides = [override_from(r, _join(path, f"{o_key}[{i}]")) for i, r in enumerate(_list(raw_o, path, o_key))]
        filters = [filter_from(r, _join(path, f"{f_key}[{i}]")) for i, r in enumerate(_list(raw_f, path, f_key))]
        return cls(overrides, filters)

    @classmethod
    def from_yaml(cls, source: str | Path) -> FindingModifier:
        """From a YAML file (a ``Path``) or YAML text."""
        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", source=str(source) if isinstance(source, Path) else None) from exc
        return cls.from_mapping(data)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _list(value: Any, path: str, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"must be a list, got {type(value).__name__}", path=_join(path, key))
    return value


def _strings(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("must be a list of strings", path=path)
    return tuple(value)


def _level(value: Any, path: str) -> Level:
    if value not in LEVELS:
        raise ConfigError(f"must be one of {list(LEVELS)}, got {value!r}", path=path)
    return cast("Level", value)


def _signal_type(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if value not in _SIGNAL_TYPES:
        raise ConfigError(f"must be one of {list(_SIGNAL_TYPES)}, got {value!r}", path=path)
    return str(value)


def _check_keys(raw: Any, allowed: set[str], path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"must be a mapping, got {type(raw).__name__}", path=path)
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown}; expected {sorted(allowed)}", path=path)
    return raw


def override_from(raw: Any, path: str) -> LevelOverride:
    """A :class:`LevelOverride` from its YAML mapping."""
    m = _check_keys(raw, {"level", "ids", "signal_type", "sample_names"}, path)
    if "level" not in m:
        raise ConfigError("is required", path=f"{path}.level")
    ids = _strings(m["ids"], f"{path}.ids") if m.get("ids") is not None else None
    return LevelOverride(
        level=_level(m["level"], f"{path}.level"),
        ids=ids,
        signal_type=_signal_type(m.get("signal_type"), f"{path}.signal_type"),
        sample_names=_strings(m.get("sample_names"), f"{path}.sample_names"),
    )


def filter_from(raw: Any, path: str) -> FindingFilter:
    """A :class:`FindingFilter` from its YAML mapping."""
    m = _check_keys(raw, {"exclude", "min_level", "exclude_samples", "signal_type", "sample_names"}, path)
    min_level = m.get("min_level")
    return FindingFilter(
        exclude=_strings(m.get("exclude"), f"{path}.exclude"),
        min_level=None if min_level is None else _level(min_level, f"{path}.min_level"),
        exclude_samples=_strings(m.get("exclude_samples"), f"{path}.exclude_samples"),
        signal_type=_signal_type(m.get("signal_type"), f"{path}.signal_type"),
        sample_names=_strings(m.get("sample_names"), f"{path}.sample_names"),
    )
