"""Load, validate and resolve semantic-convention registries in OTel Weaver's formats.

Both file formats are read: ``groups:`` (v1) files and ``file_format: definition/2`` files. v2
definitions are translated to the group ids Weaver gives them (``metric.<name>``, ``span.<type>``,
``event.<name>``, ``entity.<type>``; a refinement keeps its ``id`` and extends its base), so refs,
``extends`` and ``ref_group`` resolve the same way whatever format a group was written in.

Several registries can be layered (later on top of earlier): refs and ``extends`` resolve across
all layers, and a later layer may redefine an attribute of an earlier one (its definition wins).

Problems never stop loading: a malformed file is reported and skipped, a bad group or attribute is
reported with file, line and the offending value and the rest still loads. Levels follow Weaver:
what Weaver refuses to deserialize or resolve is an ``error``; what Weaver reports as a warning
(missing stability, legacy deprecation strings, duplicate group ids, ...) is a ``warning``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import cast

from knhk_telemetry.semconv.model import (
    ARRAY_TYPES,
    GROUP_TYPES,
    INSTRUMENTS,
    PRIMITIVE_TYPES,
    SPAN_KINDS,
    Attribute,
    AttributeRef,
    AttributeType,
    Deprecation,
    EnumMember,
    EnumType,
    Group,
    GroupType,
    Problem,
    ProblemLevel,
    Registry,
    RequirementLevel,
    RequirementLevelKind,
    SourceLocation,
)
from knhk_telemetry.semconv.yamlnodes import YList, YMap, parse_yaml

__all__ = [
    "BUILTIN_REGISTRIES",
    "NAME_PATTERN",
    "LoadResult",
    "builtin_registry_path",
    "load_registry",
]

#: Names accepted in place of a path: the registries shipped as package data.
BUILTIN_REGISTRIES: dict[str, str] = {"semconv": "semconv-1.44.0"}

#: Attribute keys, group ids and signal names: lowercase ASCII words joined by ``.`` or ``_``
#: (the semconv naming rules: no leading/trailing/double separators, no upper case or ``-``).
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*([._][a-z0-9]+)*$")
#: Group ids follow the same rule but may also use ``-`` (``network-core`` in semconv).
GROUP_ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*([._-][a-z0-9]+)*$")

_MANIFESTS = frozenset({"manifest.yaml", "registry_manifest.yaml"})
_SKIPPED_FILES = _MANIFESTS | {"schema-next.yaml"}
_STABILITY_ALIASES = {"experimental": "development"}
_STABILITIES = frozenset({"stable", "development", "deprecated", "alpha", "beta", "release_candidate"})
_TEMPLATE_TYPES = frozenset(f"template[{t}]" for t in PRIMITIVE_TYPES | ARRAY_TYPES)

# Fields Weaver accepts (it denies unknown fields everywhere).
_V1_TOP = frozenset({"groups", "imports", "file_format", "version"})
_V1_GROUP = frozenset(
    {
        "id", "type", "brief", "note", "prefix", "extends", "stability", "deprecated",
        "attributes", "span_kind", "events", "metric_name", "instrument", "unit", "name",
        "display_name", "body", "annotations", "entity_associations", "include_groups",
        "visibility", "span_name", "requirement_level",
    }
)  # fmt: skip
_V1_ATTR_COMMON = frozenset(
    {
        "brief", "examples", "tag", "requirement_level", "sampling_relevant", "note",
        "stability", "deprecated", "annotations", "role",
    }
)  # fmt: skip
_V1_ATTR_DEF = _V1_ATTR_COMMON | {"id", "type"}
_V1_ATTR_REF = _V1_ATTR_COMMON | {"ref", "prefix"}
_ENUM_TYPE_FIELDS = frozenset({"members", "allow_custom_values"})
_ENUM_MEMBER = frozenset({"id", "value", "brief", "note", "stability", "deprecated", "annotations"})
_DEPRECATED_FIELDS = frozenset({"reason", "renamed_to", "note"})
_IMPORTS = frozenset({"metrics", "events", "entities"})

_V2_TOP = frozenset(
    {
        "file_format", "version", "attributes", "entities", "events", "metrics", "spans",
        "attribute_groups", "entity_refinements", "event_refinements", "metric_refinements",
        "span_refinements", "imports",
    }
)  # fmt: skip
_V2_COMMON = frozenset({"brief", "note", "stability", "deprecated", "annotations"})
_V2_ATTR_DEF = _V2_COMMON | {"key", "type", "examples"}
_V2_ATTR_REF = frozenset(
    {"ref", "brief", "examples", "requirement_level", "note", "stability", "deprecated", "annotations"}
)
_V2_SPAN_ATTR_REF = _V2_ATTR_REF | {"sampling_relevant"}
_V2_REFINEMENT = frozenset(
    {"id", "ref", "attributes", "entity_associations", "brief", "note", "stability",
     "deprecated", "annotations"}
)  # fmt: skip
_V2_SIGNALS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # section: (allowed fields, required fields)
    "spans": (
        _V2_COMMON | {"type", "kind", "name", "attributes", "entity_associations", "requirement_level"},
        frozenset({"type", "kind", "name", "brief", "stability"}),
    ),
    "metrics": (
        _V2_COMMON | {"name", "instrument", "unit", "attributes", "entity_associations", "requirement_level"},
        frozenset({"name", "instrument", "unit", "brief", "stability"}),
    ),
    "events": (
        _V2_COMMON | {"name", "attributes", "entity_associations", "requirement_level"},
        frozenset({"name", "brief", "stability"}),
    ),
    "entities": (
        _V2_COMMON | {"type", "identity", "description", "requirement_level"},
        frozenset({"type", "brief", "stability"}),
    ),
    "span_refinements": (_V2_REFINEMENT | {"name"}, frozenset({"id", "ref"})),
    "metric_refinements": (_V2_REFINEMENT, frozenset({"id", "ref"})),
    "event_refinements": (_V2_REFINEMENT, frozenset({"id", "ref"})),
    "entity_refinements": (
        (_V2_REFINEMENT - {"attributes", "entity_associations"}) | {"identity", "description"},
        frozenset({"id", "ref"}),
    ),
}
_V2_SECTION_TYPE: dict[str, GroupType] = {
    "spans": "span",
    "metrics": "metric",
    "events": "event",
    "entities": "entity",
    "span_refinements": "span",
    "metric_refinements": "metric",
    "event_refinements": "event",
    "entity_refinements": "entity",
}
_V2_ID_PREFIX = {"span": "span.", "metric": "metric.", "event": "event.", "entity": "entity."}


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A resolved registry and every problem found while loading it (also ``registry.problems``)."""

    registry: Registry
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        """Problems of level ``error``."""
        return tuple(p for p in self.problems if p.level == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """Problems of level ``warning``."""
        return tuple(p for p in self.problems if p.level == "warning")


# --------------------------------------------------------------------------- raw definitions


@dataclass(slots=True)
class _AttrUse:
    """An entry of a group's attribute list: a definition (``id``/``key``) or a ``ref``."""

    key: str
    is_def: bool
    data: YMap
    loc: SourceLocation
    role: str | None = None
    #: The Attribute built from a definition entry (set during catalog building).
    attribute: Attribute | None = None


@dataclass(slots=True)
class _RawGroup:
    id: str
    type: GroupType
    data: YMap
    loc: SourceLocation
    layer: int
    v2: bool = False
    extends: tuple[str, int] | None = None
    include_groups: list[tuple[str, int]] = field(default_factory=list)
    uses: list[_AttrUse] = field(default_factory=list)
    is_refinement: bool = False
    metric_name: str | None = None
    event_name: str | None = None
    entity_type: str | None = None
    span_name: str | None = None
    span_kind: str | None = None
    requirement_level: str | None = None


@dataclass(slots=True)
class _Import:
    kind: str  # metrics | events | entities
    pattern: str
    loc: SourceLocation
    layer: int


class _Problems:
    """Collects problems; de-duplicates identical reports."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._seen: set[tuple[str, int, str, str]] = set()

    def add(
        self,
        level: ProblemLevel,
        code: str,
        message: str,
        file: str,
        line: int,
        *,
        value: object = None,
    ) -> None:
        sig = (file, line, code, message)
        if sig in self._seen:
            return
        self._seen.add(sig)
        shown = None if value is None else value if isinstance(value, str) else repr(value)
        self.items.append(Problem(level, code, message, file, line, shown))

    def error(self, code: str, message: str, file: str, line: int, value: object = None) -> None:
        self.add("error", code, message, file, line, value=value)

    def warning(self, code: str, message: str, file: str, line: int, value: object = None) -> None:
        self.add("warning", code, message, file, line, value=value)


# --------------------------------------------------------------------------- file discovery


def builtin_registry_path(name: str) -> Path:
    """Directory of a registry shipped as package data (``semconv``); KeyError if unknown."""
    folder = BUILTIN_REGISTRIES[name]
    root = resources.files("knhk_telemetry.semconv") / "data" / folder / "model"
    return Path(str(root))


def _registry_files(root: Path) -> list[Path]:
    """YAML files of a registry directory as Weaver walks it (hidden entries and manifests skipped)."""
    out: list[Path] = []
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(d.iterdir())
        except OSError:
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                stack.append(e)
            elif e.suffix in (".yaml", ".yml") and e.name not in _SKIPPED_FILES:
                out.append(e)
    out.sort()
    return out


# --------------------------------------------------------------------------- small parsers


def _str(v: object) -> str | None:
    return v if isinstance(v, str) else None


class _FileParser:
    """Parses one registry file into raw groups/attribute definitions, reporting problems."""

    def __init__(self, file: str, layer: int, problems: _Problems, future: bool = False) -> None:
        self.file = file
        self.layer = layer
        self.p = problems
        self.future = future
        self.groups: list[_RawGroup] = []
        self.attr_defs: list[_AttrUse] = []  # v2 top-level definitions
        self.imports: list[_Import] = []

    # -- helpers
    def loc(self, line: int) -> SourceLocation:
        return SourceLocation(self.file, line)

    def err(self, code: str, msg: str, line: int, value: object = None) -> None:
        self.p.error(code, msg, self.file, line, value)

    def warn(self, code: str, msg: str, line: int, value: object = None) -> None:
        self.p.warning(code, msg, self.file, line, value)

    def future_warn(self, code: str, msg: str, line: int, value: object = None) -> None:
        """A warning today that Weaver's ``--future`` mode turns into an error."""
        (self.err if self.future else self.warn)(code, msg, line, value)

    def check_fields(self, m: YMap, allowed: frozenset[str], what: str) -> None:
        for k in m:
            if k not in allowed:
                self.err("unknown_field", f"unknown field '{k}' in {what}", m.line_of(k), k)

    def require(self, m: YMap, fields: Iterable[str], what: str) -> None:
        for f in fields:
            if m.get(f) is None:
                self.err("missing_field", f"{what} is missing required field '{f}'", m.line, f)

    def text(self, m: YMap, key: str, what: str) -> str | None:
        v = m.get(key)
        if v is None:
            return None
        if isinstance(v, str):
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)
        self.err("invalid_value", f"{what}: '{key}' must be a string", m.line_of(key), v)
        return None

    def name(self, value: str, line: int, what: str) -> None:
        group = what == "group id"
        if not (GROUP_ID_PATTERN if group else NAME_PATTERN).match(value):
            seps = "'.', '_' and '-'" if group else "'.' and '_'"
            self.err(
                "invalid_name",
                f"invalid {what} '{value}': use lowercase letters, digits, {seps} "
                "(starting with a letter, no leading, trailing or repeated separators)",
                line,
                value,
            )

    def stability(self, m: YMap, what: str) -> str | None:
        v = m.get("stability")
        if v is None:
            return None
        if not isinstance(v, str) or _STABILITY_ALIASES.get(v, v) not in _STABILITIES:
            self.err(
                "invalid_stability",
                f"{what}: unknown stability '{v}' (expected one of "
                "stable, development, alpha, beta, release_candidate, deprecated)",
                m.line_of("stability"),
                v,
            )
            return None
        return _STABILITY_ALIASES.get(v, v)

    def deprecated(self, m: YMap, what: str) -> Deprecation | None:  # noqa: PLR0911 - one return per form
        v = m.get("deprecated")
        line = m.line_of("deprecated")
        if v is None:
            return None
        if isinstance(v, str):
            return Deprecation("uncategorized", None, v, legacy=True)
        if not isinstance(v, YMap):
            self.err("invalid_deprecated", f"{what}: 'deprecated' must be a string or a map", line, v)
            return None
        self.check_fields(v, _DEPRECATED_FIELDS, f"'deprecated' of {what}")
        reason = v.get("reason")
        note = _str(v.get("note"))
        renamed_to = _str(v.get("renamed_to"))
        if reason == "renamed":
            if not renamed_to:
                self.err(
                    "invalid_deprecated",
                    f"{what}: deprecated with reason 'renamed' needs 'renamed_to'",
                    v.line,
                )
                return Deprecation("renamed", None, note or "")
            return Deprecation("renamed", renamed_to, note or f"Replaced by `{renamed_to}`.")
        if reason in ("obsoleted", "uncategorized"):
            default = "Obsoleted." if reason == "obsoleted" else "Uncategorized."
            return Deprecation(reason, None, note or default)
        self.err(
            "invalid_deprecated",
            f"{what}: unknown deprecation reason '{reason}' (expected renamed, obsoleted or uncategorized)",
            v.line_of("reason"),
            reason,
        )
        return None

    def requirement(self, m: YMap, what: str) -> RequirementLevel | None:
        v = m.get("requirement_level")
        if v is None:
            return None
        line = m.line_of("requirement_level")
        if isinstance(v, str):
            if v in ("required", "recommended", "opt_in"):
                return RequirementLevel(cast(RequirementLevelKind, v))
            if v == "conditionally_required":
                self.err(
                    "invalid_requirement_level",
                    f"{what}: 'conditionally_required' needs a condition text",
                    line,
                    v,
                )
                return RequirementLevel("conditionally_required", "")
        elif isinstance(v, YMap) and len(v) == 1:
            ((level, cond),) = v.items()
            if level in ("conditionally_required", "recommended", "opt_in") and isinstance(cond, str):
                return RequirementLevel(cast(RequirementLevelKind, level), cond)
        self.err(
            "invalid_requirement_level",
            f"{what}: invalid requirement_level {v!r} (expected required, recommended, opt_in, "
            "or a map {conditionally_required|recommended|opt_in: text})",
            line,
            v,
        )
        return None

    def examples(self, m: YMap) -> tuple[object, ...]:
        v = m.get("examples")
        if v is None:
            return ()
        if isinstance(v, list):
            return tuple(_plain(x) for x in v)
        return (_plain(v),)

    def attr_type(self, m: YMap, key: str, what: str) -> AttributeType | None:
        v = m.get("type")
        line = m.line_of("type")
        if v is None:
            self.err("missing_field", f"{what} is missing required field 'type'", m.line, "type")
            return None
        if isinstance(v, str):
            if v in PRIMITIVE_TYPES or v in ARRAY_TYPES or v in _TEMPLATE_TYPES:
                return v
            self.err("unknown_type", f"{what}: unknown attribute type '{v}'", line, v)
            return None
        if isinstance(v, YMap):
            return self.enum_type(v, key, what)
        self.err("unknown_type", f"{what}: unknown attribute type {v!r}", line, v)
        return None

    def enum_type(self, t: YMap, key: str, what: str) -> EnumType | None:
        self.check_fields(t, _ENUM_TYPE_FIELDS, f"enum type of {what}")
        members = t.get("members")
        if not isinstance(members, YList) or not members:
            self.err(
                "unknown_type",
                f"{what}: enum type needs a non-empty 'members' list",
                t.line_of("members"),
            )
            return None
        out: list[EnumMember] = []
        seen: dict[str, int] = {}
        first_kind: type | None = None
        for item, line in zip(members, members.item_lines, strict=True):
            if not isinstance(item, YMap):
                self.err("invalid_value", f"{what}: enum member must be a map", line, item)
                continue
            mwhat = f"enum member of {what}"
            self.check_fields(item, _ENUM_MEMBER, mwhat)
            mid = item.get("id")
            value = item.get("value")
            if not isinstance(mid, str) or not mid:
                self.err("missing_field", f"{mwhat} is missing required field 'id'", item.line)
                continue
            mwhat = f"enum member '{mid}' of {what}"
            if not isinstance(value, (str, int, float, bool)):
                self.err("missing_field", f"{mwhat} is missing required field 'value'", item.line)
                continue
            if mid in seen:
                self.err(
                    "duplicate_enum_member",
                    f"{what}: duplicate enum member id '{mid}' (first at line {seen[mid]})",
                    item.line_of("id"),
                    mid,
                )
                continue
            seen[mid] = item.line
            kind = type(value)
            if first_kind is None:
                first_kind = kind
            elif kind is not first_kind and {kind, first_kind} != {int, float}:
                self.err(
                    "invalid_value",
                    f"{mwhat}: value {value!r} has a different type than the other members",
                    item.line_of("value"),
                    value,
                )
            stability = self.stability(item, mwhat)
            deprecated = self.deprecated(item, mwhat)
            if item.get("stability") is None:
                self.warn("missing_stability", f"{mwhat}: missing stability", item.line, mid)
            elif stability == "deprecated":
                self.warn(
                    "deprecated_stability",
                    f"{mwhat}: stability 'deprecated' is no longer supported; use 'deprecated:'",
                    item.line_of("stability"),
                    mid,
                )
            if deprecated is not None and deprecated.legacy:
                self.warn(
                    "unstructured_deprecated",
                    f"{mwhat}: unstructured deprecated note; use a map with 'reason'",
                    item.line_of("deprecated"),
                    deprecated.note,
                )
            out.append(
                EnumMember(
                    id=mid,
                    value=value,
                    brief=_str(item.get("brief")) or "",
                    note=_str(item.get("note")) or "",
                    stability=stability,
                    deprecated=deprecated,
                )
            )
        return EnumType(tuple(out)) if out else None

    def entity_associations(self, g: YMap, what: str) -> None:
        v = g.get("entity_associations")
        if v is None:
            return
        if not isinstance(v, YList):
            self.err(
                "invalid_value",
                f"{what}: 'entity_associations' must be a list",
                g.line_of("entity_associations"),
                v,
            )

    # -- attribute entries
    def attribute_definition(self, m: YMap, key: str, group_id: str | None, v2: bool) -> Attribute | None:
        what = f"attribute '{key}'"
        self.name(key, m.line_of("key" if v2 else "id"), "attribute key")
        atype = self.attr_type(m, key, what)
        stability = self.stability(m, what)
        deprecated = self.deprecated(m, what)
        brief = self.text(m, "brief", what)
        if v2:
            self.require(m, ("brief", "stability"), what)
        else:
            if brief is None and deprecated is None:
                self.err(
                    "missing_field",
                    f"{what} is not deprecated and has no 'brief'",
                    m.line,
                    key,
                )
            if m.get("stability") is None:
                self.warn("missing_stability", f"{what}: missing stability", m.line, key)
            elif stability == "deprecated":
                self.warn(
                    "deprecated_stability",
                    f"{what}: stability 'deprecated' is no longer supported; use 'deprecated:'",
                    m.line_of("stability"),
                    key,
                )
        if deprecated is not None and deprecated.legacy:
            self.warn(
                "unstructured_deprecated",
                f"{what}: unstructured deprecated note; use a map with 'reason'",
                m.line_of("deprecated"),
                deprecated.note,
            )
        if m.get("examples") is None and atype in ("string", "string[]"):
            self.future_warn(
                "missing_examples",
                f"{what}: a {atype} attribute should have examples",
                m.line,
                key,
            )
        req = None if v2 else self.requirement(m, what)
        role = _str(m.get("role"))
        if role is not None and role not in ("identifying", "descriptive"):
            self.err("invalid_value", f"{what}: unknown role '{role}'", m.line_of("role"), role)
            role = None
        if atype is None:
            return None
        return Attribute(
            key=key,
            type=atype,
            brief=brief or "",
            note=self.text(m, "note", what) or "",
            examples=self.examples(m),
            stability=stability,
            deprecated=deprecated,
            requirement_level=req or RequirementLevel(),
            source=self.loc(m.line),
            group_id=group_id,
            role=role,
        )

    def v1_attribute_entries(self, g: YMap, gid: str, raw: _RawGroup) -> None:
        attrs = g.get("attributes")
        if attrs is None:
            return
        if not isinstance(attrs, YList):
            self.err("invalid_value", f"group '{gid}': 'attributes' must be a list", g.line_of("attributes"))
            return
        for item, line in zip(attrs, attrs.item_lines, strict=True):
            if not isinstance(item, YMap):
                self.err("invalid_value", f"group '{gid}': attribute entry must be a map", line, item)
                continue
            has_id, has_ref = "id" in item, "ref" in item
            if has_id and has_ref:
                self.err(
                    "invalid_attribute",
                    f"group '{gid}': attribute entry has both 'id' and 'ref'",
                    item.line,
                )
                continue
            if not has_id and not has_ref:
                self.err(
                    "missing_field",
                    f"group '{gid}': attribute entry needs 'id' or 'ref'",
                    item.line,
                )
                continue
            key = item.get("id" if has_id else "ref")
            if not isinstance(key, str) or not key:
                self.err(
                    "invalid_value",
                    f"group '{gid}': attribute {'id' if has_id else 'ref'} must be a string",
                    item.line,
                    key,
                )
                continue
            if has_id:
                self.check_fields(item, _V1_ATTR_DEF, f"attribute '{key}'")
                use = _AttrUse(key, True, item, self.loc(item.line))
                use.attribute = self.attribute_definition(item, key, gid, v2=False)
            else:
                self.check_fields(item, _V1_ATTR_REF, f"ref '{key}' in group '{gid}'")
                self.validate_ref(item, f"ref '{key}' in group '{gid}'")
                use = _AttrUse(key, False, item, self.loc(item.line), _str(item.get("role")))
            raw.uses.append(use)

    def validate_ref(self, item: YMap, what: str) -> None:
        self.requirement(item, what)
        self.stability(item, what)
        self.deprecated(item, what)

    def v2_attribute_entries(
        self,
        entries: object,
        line: int,
        raw: _RawGroup,
        what: str,
        allowed: frozenset[str],
        *,
        role: str | None = None,
        allow_groups: bool = True,
    ) -> None:
        if entries is None:
            return
        if not isinstance(entries, YList):
            self.err("invalid_value", f"{what}: attribute list must be a list", line, entries)
            return
        for item, iline in zip(entries, entries.item_lines, strict=True):
            if not isinstance(item, YMap):
                self.err("invalid_value", f"{what}: attribute entry must be a map", iline, item)
                continue
            if "ref_group" in item and allow_groups:
                self.check_fields(item, frozenset({"ref_group"}), f"ref_group in {what}")
                gid = item.get("ref_group")
                if isinstance(gid, str) and gid:
                    raw.include_groups.append((gid, item.line_of("ref_group")))
                else:
                    self.err("invalid_value", f"{what}: 'ref_group' must be a string", item.line, gid)
                continue
            key = item.get("ref")
            if not isinstance(key, str) or not key:
                self.err(
                    "missing_field",
                    f"{what}: attribute entry needs 'ref'" + (" or 'ref_group'" if allow_groups else ""),
                    item.line,
                )
                continue
            self.check_fields(item, allowed, f"ref '{key}' in {what}")
            self.validate_ref(item, f"ref '{key}' in {what}")
            raw.uses.append(_AttrUse(key, False, item, self.loc(item.line), role))

    # -- v1
    def parse_v1(self, doc: YMap) -> None:
        self.check_fields(doc, _V1_TOP, "file (groups format)")
        self.parse_imports(doc)
        groups = doc.get("groups")
        if groups is None:
            return
        if not isinstance(groups, YList):
            self.err("invalid_value", "'groups' must be a list", doc.line_of("groups"), groups)
            return
        for g, line in zip(groups, groups.item_lines, strict=True):
            if not isinstance(g, YMap):
                self.err("invalid_value", "group must be a map", line, g)
                continue
            self.v1_group(g)

    def v1_group(self, g: YMap) -> None:
        gid = g.get("id")
        if not isinstance(gid, str) or not gid:
            self.err("missing_field", "group is missing required field 'id'", g.line, gid)
            return
        what = f"group '{gid}'"
        self.name(gid, g.line_of("id"), "group id")
        self.check_fields(g, _V1_GROUP, what)
        gtype_raw = g.get("type")
        gtype: GroupType
        if gtype_raw is None:
            self.warn("missing_type", f"{what} has no 'type'", g.line, gid)
            gtype = "undefined"
        elif gtype_raw == "resource":
            gtype = "entity"
        elif isinstance(gtype_raw, str) and gtype_raw in GROUP_TYPES:
            gtype = cast(GroupType, gtype_raw)
        else:
            self.err("unknown_group_type", f"{what}: unknown group type '{gtype_raw}'", g.line_of("type"), gtype_raw)
            gtype = "undefined"
        if g.get("brief") is None:
            self.err("missing_field", f"{what} is missing required field 'brief'", g.line, "brief")
        stability = self.stability(g, what)
        if gtype != "attribute_group" and g.get("stability") is None:
            self.warn("missing_stability", f"{what}: missing stability", g.line, gid)
        if stability == "deprecated":
            self.warn(
                "deprecated_stability",
                f"{what}: stability 'deprecated' is no longer supported; use 'deprecated:'",
                g.line_of("stability"),
                gid,
            )
        dep = self.deprecated(g, what)
        if dep is not None and dep.legacy:
            self.warn(
                "unstructured_deprecated",
                f"{what}: unstructured deprecated note is not supported on groups",
                g.line_of("deprecated"),
                dep.note,
            )
        if g.get("prefix"):
            self.future_warn(
                "prefix_used", f"{what} defines a prefix; prefixes are no longer used", g.line_of("prefix")
            )
        raw = _RawGroup(gid, gtype, g, self.loc(g.line), self.layer)
        ext = g.get("extends")
        if ext is not None:
            if isinstance(ext, str) and ext:
                raw.extends = (ext, g.line_of("extends"))
            else:
                self.err("invalid_value", f"{what}: 'extends' must be a group id", g.line_of("extends"), ext)
        inc = g.get("include_groups")
        if isinstance(inc, YList):
            for v, line in zip(inc, inc.item_lines, strict=True):
                if isinstance(v, str):
                    raw.include_groups.append((v, line))
        self.v1_attribute_entries(g, gid, raw)
        if gtype not in ("metric", "event") and raw.extends is None and not raw.uses and not raw.include_groups:
            self.warn(
                "missing_attributes",
                f"{what} has neither 'extends' nor 'attributes'",
                g.line,
                gid,
            )
        span_kind = g.get("span_kind")
        if span_kind is not None:
            if gtype not in ("span", "undefined"):
                self.err(
                    "invalid_group",
                    f"{what}: 'span_kind' is only valid on span groups",
                    g.line_of("span_kind"),
                    span_kind,
                )
            if span_kind not in SPAN_KINDS:
                self.err("invalid_value", f"{what}: unknown span_kind '{span_kind}'", g.line_of("span_kind"), span_kind)
            else:
                raw.span_kind = span_kind
        elif gtype == "span":
            self.warn("missing_span_kind", f"{what} is a span but has no 'span_kind'", g.line, gid)
        if g.get("events") and gtype not in ("span", "undefined"):
            self.err("invalid_group", f"{what}: 'events' is only valid on span groups", g.line_of("events"))
        name = self.text(g, "name", what)
        if gtype == "event":
            prefix = _str(g.get("prefix"))
            if name is None and g.get("body") is None and prefix:
                name = prefix  # legacy span events derive their name from the prefix
            if name is None:
                self.err(
                    "missing_field",
                    f"{what} is an event but has no 'name'" + ("" if g.get("body") is not None else " and no 'prefix'"),
                    g.line,
                    gid,
                )
            else:
                self.name(name, g.line_of("name"), "event name")
                raw.event_name = name
        elif g.get("body") is not None:
            self.err("invalid_group", f"{what}: 'body' is only valid on event groups", g.line_of("body"))
        if gtype == "entity":
            if name is None:
                self.err("missing_field", f"{what} is an entity but has no 'name'", g.line, gid)
            else:
                self.name(name, g.line_of("name"), "entity type")
                raw.entity_type = name
        if gtype == "metric":
            for f in ("metric_name", "instrument", "unit"):
                if g.get(f) is None:
                    self.err("missing_field", f"{what} is a metric but has no '{f}'", g.line, f)
            mname = self.text(g, "metric_name", what)
            if mname is not None:
                self.name(mname, g.line_of("metric_name"), "metric name")
                raw.metric_name = mname
        instrument = g.get("instrument")
        if instrument is not None and instrument not in INSTRUMENTS:
            self.err("invalid_value", f"{what}: unknown instrument '{instrument}'", g.line_of("instrument"), instrument)
        if g.get("entity_associations") and gtype not in ("metric", "event", "span"):
            self.err(
                "invalid_group",
                f"{what}: entity_associations are only valid on metric, event and span groups",
                g.line_of("entity_associations"),
            )
        self.entity_associations(g, what)
        self.groups.append(raw)

    def parse_imports(self, doc: YMap) -> None:
        imp = doc.get("imports")
        if imp is None:
            return
        if not isinstance(imp, YMap):
            self.err("invalid_value", "'imports' must be a map", doc.line_of("imports"), imp)
            return
        self.check_fields(imp, _IMPORTS, "imports")
        for kind in _IMPORTS:
            pats = imp.get(kind)
            if pats is None:
                continue
            if not isinstance(pats, YList):
                self.err("invalid_value", f"imports.{kind} must be a list", imp.line_of(kind), pats)
                continue
            for pat, line in zip(pats, pats.item_lines, strict=True):
                if isinstance(pat, str) and pat:
                    self.imports.append(_Import(kind, pat, self.loc(line), self.layer))
                else:
                    self.err("invalid_value", f"imports.{kind}: entry must be a string", line, pat)

    # -- v2
    def parse_v2(self, doc: YMap) -> None:
        self.check_fields(doc, _V2_TOP, "file (definition/2 format)")
        self.parse_imports(doc)
        attrs = doc.get("attributes")
        if isinstance(attrs, YList):
            for item, line in zip(attrs, attrs.item_lines, strict=True):
                if not isinstance(item, YMap):
                    self.err("invalid_value", "attribute definition must be a map", line, item)
                    continue
                key = item.get("key")
                if not isinstance(key, str) or not key:
                    self.err("missing_field", "attribute definition is missing required field 'key'", item.line, key)
                    continue
                self.check_fields(item, _V2_ATTR_DEF, f"attribute '{key}'")
                use = _AttrUse(key, True, item, self.loc(item.line))
                use.attribute = self.attribute_definition(item, key, None, v2=True)
                self.attr_defs.append(use)
        elif attrs is not None:
            self.err("invalid_value", "'attributes' must be a list", doc.line_of("attributes"), attrs)
        for ag, _line in self.section_items(doc, "attribute_groups"):
            self.v2_attribute_group(ag)
        for section in _V2_SIGNALS:
            for item, _line in self.section_items(doc, section):
                self.v2_signal(section, item)

    def section_items(self, doc: YMap, section: str) -> Iterator[tuple[YMap, int]]:
        items = doc.get(section)
        if items is None:
            return
        if not isinstance(items, YList):
            self.err("invalid_value", f"'{section}' must be a list", doc.line_of(section), items)
            return
        for item, line in zip(items, items.item_lines, strict=True):
            if isinstance(item, YMap):
                yield item, line
            else:
                self.err("invalid_value", f"entry of '{section}' must be a map", line, item)

    def v2_attribute_group(self, ag: YMap) -> None:
        gid = ag.get("id")
        if not isinstance(gid, str) or not gid:
            self.err("missing_field", "attribute group is missing required field 'id'", ag.line, gid)
            return
        what = f"attribute group '{gid}'"
        self.name(gid, ag.line_of("id"), "group id")
        vis = ag.get("visibility")
        if vis == "internal":
            self.check_fields(ag, frozenset({"id", "visibility", "attributes"}), f"internal {what}")
        elif vis == "public":
            self.check_fields(ag, _V2_COMMON | {"id", "visibility", "attributes"}, what)
            self.require(ag, ("brief", "stability"), what)
        else:
            self.err(
                "invalid_value",
                f"{what}: 'visibility' must be 'public' or 'internal'",
                ag.line_of("visibility"),
                vis,
            )
        self.stability(ag, what)
        self.deprecated(ag, what)
        raw = _RawGroup(gid, "attribute_group", ag, self.loc(ag.line), self.layer, v2=True)
        self.v2_attribute_entries(ag.get("attributes"), ag.line_of("attributes"), raw, what, _V2_ATTR_REF)
        self.groups.append(raw)

    def v2_signal(self, section: str, item: YMap) -> None:
        allowed, required = _V2_SIGNALS[section]
        gtype = _V2_SECTION_TYPE[section]
        refinement = section.endswith("_refinements")
        if refinement:
            ident_field = "id"
        elif gtype in ("span", "entity"):
            ident_field = "type"
        else:
            ident_field = "name"
        ident = item.get(ident_field)
        label = section[:-1].replace("_", " ").replace("entitie", "entity")
        if not isinstance(ident, str) or not ident:
            self.err("missing_field", f"{label} is missing required field '{ident_field}'", item.line, ident)
            return
        what = f"{label} '{ident}'"
        self.check_fields(item, allowed, what)
        self.require(item, sorted(required - {ident_field}), what)
        self.name(ident, item.line_of(ident_field), f"{label} {ident_field}")
        self.stability(item, what)
        self.deprecated(item, what)
        gid = ident if refinement else _V2_ID_PREFIX[gtype] + ident
        raw = _RawGroup(gid, gtype, item, self.loc(item.line), self.layer, v2=True)
        raw.is_refinement = refinement
        if refinement:
            ref = item.get("ref")
            if isinstance(ref, str) and ref:
                raw.extends = (_V2_ID_PREFIX[gtype] + ref, item.line_of("ref"))
            elif ref is not None:
                self.err("invalid_value", f"{what}: 'ref' must be a string", item.line_of("ref"), ref)
        else:
            rl = item.get("requirement_level")
            if rl is None:
                if self.future:
                    self.err(
                        "missing_requirement_level",
                        f"{what} does not set 'requirement_level'",
                        item.line,
                        gid,
                    )
            elif isinstance(rl, str) and rl in ("required", "recommended", "opt_in"):
                raw.requirement_level = rl
            elif isinstance(rl, YMap) and len(rl) == 1:
                raw.requirement_level = next(iter(rl))
            else:
                self.err(
                    "invalid_requirement_level",
                    f"{what}: invalid requirement_level {rl!r}",
                    item.line_of("requirement_level"),
                    rl,
                )
        if gtype == "metric" and not refinement:
            raw.metric_name = ident
            instrument = item.get("instrument")
            if instrument is not None and instrument not in INSTRUMENTS:
                self.err(
                    "invalid_value",
                    f"{what}: unknown instrument '{instrument}'",
                    item.line_of("instrument"),
                    instrument,
                )
        elif gtype == "event" and not refinement:
            raw.event_name = ident
        elif gtype == "entity" and not refinement:
            raw.entity_type = ident
        if gtype == "span":
            if not refinement:
                kind = item.get("kind")
                if kind is not None and kind not in SPAN_KINDS:
                    self.err("invalid_value", f"{what}: unknown span kind '{kind}'", item.line_of("kind"), kind)
                elif isinstance(kind, str):
                    raw.span_kind = kind
            name = item.get("name")
            if isinstance(name, YMap):
                self.check_fields(name, frozenset({"note"}), f"name of {what}")
                raw.span_name = _str(name.get("note"))
                if raw.span_name is None:
                    self.err("missing_field", f"name of {what} is missing required field 'note'", name.line)
            elif name is not None:
                self.err("invalid_value", f"{what}: 'name' must be a map with 'note'", item.line_of("name"), name)
        self.entity_associations(item, what)
        if gtype == "entity":
            ident_list = item.get("identity")
            desc_list = item.get("description")
            ids = {r.get("ref") for r in ident_list if isinstance(r, YMap)} if isinstance(ident_list, YList) else set()
            if isinstance(desc_list, YList):
                for r in desc_list:
                    if isinstance(r, YMap) and r.get("ref") in ids:
                        self.err(
                            "invalid_entity",
                            f"{what}: attribute '{r.get('ref')}' is listed under both 'identity' and 'description'",
                            r.line,
                            r.get("ref"),
                        )
            if not refinement and not ident_list:
                self.err("invalid_entity", f"{what} does not declare any 'identity' attributes", item.line, ident)
            self.v2_attribute_entries(
                ident_list, item.line_of("identity"), raw, what, _V2_ATTR_REF, role="identifying", allow_groups=False
            )
            self.v2_attribute_entries(
                desc_list, item.line_of("description"), raw, what, _V2_ATTR_REF, role="descriptive", allow_groups=False
            )
        else:
            allowed_ref = _V2_SPAN_ATTR_REF if gtype == "span" else _V2_ATTR_REF
            self.v2_attribute_entries(item.get("attributes"), item.line_of("attributes"), raw, what, allowed_ref)
        self.groups.append(raw)


