"""Semantic-convention registries in OTel Weaver's formats: model, loading, resolution, checks.

``load_registry(["semconv", "path/to/team-registry"])`` loads the OpenTelemetry registry shipped
with this package and layers a team's registry on top of it; see :mod:`.loader` and :mod:`.model`.
"""

from knhk_telemetry.semconv.loader import BUILTIN_REGISTRIES, LoadResult, load_registry
from knhk_telemetry.semconv.model import (
    Attribute,
    AttributeRef,
    Deprecation,
    EnumMember,
    EnumType,
    Group,
    Problem,
    Registry,
    RequirementLevel,
    SourceLocation,
)

__all__ = [
    "BUILTIN_REGISTRIES",
    "Attribute",
    "AttributeRef",
    "Deprecation",
    "EnumMember",
    "EnumType",
    "Group",
    "LoadResult",
    "Problem",
    "Registry",
    "RequirementLevel",
    "SourceLocation",
    "load_registry",
]
