"""The rules of Weaver's live-check, for one distinct key / value / signal shape at a time.

Pure Python over the resolved :class:`~knhk_telemetry.semconv.model.Registry`: the vectorised
checker (:mod:`.engine`) calls these once per *distinct* attribute key and value type, enum value,
metric, event name or span shape in a batch and caches the answers, so their cost does not
depend on the number of spans.

Messages, context keys and levels are Weaver's (``weaver_live_check`` built-in advisors and the
default ``live_check_advice`` Rego policy); where Weaver has no rule (span definitions,
``unexpected_attribute``) the rule is ours and documented on the function.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from knhk_telemetry.model.schema import SpanKind
from knhk_telemetry.semconv.livecheck.findings import Finding
from knhk_telemetry.semconv.model import (
    Attribute,
    Deprecation,
    EnumType,
    Group,
    Registry,
    template_inner_type,
)

__all__ = [
    "SPAN_TYPE_ATTRIBUTE",
    "STYPE_NAMES",
    "AttributeVerdict",
    "RegistryIndex",
]

#: Sample value types as Weaver infers them from an OTLP value; index 0 means "no type"
#: (empty values, bytes, kvlists, mixed or empty arrays), which skips the type and enum checks.
STYPE_NAMES: tuple[str | None, ...] = (
    None,
    "string",
    "boolean",
    "int",
    "double",
    "string[]",
    "boolean[]",
    "int[]",
    "double[]",
)
STYPE_STRING, STYPE_INT = 1, 3

#: The attribute Weaver's span-type work matches span definitions by.
SPAN_TYPE_ATTRIBUTE = "otel.span.type"

_NAME_RE = re.compile(r"^[a-z][a-z0-9]*([._][a-z0-9]+)*$")
_KIND_NAMES = {
    SpanKind.UNSPECIFIED: "internal",
    SpanKind.INTERNAL: "internal",
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}


def kind_name(kind: int) -> str:
    """Weaver's span kind for an OTLP kind number (unspecified is ``internal``)."""
    return _KIND_NAMES.get(SpanKind(kind) if kind in SpanKind._value2member_map_ else SpanKind.UNSPECIFIED, "internal")


def stability_name(stability: str | None) -> str | None:
    """The stability as Weaver prints it (``experimental`` is ``development``)."""
    return "development" if stability == "experimental" else stability


def deprecation_note(d: Deprecation) -> str:
    """Weaver's ``Deprecated::note``: the note, or the default text of the reason."""
    if d.note:
        return d.note
    if d.reason == "renamed":
        return f"Replaced by `{d.renamed_to}`."
    return "Obsoleted." if d.reason == "obsoleted" else "Uncategorized."


def _deprecated(what: str, name: str, key: str, d: Deprecation, signal_type: str | None, **sig: str | None) -> Finding:
    ctx: dict[str, object] = {key: name, "deprecation_reason": d.reason, "deprecation_note": deprecation_note(d)}
    if d.renamed_to:
        ctx["renamed_to"] = d.renamed_to
    msg = f"{what} '{name}' is deprecated; reason = '{d.reason}', note = '{deprecation_note(d)}'."
    return Finding.make("deprecated", msg, ctx, signal_type=signal_type, **sig)


def _not_stable(what: str, name: str, key: str, stability: str, signal_type: str | None, **sig: str | None) -> Finding:
    return Finding.make(
        "not_stable",
        f"{what} '{name}' is not stable; stability = {stability}.",
        {key: name, "stability": stability},
        signal_type=signal_type,
        **sig,
    )