def _plain(v: object) -> object:
    if isinstance(v, YMap):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, YList):
        return [_plain(x) for x in v]
    return v


# --------------------------------------------------------------------------- resolution


class _Resolver:
    def __init__(self, problems: _Problems) -> None:
        self.p = problems
        self.catalog: dict[str, Attribute] = {}
        self.catalog_layer: dict[str, int] = {}
        self.groups: dict[str, _RawGroup] = {}
        self.resolved: dict[str, tuple[AttributeRef, ...]] = {}
        self.in_progress: set[str] = set()

    def add_definition(self, use: _AttrUse, layer: int) -> None:
        attr = use.attribute
        if attr is None:
            return
        prev = self.catalog.get(attr.key)
        if prev is not None and self.catalog_layer[attr.key] == layer:
            where = f" (first defined at {prev.source})" if prev.source else ""
            self.p.error(
                "duplicate_attribute",
                f"attribute '{attr.key}' is defined more than once{where}",
                use.loc.file,
                use.loc.line,
                attr.key,
            )
            return
        if prev is not None:
            where = f" (at {prev.source})" if prev.source else ""
            self.p.warning(
                "attribute_redefined",
                f"attribute '{attr.key}' redefines the attribute of a registry below{where}",
                use.loc.file,
                use.loc.line,
                attr.key,
            )
        self.catalog[attr.key] = attr
        self.catalog_layer[attr.key] = layer

    def add_group(self, g: _RawGroup) -> None:
        prev = self.groups.get(g.id)
        if prev is not None:
            self.p.warning(
                "duplicate_group_id",
                f"group id '{g.id}' is declared more than once (first at {prev.loc})",
                g.loc.file,
                g.loc.line,
                g.id,
            )
            return
        self.groups[g.id] = g

    def resolve(self, g: _RawGroup) -> tuple[AttributeRef, ...]:
        done = self.resolved.get(g.id)
        if done is not None:
            return done
        self.in_progress.add(g.id)
        attrs: dict[str, AttributeRef] = {}
        parents: list[tuple[str, int, str]] = []
        if g.extends is not None:
            parents.append((g.extends[0], g.extends[1], "extends"))
        parents.extend((gid, line, "ref_group") for gid, line in g.include_groups)
        for pid, line, how in parents:
            parent = self.groups.get(pid)
            if parent is None:
                code = "unresolved_extends" if how == "extends" else "unresolved_ref_group"
                self.p.error(code, f"group '{g.id}': {how} '{pid}' does not name a group", g.loc.file, line, pid)
                continue
            if pid in self.in_progress:
                self.p.error(
                    "extends_cycle",
                    f"group '{g.id}': {how} '{pid}' forms a cycle",
                    g.loc.file,
                    line,
                    pid,
                )
                continue
            for ref in self.resolve(parent):
                attrs.setdefault(ref.key, ref)
        seen_refs: set[str] = set()
        for use in g.uses:
            if not use.is_def:
                if use.key in seen_refs:
                    if g.v2 and g.type == "entity":
                        continue  # reported as identity/description overlap while parsing
                    self.p.warning(
                        "duplicate_attribute_ref",
                        f"group '{g.id}' references attribute '{use.key}' more than once",
                        use.loc.file,
                        use.loc.line,
                        use.key,
                    )
                    continue
                seen_refs.add(use.key)
            made = self.attribute_ref(g, use, attrs.get(use.key))
            if made is not None:
                attrs[use.key] = made
        out = tuple(attrs.values())
        self.in_progress.discard(g.id)
        self.resolved[g.id] = out
        return out

    def attribute_ref(self, g: _RawGroup, use: _AttrUse, inherited: AttributeRef | None) -> AttributeRef | None:
        if use.is_def:
            attr = use.attribute
            if attr is None:
                return None
            return AttributeRef(
                key=use.key,
                attribute=attr,
                requirement_level=attr.requirement_level,
                role=attr.role,
                sampling_relevant=use.data.get("sampling_relevant") is True,
                source=use.loc,
            )
        attr = self.catalog.get(use.key)
        if attr is None:
            self.p.error(
                "unresolved_ref",
                f"group '{g.id}': attribute ref '{use.key}' does not name an attribute",
                use.loc.file,
                use.loc.line,
                use.key,
            )
            return None
        d = use.data
        base = inherited if inherited is not None and inherited.attribute is attr else None
        req = _requirement_quiet(d.get("requirement_level"))
        examples = d.get("examples")
        dep = d.get("deprecated")
        stab = d.get("stability")
        return AttributeRef(
            key=use.key,
            attribute=attr,
            requirement_level=req or (base.requirement_level if base else attr.requirement_level),
            brief=_str(d.get("brief")) if "brief" in d else (base.brief if base else None),
            note=_str(d.get("note")) if "note" in d else (base.note if base else None),
            examples=(
                (tuple(_plain(x) for x in examples) if isinstance(examples, list) else (_plain(examples),))
                if examples is not None
                else (base.examples if base else None)
            ),
            stability=(
                _STABILITY_ALIASES.get(stab, stab) if isinstance(stab, str) else (base.stability if base else None)
            ),
            deprecated=_deprecation_quiet(dep) if dep is not None else (base.deprecated if base else None),
            role=use.role or _str(d.get("role")) or (base.role if base else None),
            sampling_relevant=d.get("sampling_relevant") is True or (base.sampling_relevant if base else False),
            source=use.loc,
        )


