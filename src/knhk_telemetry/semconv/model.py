"""The resolved semantic-convention registry model.

A registry on disk is a tree of YAML files in Weaver's formats (``groups:`` v1 files and
``file_format: definition/2`` files). :mod:`knhk_telemetry.semconv.loader` reads and resolves it
into the frozen objects of this module: every ``ref`` is replaced by the attribute it names, every
``extends``/``ref_group`` is flattened into the group that uses it, so a checker never has to follow a
reference. Look-ups are plain dict accesses because a live checker calls them once per *distinct*
attribute key / metric name / event name in a batch, not per record.

The API is additive-only: other modules build on these names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from knhk_telemetry.model.schema import ValueType

__all__ = [
    "ARRAY_TYPES",
    "GROUP_TYPES",
    "INSTRUMENTS",
    "PRIMITIVE_TYPES",
    "REQUIREMENT_LEVELS",
    "SPAN_KINDS",
    "STABILITY_LEVELS",
    "Attribute",
    "AttributeRef",
    "AttributeType",
    "Deprecation",
    "DeprecationReason",
    "EnumMember",
    "EnumType",
    "Group",
    "GroupType",
    "Problem",
    "ProblemLevel",
    "Registry",
    "RequirementLevel",
    "RequirementLevelKind",
    "SourceLocation",
    "element_type",
    "is_array_type",
    "is_template_type",
    "template_inner_type",
    "type_value_kind",
]

#: Scalar attribute types of the semconv model.
PRIMITIVE_TYPES: frozenset[str] = frozenset({"string", "int", "double", "boolean", "any"})
#: Array attribute types of the semconv model.
ARRAY_TYPES: frozenset[str] = frozenset({"string[]", "int[]", "double[]", "boolean[]"})
#: Group types after normalisation (``resource`` is loaded as ``entity``).
GROUP_TYPES: frozenset[str] = frozenset(
    {"attribute_group", "span", "event", "metric", "metric_group", "entity", "scope", "undefined"}
)
#: Metric instruments of the semconv model.
INSTRUMENTS: frozenset[str] = frozenset({"counter", "updowncounter", "gauge", "histogram"})
#: Span kinds as written in the model (lower case).
SPAN_KINDS: frozenset[str] = frozenset({"client", "server", "producer", "consumer", "internal"})
#: Stability levels Weaver accepts (``experimental`` is the legacy spelling of ``development``).
STABILITY_LEVELS: frozenset[str] = frozenset(
    {"stable", "development", "experimental", "deprecated", "release_candidate", "alpha", "beta"}
)
#: Requirement levels of the semconv model.
REQUIREMENT_LEVELS: frozenset[str] = frozenset({"required", "recommended", "opt_in", "conditionally_required"})

GroupType = Literal["attribute_group", "span", "event", "metric", "metric_group", "entity", "scope", "undefined"]
RequirementLevelKind = Literal["required", "recommended", "opt_in", "conditionally_required"]
DeprecationReason = Literal["renamed", "obsoleted", "uncategorized"]
ProblemLevel = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a definition was written: the file (as given to the loader) and its 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Deprecation:
    """Why an attribute, group or enum member is deprecated.

    The legacy form (``deprecated: "Replaced by `x`."``) is normalised to ``uncategorized`` with the
    string as ``note``.
    """

    reason: DeprecationReason
    renamed_to: str | None = None
    note: str = ""
    #: True when written in the legacy plain-string form (Weaver warns about it).
    legacy: bool = False


@dataclass(frozen=True, slots=True)
class EnumMember:
    """One member of an enum type; ``value`` is a str, int, float or bool as written in YAML."""

    id: str
    value: str | int | float | bool
    brief: str = ""
    note: str = ""
    stability: str | None = None
    deprecated: Deprecation | None = None


@dataclass(frozen=True, slots=True)
class EnumType:
    """An enum attribute type. Semconv enums are always open: other values are allowed."""

    members: tuple[EnumMember, ...]

    @property
    def value_type(self) -> str:
        """``string``, ``int``, ``double`` or ``boolean``: the primitive type the member values share."""
        vals = [m.value for m in self.members]
        if vals and all(isinstance(v, bool) for v in vals):
            return "boolean"
        if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            return "int"
        if vals and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            return "double"
        return "string"

    @property
    def values(self) -> frozenset[str | int | float | bool]:
        """The set of member values (for membership tests)."""
        return frozenset(m.value for m in self.members)


#: An attribute type: one of :data:`PRIMITIVE_TYPES`, :data:`ARRAY_TYPES`, ``template[<primitive or
#: array>]``, or an :class:`EnumType`.
AttributeType = str | EnumType


def is_template_type(t: AttributeType) -> bool:
    """True for ``template[...]`` types."""
    return isinstance(t, str) and t.startswith("template[") and t.endswith("]")


def template_inner_type(t: AttributeType) -> AttributeType:
    """The value type of a template type (``template[string[]]`` -> ``string[]``); other types unchanged."""
    if is_template_type(t):
        assert isinstance(t, str)
        return t[len("template[") : -1]
    return t


def is_array_type(t: AttributeType) -> bool:
    """True for ``x[]`` types (also inside a template)."""
    inner = template_inner_type(t)
    return isinstance(inner, str) and inner.endswith("[]")


def element_type(t: AttributeType) -> str | None:
    """Element type of an array type (``int[]`` -> ``int``), else None."""
    inner = template_inner_type(t)
    if isinstance(inner, str) and inner.endswith("[]"):
        return inner[:-2]
    return None


_PRIMITIVE_KIND: dict[str, ValueType] = {
    "string": ValueType.STRING,
    "int": ValueType.INT,
    "double": ValueType.DOUBLE,
    "boolean": ValueType.BOOL,
}


def type_value_kind(t: AttributeType) -> ValueType | None:
    """The OTLP AnyValue kind a value of type ``t`` has; None for ``any`` (every kind matches).

    Arrays map to :attr:`ValueType.ARRAY` (see :func:`element_type` for the element kind); enums map
    to the kind of their member values; templates to the kind of their inner type.
    """
    inner = template_inner_type(t)
    if isinstance(inner, EnumType):
        return _PRIMITIVE_KIND[inner.value_type]
    if inner.endswith("[]"):
        return ValueType.ARRAY
    return _PRIMITIVE_KIND.get(inner)


@dataclass(frozen=True, slots=True)
class RequirementLevel:
    """A requirement level; ``condition`` holds the text of ``conditionally_required``/``recommended``."""

    level: RequirementLevelKind = "recommended"
    condition: str | None = None


@dataclass(frozen=True, slots=True)
class Attribute:
    """An attribute as defined in the registry (``id``/``key`` definitions, not uses)."""

    key: str
    type: AttributeType
    brief: str = ""
    note: str = ""
    examples: tuple[object, ...] = ()
    stability: str | None = None
    deprecated: Deprecation | None = None
    requirement_level: RequirementLevel = RequirementLevel()
    source: SourceLocation | None = None
    #: The group the definition appeared in (v1) or None (v2 top-level ``attributes:``).
    group_id: str | None = None
    #: ``identifying``/``descriptive`` for entity attributes, else None.
    role: str | None = None

    @property
    def is_template(self) -> bool:
        """True for ``template[...]`` attributes (matched by key prefix)."""
        return is_template_type(self.type)

    @property
    def is_enum(self) -> bool:
        """True when the type is an :class:`EnumType`."""
        return isinstance(self.type, EnumType)

    @property
    def enum_values(self) -> frozenset[str | int | float | bool]:
        """Member values of an enum type (empty for other types)."""
        return self.type.values if isinstance(self.type, EnumType) else frozenset()

    @property
    def value_kind(self) -> ValueType | None:
        """OTLP AnyValue kind of a value of this attribute; None means any kind (type ``any``)."""
        return type_value_kind(self.type)

    @property
    def element_kind(self) -> ValueType | None:
        """For array types, the AnyValue kind of the elements; else None."""
        el = element_type(self.type)
        return _PRIMITIVE_KIND.get(el) if el is not None else None

    @property
    def is_deprecated(self) -> bool:
        """True when ``deprecated`` is set."""
        return self.deprecated is not None


@dataclass(frozen=True, slots=True)
class AttributeRef:
    """An attribute as used in a group: the definition plus the group's refinements.

    The override fields are None when the group did not override them; the ``effective_*``
    properties give the value a checker should use.
    """

    key: str
    attribute: Attribute
    requirement_level: RequirementLevel = RequirementLevel()
    brief: str | None = None
    note: str | None = None
    examples: tuple[object, ...] | None = None
    stability: str | None = None
    deprecated: Deprecation | None = None
    role: str | None = None
    sampling_relevant: bool = False
    source: SourceLocation | None = None

    @property
    def effective_brief(self) -> str:
        """The group's brief for the attribute, else the definition's."""
        return self.brief if self.brief is not None else self.attribute.brief

    @property
    def effective_stability(self) -> str | None:
        """The group's stability for the attribute, else the definition's."""
        return self.stability if self.stability is not None else self.attribute.stability

    @property
    def effective_deprecated(self) -> Deprecation | None:
        """The group's deprecation for the attribute, else the definition's."""
        return self.deprecated if self.deprecated is not None else self.attribute.deprecated

    @property
    def effective_role(self) -> str | None:
        """The entity role (identifying/descriptive), from the group or the definition."""
        return self.role if self.role is not None else self.attribute.role


@dataclass(frozen=True, slots=True)
class Group:
    """A resolved group: ``attributes`` already includes what ``extends``/``ref_group`` brought in.

    Signal-specific fields are None when they do not apply to ``type``: ``metric_name``,
    ``instrument`` and ``unit`` for metrics; ``event_name`` for events; ``span_kind`` and ``span_name``
    for spans; ``entity_type`` (the ``name`` of an entity group) for entities.
    """

    id: str
    type: GroupType
    brief: str = ""
    note: str = ""
    stability: str | None = None
    deprecated: Deprecation | None = None
    attributes: tuple[AttributeRef, ...] = ()
    extends: str | None = None
    span_kind: str | None = None
    #: The span name rule (v2 ``name: {note: ...}`` or a literal name), when given.
    span_name: str | None = None
    event_name: str | None = None
    metric_name: str | None = None
    instrument: str | None = None
    unit: str | None = None
    entity_type: str | None = None
    #: Entity types (entity group names) the signal is associated with.
    entity_associations: tuple[str, ...] = ()
    #: ``code_generation.metric_value_type`` annotation (int/double) when given.
    metric_value_type: str | None = None
    visibility: str | None = None
    source: SourceLocation | None = None
    #: Signal requirement level (v2 ``requirement_level`` of a span/metric/event/entity), if given.
    requirement_level: str | None = None
    #: True for v2 refinements (``*_refinements``): they extend a base signal and are not
    #: registered under the base's metric/event name.
    is_refinement: bool = False
    #: Event names a v1 span group lists under ``events``.
    span_events: tuple[str, ...] = ()
    display_name: str | None = None

    def attribute_ref(self, key: str) -> AttributeRef | None:
        """The group's use of attribute ``key``, or None."""
        for ref in self.attributes:
            if ref.key == key:
                return ref
        return None

    @property
    def attribute_keys(self) -> tuple[str, ...]:
        """Keys of the group's attributes, in definition order."""
        return tuple(r.key for r in self.attributes)

    def attributes_by_level(self, level: RequirementLevelKind) -> tuple[AttributeRef, ...]:
        """The attribute uses with requirement level ``level``."""
        return tuple(r for r in self.attributes if r.requirement_level.level == level)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong found while loading a registry.

    ``code`` is a stable identifier (e.g. ``unresolved_ref``, ``duplicate_id``, ``invalid_yaml``);
    ``value`` the offending value as written.
    """

    level: ProblemLevel
    code: str
    message: str
    file: str
    line: int
    value: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.level}: {self.message}"

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {
            "file": self.file,
            "line": self.line,
            "level": self.level,
            "code": self.code,
            "message": self.message,
            "value": self.value,
        }


@dataclass(frozen=True, eq=False)
class Registry:
    """A resolved registry (possibly several layered ones): fast look-ups by key, id and name."""

    attributes: Mapping[str, Attribute] = field(default_factory=lambda: MappingProxyType({}))
    #: Template attributes, longest key first (prefix matching tries the most specific first).
    templates: tuple[Attribute, ...] = ()
    groups: Mapping[str, Group] = field(default_factory=lambda: MappingProxyType({}))
    #: Metric groups by metric name.
    metrics: Mapping[str, Group] = field(default_factory=lambda: MappingProxyType({}))
    #: Event groups by event name.
    events: Mapping[str, Group] = field(default_factory=lambda: MappingProxyType({}))
    #: Entity groups by entity type (the group's ``name``).
    entities: Mapping[str, Group] = field(default_factory=lambda: MappingProxyType({}))
    #: Every dotted prefix of every attribute key (``http``, ``http.request`` for
    #: ``http.request.method``): the namespaces the registry defines.
    namespaces: frozenset[str] = frozenset()
    name: str | None = None
    version: str | None = None
    problems: tuple[Problem, ...] = ()

    def attribute(self, key: str) -> Attribute | None:
        """The attribute defined with exactly ``key`` (templates not considered), or None."""
        return self.attributes.get(key)

    def template_for(self, key: str) -> Attribute | None:
        """The template attribute whose key is a dotted prefix of ``key`` (``http.request.header``
        for ``http.request.header.content-type``), longest match first; None if there is none."""
        for t in self.templates:
            tk = t.key
            if len(key) > len(tk) and key.startswith(tk) and key[len(tk)] == ".":
                return t
        return None

    def group(self, group_id: str) -> Group | None:
        """The group with id ``group_id``, or None."""
        return self.groups.get(group_id)

    def metric(self, name: str) -> Group | None:
        """The metric group for metric ``name``, or None."""
        return self.metrics.get(name)

    def event(self, name: str) -> Group | None:
        """The event group for event ``name``, or None."""
        return self.events.get(name)

    def entity(self, entity_type: str) -> Group | None:
        """The entity group of type ``entity_type``, or None."""
        return self.entities.get(entity_type)

    def span_groups(self) -> tuple[Group, ...]:
        """All span groups, in load order."""
        return tuple(g for g in self.groups.values() if g.type == "span")

    def groups_of_type(self, group_type: GroupType) -> Iterator[Group]:
        """All groups of ``group_type``, in load order."""
        return (g for g in self.groups.values() if g.type == group_type)

    def has_namespace(self, prefix: str) -> bool:
        """True if some attribute key lives under dotted prefix ``prefix``."""
        return prefix in self.namespaces

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Problems of level ``error``."""
        return tuple(p for p in self.problems if p.level == "error")