def _derive_namespaces(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@dataclass(frozen=True, slots=True)
class AttributeVerdict:
    """Everything about one (key, value type) pair that does not depend on the value.

    ``pre`` are the findings Weaver gives before the enum check (missing/template, deprecated,
    stability, type), ``post`` those after it (the Rego naming rules). ``enum`` is the registry
    attribute when its values must be checked against enum members. ``seen_name`` is the name
    the statistics count (the template's key for template attributes); ``in_registry`` whether
    that name is a non-deprecated registry entry.
    """

    pre: tuple[Finding, ...]
    post: tuple[Finding, ...]
    enum: Attribute | None
    seen_name: str
    in_registry: bool
    defined: bool


class RegistryIndex:
    """The look-up sets the rules need, derived once from a registry (Weaver's jq preprocessing)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.attributes: dict[str, Attribute] = {k: a for k, a in registry.attributes.items() if not a.is_template}
        templates = [a for a in registry.attributes.values() if a.is_template]
        seen_t = {a.key for a in templates}
        templates += [t for t in registry.templates if t.key not in seen_t]
        #: longest key first: Weaver tries the most specific template first
        self.templates: tuple[Attribute, ...] = tuple(sorted(templates, key=lambda a: -len(a.key)))
        self.deprecated_names = frozenset(k for k, a in self.attributes.items() if a.deprecated is not None)
        ns: set[str] = set()
        for k in self.attributes:
            ns.update(_derive_namespaces(k))
        self.namespaces = frozenset(ns)
        #: non-deprecated registry attributes (templates included): the coverage denominator
        self.registry_attribute_names: tuple[str, ...] = tuple(
            sorted(
                {k for k, a in self.attributes.items() if a.deprecated is None}
                | {t.key for t in self.templates if t.deprecated is None}
            )
        )
        self.registry_metric_names: tuple[str, ...] = tuple(
            sorted(n for n, g in registry.metrics.items() if g.deprecated is None)
        )
        self.registry_event_names: tuple[str, ...] = tuple(
            sorted(n for n, g in registry.events.items() if g.deprecated is None)
        )
        self._registry_attr_set = frozenset(self.registry_attribute_names)
        spans = [g for g in registry.groups.values() if g.type == "span"]
        self.span_groups: tuple[Group, ...] = tuple(spans)
        self.span_by_type: dict[str, Group] = {}
        self.span_by_name: dict[str, Group] = {}
        for g in spans:
            self.span_by_type.setdefault(g.id, g)
            if g.id.startswith("span."):
                self.span_by_type.setdefault(g.id[len("span.") :], g)
            if g.span_name and "{" not in g.span_name:
                self.span_by_name.setdefault(g.span_name, g)
        self._span_required = [
            (
                g,
                frozenset(
                    r.key
                    for r in g.attributes
                    if r.requirement_level.level == "required" and not r.attribute.is_template
                ),
            )
            for g in spans
        ]

    # -- attributes -----------------------------------------------------------------------
    def template_for(self, key: str) -> Attribute | None:
        """Weaver's template match: the longest template key that ``key`` starts with."""
        for t in self.templates:
            if key.startswith(t.key):
                return t
        return None

    def lookup(self, key: str) -> Attribute | None:
        """The registry attribute for ``key``: exact, else a template."""
        return self.attributes.get(key) or self.template_for(key)

    def attribute_verdict(self, key: str, stype: int, signal_type: str | None) -> AttributeVerdict:
        """Weaver's attribute advice for ``key`` with a value of sample type ``stype``."""
        st = signal_type
        attr = self.attributes.get(key)
        template = None if attr is not None else self.template_for(key)
        reg = attr or template
        pre: list[Finding] = []
        ctx_key = {"attribute_key": key}
        sig = {"sample_name": key}
        if reg is None:
            pre.append(
                Finding.make(
                    "missing_attribute",
                    f"Attribute '{key}' does not exist in the registry.",
                    ctx_key,
                    signal_type=st,
                    **sig,
                )
            )
        elif template is not None:
            pre.append(
                Finding.make(
                    "template_attribute",
                    f"Attribute '{key}' is a template",
                    {"attribute_key": key, "template_name": template.key},
                    signal_type=st,
                    **sig,
                )
            )
        enum: Attribute | None = None
        if reg is not None:
            if reg.deprecated is not None:
                pre.append(_deprecated("Attribute", key, "attribute_key", reg.deprecated, st, **sig))
            stability = stability_name(reg.stability)
            if stability is not None and stability != "stable":
                pre.append(_not_stable("Attribute", key, "attribute_key", stability, st, **sig))
            mismatch = self._type_finding(key, reg, stype, st)
            if mismatch is not None:
                pre.append(mismatch)
            elif isinstance(reg.type, EnumType) and stype in (STYPE_STRING, STYPE_INT):
                enum = reg
        seen_name = template.key if template is not None else key
        return AttributeVerdict(
            pre=tuple(pre),
            post=tuple(self._naming_findings(key, st)),
            enum=enum,
            seen_name=seen_name,
            in_registry=seen_name in self._registry_attr_set,
            defined=reg is not None,
        )

    @staticmethod
    def _type_finding(key: str, reg: Attribute, stype: int, st: str | None) -> Finding | None:
        sample = STYPE_NAMES[stype]
        if sample is None:
            return None
        declared = template_inner_type(reg.type)
        if isinstance(declared, EnumType):
            if sample in ("string", "int"):
                return None
            return Finding.make(
                "type_mismatch",
                f"Enum attribute '{key}' has type '{sample}'. Enum value type should be 'string' or 'int'.",
                {"attribute_key": key, "attribute_type": sample},
                signal_type=st,
                sample_name=key,
            )
        if declared in ("any", sample) or (sample, declared) in (("int", "double"), ("int[]", "double[]")):
            return None
        return Finding.make(
            "type_mismatch",
            f"Attribute '{key}' has type '{sample}'. Type should be '{declared}'.",
            {"attribute_key": key, "attribute_type": sample, "expected": declared},
            signal_type=st,
            sample_name=key,
        )

    def _naming_findings(self, key: str, st: str | None) -> list[Finding]:
        """Weaver's default Rego policy (``otel.rego``) for an attribute name."""
        out: list[Finding] = []
        is_template = any(key.startswith(t.key) for t in self.templates)
        if "." not in key:
            out.append(
                Finding.make(
                    "missing_namespace",
                    f"Attribute key '{key}' must include a namespace (e.g. '{{namespace}}.{{attribute_key}}')",
                    {"attribute_key": key},
                    signal_type=st,
                    sample_name=key,
                )
            )
        if not is_template and not _NAME_RE.match(key):
            out.append(
                Finding.make(
                    "invalid_format",
                    f"Attribute key '{key}' does not match name formatting rules.",
                    {"attribute_key": key},
                    signal_type=st,
                    sample_name=key,
                )
            )
        if "." in key:
            namespaces = _derive_namespaces(key)
            for ns in namespaces:
                if ns in self.attributes and ns not in self.deprecated_names:
                    out.append(
                        Finding.make(
                            "illegal_namespace",
                            f"Namespace '{ns}' collides with existing attribute '{key}'",
                            {"attribute_key": key, "namespace": ns},
                            signal_type=st,
                            sample_name=key,
                        )
                    )
            if not is_template and key not in self.attributes:
                matches = [ns for ns in namespaces if ns in self.namespaces]
                if matches:
                    out.append(
                        Finding.make(
                            "extends_namespace",
                            f"Attribute key '{key}' collides with existing namespace '{matches[-1]}'",
                            {"attribute_key": key, "namespace": matches[-1]},
                            signal_type=st,
                            sample_name=key,
                        )
                    )
        return out

    @staticmethod
    def enum_finding(attr: Attribute, key: str, value: str | int, st: str | None) -> Finding | None:
        """``undefined_enum_variant`` when ``value`` is not a member value (Weaver's EnumAdvisor)."""
        assert isinstance(attr.type, EnumType)
        for m in attr.type.members:
            if type(m.value) is type(value) and m.value == value:
                return None
        return Finding.make(
            "undefined_enum_variant",
            f"Enum attribute '{key}' has value '{value}' which is not documented.",
            {"attribute_key": key, "attribute_value": value},
            signal_type=st,
            sample_name=key,
        )

    # -- signals ----------------------------------------------------------------------------
    def metric_findings(
        self, name: str, instrument: str | None, unsupported: str | None, unit: str
    ) -> tuple[tuple[Finding, ...], Group | None]:
        """Findings on a metric (Weaver's SampleMetric): missing, deprecated, stability,
        instrument, unit, name format. ``unsupported`` is ``Summary``/``Unspecified`` for
        instruments Weaver does not support."""
        g = self.registry.metrics.get(name)
        sig = {"signal_name": name, "sample_name": name}
        out: list[Finding] = []
        if g is None:
            out.append(
                Finding.make(
                    "missing_metric", "Metric does not exist in the registry.", None, signal_type="metric", **sig
                )
            )
        else:
            if g.deprecated is not None:
                out.append(_deprecated("Metric", name, "metric_name", g.deprecated, "metric", **sig))
            stability = stability_name(g.stability)
            if stability is not None and stability != "stable":
                out.append(_not_stable("Metric", name, "metric_name", stability, "metric", **sig))
            if unsupported is not None:
                out.append(
                    Finding.make(
                        "unexpected_instrument",
                        f"Instrument '{unsupported}' is not supported",
                        {"instrument": unsupported},
                        signal_type="metric",
                        **sig,
                    )
                )
            elif g.instrument is not None and instrument != g.instrument:
                out.append(
                    Finding.make(
                        "unexpected_instrument",
                        f"Instrument should be '{g.instrument}', but found '{instrument}'.",
                        {"instrument": instrument, "expected": g.instrument},
                        signal_type="metric",
                        **sig,
                    )
                )
            if g.unit is not None and g.unit != unit:
                out.append(
                    Finding.make(
                        "unit_mismatch",
                        f"Unit should be '{g.unit}', but found '{unit}'.",
                        {"unit": unit, "expected": g.unit},
                        signal_type="metric",
                        **sig,
                    )
                )
        if not _NAME_RE.match(name):
            out.append(
                Finding.make(
                    "invalid_format",
                    f"Metric name '{name}' does not match name formatting rules.",
                    {"metric_name": name},
                    signal_type="metric",
                    **sig,
                )
            )
        return tuple(out), g

    def event_findings(self, name: str) -> tuple[tuple[Finding, ...], Group | None]:
        """Findings on a log record with event name ``name`` (Weaver's SampleLog); an empty
        name is not matched to the registry."""
        if not name:
            return (), None
        g = self.registry.events.get(name)
        sig = {"signal_name": name, "sample_name": name}
        if g is None:
            return (
                Finding.make(
                    "missing_event", f"Event '{name}' does not exist in the registry.", None, signal_type="log", **sig
                ),
            ), None
        out: list[Finding] = []
        if g.deprecated is not None:
            out.append(_deprecated("Event", name, "event_name", g.deprecated, "log", **sig))
        stability = stability_name(g.stability)
        if stability is not None and stability != "stable":
            out.append(_not_stable("Event", name, "event_name", stability, "log", **sig))
        return tuple(out), g

    @staticmethod
    def requirement_findings(
        group: Group,
        keys: frozenset[str],
        signal_type: str,
        signal_name: str | None = None,
        sample_name: str | None = None,
    ) -> list[Finding]:
        """Weaver's ``check_attributes``: a finding per group attribute absent from ``keys``
        (template attributes are present when some key starts with their key)."""
        out: list[Finding] = []
        for ref in group.attributes:
            key = ref.key
            present = any(k.startswith(key) for k in keys) if ref.attribute.is_template else key in keys
            if present:
                continue
            level = ref.requirement_level.level
            if level == "required":
                fid, msg = "required_attribute_not_present", f"Required attribute '{key}' is not present."
            elif level == "recommended":
                fid, msg = "recommended_attribute_not_present", f"Recommended attribute '{key}' is not present."
            elif level == "opt_in":
                fid, msg = "opt_in_attribute_not_present", f"Opt-in attribute '{key}' is not present."
            else:
                fid, msg = (
                    "conditionally_required_attribute_not_present",
                    f"Conditionally required attribute '{key}' is not present.",
                )
            out.append(
                Finding.make(
                    fid,
                    msg,
                    {"attribute_key": key},
                    signal_type=signal_type,
                    signal_name=signal_name,
                    sample_name=sample_name,
                )
            )
        return out

    def entity_findings(
        self,
        group: Group,
        resource_keys: frozenset[str],
        signal_type: str,
        signal_name: str | None = None,
        sample_name: str | None = None,
    ) -> list[Finding]:
        """Weaver's ``check_entity_associations`` for a signal's entity associations.

        One association is checked directly (its missing attributes are reported); several form
        an implicit ``one_of``: satisfied when some entity has all its required attributes (its
        other findings are kept), else one ``entity_association_not_satisfied``. Entities the
        registry does not define are neutral."""
        assoc = group.entity_associations
        sig = {"signal_type": signal_type, "signal_name": signal_name, "sample_name": sample_name}
        if not assoc:
            return []
        if len(assoc) == 1:
            return self._entity_attrs(assoc[0], resource_keys, sig)[1]
        found: list[Finding] = []
        any_ok = False
        for name in assoc:
            ok, fs = self._entity_attrs(name, resource_keys, sig)
            if ok:
                any_ok = True
                found.extend(fs)
        if any_ok:
            return found
        names = list(dict.fromkeys(assoc))
        return [
            Finding.make(
                "entity_association_not_satisfied",
                f"None of the associated entities [{', '.join(names)}] were satisfied by the resource.",
                {"entity_type": names},
                **sig,
            )
        ]

    def _entity_attrs(
        self, entity_type: str, resource_keys: frozenset[str], sig: Mapping[str, str | None]
    ) -> tuple[bool, list[Finding]]:
        entity = self.registry.entities.get(entity_type)
        if entity is None:
            return True, []
        out: list[Finding] = []
        for ref in entity.attributes:
            key = ref.key
            if key in resource_keys:
                continue
            level = ref.requirement_level.level
            if level == "required":
                fid, what = "entity_required_attribute_not_present", "Required"
            elif level == "recommended":
                fid, what = "entity_recommended_attribute_not_present", "Recommended"
            elif level == "opt_in":
                fid, what = "entity_opt_in_attribute_not_present", "Opt-in"
            else:
                fid, what = "entity_conditionally_required_attribute_not_present", "Conditionally required"
            out.append(
                Finding.make(
                    fid,
                    f"{what} attribute '{key}' for entity '{entity_type}' is not present in the resource.",
                    {"attribute_key": key, "entity_type": entity_type},
                    **sig,
                )
            )
        return not any(f.level == "violation" for f in out), out

    @staticmethod
    def span_kind_finding(group: Group, kind: int, sample_name: str | None = None) -> Finding | None:
        """``span_kind_mismatch`` (from Weaver's span-type work) when the kinds differ."""
        if group.span_kind is None:
            return None
        actual = kind_name(kind)
        if actual == group.span_kind:
            return None
        return Finding.make(
            "span_kind_mismatch",
            f"Span kind should be '{group.span_kind.capitalize()}', but found '{actual.capitalize()}'.",
            {"span_kind": actual, "expected": group.span_kind},
            signal_type="span",
            sample_name=sample_name,
        )

    def unexpected_finding(self, group: Group, key: str, st: str | None) -> Finding | None:
        """Our rule (Weaver has none): ``unexpected_attribute`` for a registry attribute that is not
        part of the definition (span, metric, event) its signal matched. Attributes missing from the
        registry are already ``missing_attribute`` and are not reported again."""
        if self.lookup(key) is None:
            return None
        for ref in group.attributes:
            if ref.key == key or (ref.attribute.is_template and key.startswith(ref.key)):
                return None
        return Finding.make(
            "unexpected_attribute",
            f"Attribute '{key}' is not part of the definition of '{group.id}'.",
            {"attribute_key": key, "group_id": group.id},
            signal_type=st,
            sample_name=key,
        )

    def match_span_definition(self, kind: int, keys: frozenset[str]) -> Group | None:
        """Our span matching by definition (Weaver matches only by ``otel.span.type``).

        Candidates are span groups of the span's kind (or without a kind) with at least one
        required (non-template) attribute, all of them present in ``keys``; the one with the most
        required attributes wins, then the most attributes present, then the first loaded. (A span
        of the wrong kind is not matched by definition: only ``otel.span.type`` or a literal span
        name can say what it was meant to be, and then ``span_kind_mismatch`` reports the kind.)"""
        actual = kind_name(kind)
        best: tuple[int, int, int] | None = None
        best_group: Group | None = None
        for i, (g, required) in enumerate(self._span_required):
            if not required or g.span_kind not in (None, actual) or not required <= keys:
                continue
            present = sum(1 for r in g.attributes if r.key in keys)
            score = (len(required), present, -i)
            if best is None or score > best:
                best, best_group = score, g
        return best_group