def _requirement_quiet(v: object) -> RequirementLevel | None:
    if isinstance(v, str) and v in ("required", "recommended", "opt_in"):
        return RequirementLevel(cast(RequirementLevelKind, v))
    if isinstance(v, str) and v == "conditionally_required":
        return RequirementLevel("conditionally_required", "")
    if isinstance(v, YMap) and len(v) == 1:
        ((level, cond),) = v.items()
        if level in ("conditionally_required", "recommended", "opt_in"):
            return RequirementLevel(cast(RequirementLevelKind, level), _str(cond))
    return None


def _deprecation_quiet(v: object) -> Deprecation | None:
    if isinstance(v, str):
        return Deprecation("uncategorized", None, v, legacy=True)
    if isinstance(v, YMap):
        reason = v.get("reason")
        note = _str(v.get("note"))
        if reason == "renamed":
            to = _str(v.get("renamed_to"))
            return Deprecation("renamed", to, note or (f"Replaced by `{to}`." if to else ""))
        if reason in ("obsoleted", "uncategorized"):
            return Deprecation(reason, None, note or "")
    return None


def _association_names(v: object) -> Iterator[tuple[str, int]]:
    """Entity type names in an ``entity_associations`` expression (strings, one_of, all_of)."""
    if isinstance(v, YList):
        for item, line in zip(v, v.item_lines, strict=True):
            if isinstance(item, str):
                yield item, line
            else:
                yield from _association_names(item)
    elif isinstance(v, YMap):
        for key in ("one_of", "all_of"):
            yield from _association_names(v.get(key))


# --------------------------------------------------------------------------- entry point


def _read_manifest(root: Path, problems: _Problems) -> tuple[str | None, str | None]:
    for name in ("manifest.yaml", "registry_manifest.yaml"):
        path = root / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.error("unreadable_file", f"cannot read manifest: {exc}", str(path), 1)
            return None, None
        doc, errors = parse_yaml(text)
        for e in errors:
            problems.error(e.code, e.message, str(path), e.line, e.value)
        if not isinstance(doc, YMap):
            return None, None
        reg_name = _str(doc.get("name"))
        version = _str(doc.get("semconv_version")) or _str(doc.get("version"))
        url = _str(doc.get("schema_url"))
        if url:
            parts = url.rstrip("/").split("/")
            if reg_name is None and len(parts) >= 2:
                reg_name = parts[-2]
            if len(parts) >= 1 and version is None:
                version = parts[-1]
        return reg_name, version
    return None, None


def load_registry(paths: Sequence[str | Path], *, future: bool = False) -> LoadResult:
    """Load and resolve registries; later ``paths`` are layered on top of earlier ones.

    A path is a registry directory (all ``*.yaml``/``*.yml`` below it, manifests excepted), a
    single YAML file, or a built-in name from :data:`BUILTIN_REGISTRIES` (``"semconv"``). Never
    raises for bad registry content: every problem is in the result.

    ``future`` applies the rules Weaver's ``--future`` flag enables: v2 signals must set
    ``requirement_level``; string attributes without examples and group prefixes become errors.
    """
    problems = _Problems()
    parsers: list[_FileParser] = []
    reg_name: str | None = None
    reg_version: str | None = None
    for layer, spec in enumerate(paths):
        builtin = isinstance(spec, str) and spec in BUILTIN_REGISTRIES
        root = builtin_registry_path(str(spec)) if builtin else Path(spec)
        if root.is_dir():
            files = _registry_files(root)
            n, v = _read_manifest(root, problems)
            reg_name, reg_version = n or reg_name, v or reg_version
        elif root.is_file():
            files = [root]
        else:
            problems.error("registry_not_found", f"registry not found: {spec}", str(spec), 0, str(spec))
            continue
        for path in files:
            fp = _FileParser(str(path), layer, problems, future)
            _parse_file(path, fp)
            parsers.append(fp)
    return _resolve(parsers, problems, reg_name, reg_version)


def _parse_file(path: Path, fp: _FileParser) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fp.err("unreadable_file", f"cannot read file: {exc}", 1)
        return
    doc, errors = parse_yaml(text)
    for e in errors:
        fp.err(e.code, e.message, e.line, e.value)
    if doc is None:
        return
    if not isinstance(doc, YMap):
        fp.err("invalid_value", "a registry file must be a YAML map", 1)
        return
    fmt = doc.get("file_format")
    version = doc.get("version")
    if fmt == "definition/2" or version in (2, "2"):
        fp.parse_v2(doc)
    elif fmt in (None, "definition/1") and version in (None, 1, "1"):
        fp.parse_v1(doc)
    else:
        line = doc.line_of("file_format" if fmt is not None else "version")
        fp.err(
            "unknown_file_format",
            f"unknown file_format {fmt if fmt is not None else version!r} (expected definition/1 or definition/2)",
            line,
            fmt if fmt is not None else version,
        )


def _resolve(parsers: list[_FileParser], problems: _Problems, name: str | None, version: str | None) -> LoadResult:
    res = _Resolver(problems)
    for fp in parsers:
        for use in fp.attr_defs:
            res.add_definition(use, fp.layer)
        for g in fp.groups:
            for use in g.uses:
                if use.is_def:
                    res.add_definition(use, g.layer)
            res.add_group(g)

    groups: dict[str, Group] = {}
    metrics: dict[str, Group] = {}
    events: dict[str, Group] = {}
    entities: dict[str, Group] = {}
    names_seen: dict[tuple[str, str], _RawGroup] = {}
    for raw in res.groups.values():
        attrs = res.resolve(raw)
        base = _refinement_base(res, raw)
        built = _build_group(raw, attrs, base)
        groups[built.id] = built
        if raw.is_refinement:
            continue
        for kind, key, table in (
            ("metric", built.metric_name, metrics),
            ("event", built.event_name, events),
            ("entity", built.entity_type, entities),
        ):
            if key is None or built.type != kind:
                continue
            prev = names_seen.get((kind, key))
            if prev is not None:
                problems.warning(
                    f"duplicate_{kind}_name",
                    f"{kind} name '{key}' is declared more than once (first by group '{prev.id}' at {prev.loc})",
                    raw.loc.file,
                    raw.loc.line,
                    key,
                )
                continue
            names_seen[(kind, key)] = raw
            table[key] = built

    # Entity associations must name an entity of some layer.
    for raw in res.groups.values():
        assoc = raw.data.get("entity_associations")
        for ent, line in _association_names(assoc):
            if ent not in entities:
                problems.error(
                    "unresolved_entity_association",
                    f"group '{raw.id}': entity association '{ent}' does not name an entity",
                    raw.loc.file,
                    line,
                    ent,
                )
    # Imports pull signals from lower layers; report patterns that match nothing.
    tables = {"metrics": metrics, "events": events, "entities": entities}
    for fp in parsers:
        for imp in fp.imports:
            table = tables[imp.kind]
            lower = [k for k, grp in table.items() if _layer_of(res, grp) < imp.layer]
            if not any(fnmatch.fnmatchcase(k, imp.pattern) for k in lower):
                problems.warning(
                    "unmatched_import",
                    f"import '{imp.pattern}' under '{imp.kind}' matches nothing in the registries below this one",
                    imp.loc.file,
                    imp.loc.line,
                    imp.pattern,
                )

    catalog = res.catalog
    templates = tuple(sorted((a for a in catalog.values() if a.is_template), key=lambda a: -len(a.key)))
    namespaces: set[str] = set()
    for key, attr in catalog.items():
        parts = key.split(".")
        for i in range(1, len(parts)):
            namespaces.add(".".join(parts[:i]))
        if attr.is_template:
            namespaces.add(key)
    probs = tuple(sorted(problems.items, key=lambda p: (p.file, p.line)))
    registry = Registry(
        attributes=MappingProxyType(dict(catalog)),
        templates=templates,
        groups=MappingProxyType(groups),
        metrics=MappingProxyType(metrics),
        events=MappingProxyType(events),
        entities=MappingProxyType(entities),
        namespaces=frozenset(namespaces),
        name=name,
        version=version,
        problems=probs,
    )
    return LoadResult(registry, probs)


def _layer_of(res: _Resolver, g: Group) -> int:
    raw = res.groups.get(g.id)
    return raw.layer if raw is not None else 0


def _refinement_base(res: _Resolver, raw: _RawGroup) -> _RawGroup | None:
    """The base signal of a refinement (following refinement chains), or None."""
    seen: set[str] = set()
    cur = raw
    while cur.is_refinement and cur.extends is not None and cur.id not in seen:
        seen.add(cur.id)
        nxt = res.groups.get(cur.extends[0])
        if nxt is None:
            return None
        cur = nxt
    return cur if cur is not raw else None


def _build_group(raw: _RawGroup, attrs: tuple[AttributeRef, ...], base: _RawGroup | None) -> Group:
    d = raw.data
    src = base.data if base is not None else None

    def field_(key: str) -> str | None:
        v = _str(d.get(key))
        if v is None and src is not None:
            v = _str(src.get(key))
        return v

    stability = _str(d.get("stability"))
    assoc = tuple(n for n, _ in _association_names(d.get("entity_associations")))
    if not assoc and base is not None:
        assoc = tuple(n for n, _ in _association_names(base.data.get("entity_associations")))
    annotations = d.get("annotations")
    mvt = None
    if isinstance(annotations, YMap):
        cg = annotations.get("code_generation")
        if isinstance(cg, YMap):
            mvt = _str(cg.get("metric_value_type"))
    events = d.get("events")
    return Group(
        id=raw.id,
        type=raw.type,
        brief=field_("brief") or "",
        note=field_("note") or "",
        stability=_STABILITY_ALIASES.get(stability, stability)
        if stability
        else (_str(src.get("stability")) if src is not None else None),
        deprecated=_deprecation_quiet(d.get("deprecated")),
        attributes=attrs,
        extends=raw.extends[0] if raw.extends else None,
        span_kind=raw.span_kind or (base.span_kind if base else None),
        span_name=raw.span_name or (base.span_name if base else None),
        event_name=raw.event_name or (base.event_name if base else None),
        metric_name=raw.metric_name or (base.metric_name if base else None),
        instrument=field_("instrument"),
        unit=_unit(d, src),
        entity_type=raw.entity_type or (base.entity_type if base else None),
        entity_associations=assoc,
        metric_value_type=mvt,
        visibility=_str(d.get("visibility")),
        source=raw.loc,
        requirement_level=raw.requirement_level or (base.requirement_level if base else None),
        is_refinement=raw.is_refinement,
        span_events=tuple(e for e in events if isinstance(e, str)) if isinstance(events, list) else (),
        display_name=_str(d.get("display_name")),
    )


def _unit(d: YMap, src: YMap | None) -> str | None:
    for m in (d, src):
        if m is None:
            continue
        v = m.get("unit")
        if v is not None:
            return str(v)
    return None
