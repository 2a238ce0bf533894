"""Small hand-built registries: every problem kind, in both file formats, with exact file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

from knhk_telemetry.semconv.loader import LoadResult, load_registry


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _found(result: LoadResult, root: Path) -> list[tuple[str, int, str, str]]:
    return [(Path(p.file).relative_to(root).as_posix(), p.line, p.level, p.code) for p in result.problems]


GOOD_V1 = """
groups:
  - id: registry.demo
    type: attribute_group
    brief: Demo attributes.
    attributes:
      - id: demo.name
        type: string
        stability: stable
        brief: A name.
        examples: [a]
      - id: demo.count
        type: int
        stability: development
        brief: A count.
"""


def test_clean_v1_registry_resolves(tmp_path: Path) -> None:
    _write(tmp_path, "registry.yaml", GOOD_V1)
    _write(
        tmp_path,
        "spans.yaml",
        """
        groups:
          - id: span.demo
            type: span
            span_kind: client
            stability: stable
            brief: Demo span.
            attributes:
              - ref: demo.name
                requirement_level: required
              - ref: demo.count
                requirement_level:
                  conditionally_required: when counted
          - id: span.demo.child
            type: span
            span_kind: server
            stability: stable
            brief: Child.
            extends: span.demo
            attributes:
              - ref: demo.count
                requirement_level: opt_in
        """,
    )
    result = load_registry([tmp_path])
    assert result.problems == ()
    reg = result.registry
    child = reg.group("span.demo.child")
    assert child is not None
    assert [(r.key, r.requirement_level.level) for r in child.attributes] == [
        ("demo.name", "required"),
        ("demo.count", "opt_in"),
    ]
    parent = reg.group("span.demo")
    assert parent is not None
    count = parent.attribute_ref("demo.count")
    assert count is not None
    assert (count.requirement_level.level, count.requirement_level.condition) == (
        "conditionally_required",
        "when counted",
    )
    assert [g.id for g in reg.span_groups()] == ["span.demo", "span.demo.child"]


def test_malformed_yaml_other_files_still_load(tmp_path: Path) -> None:
    _write(tmp_path, "a_good.yaml", GOOD_V1)
    _write(tmp_path, "b_bad.yaml", "groups:\n  - id: x\n    brief: [unclosed\n  - id: y\n")
    result = load_registry([tmp_path])
    assert _found(result, tmp_path) == [("b_bad.yaml", 4, "error", "invalid_yaml")]
    assert result.problems[0].message.startswith("invalid YAML:")
    assert result.registry.attribute("demo.name") is not None
    assert len(result.registry.attributes) == 2


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "r.yaml",
        """
        groups:
          - id: registry.demo
            type: attribute_group
            brief: Demo.
            brief: Again.
            attributes:
              - id: demo.flag
                type: boolean
                stability: stable
                brief: A flag.
        """,
    )
    result = load_registry([tmp_path])
    assert _found(result, tmp_path) == [("r.yaml", 5, "error", "duplicate_key")]
    assert result.problems[0].message == "duplicate key 'brief' (first at line 4)"


def test_v1_problem_kinds(tmp_path: Path) -> None:
    _write(tmp_path, "registry.yaml", GOOD_V1)
    _write(
        tmp_path,
        "bad.yaml",
        """
        groups:
          - id: span.bad
            type: span
            stability: stable
            brief: Bad span.
            attributes:
              - ref: demo.missing
              - ref: demo.name
              - ref: demo.name
          - id: registry.more
            type: attribute_group
            brief: More.
            attributes:
              - id: demo.name
                type: string
                stability: stable
                brief: Duplicate.
                examples: [b]
              - id: Demo.Upper
                type: int
                stability: stable
                brief: Bad name.
              - id: demo.weird
                type: strin
                stability: stable
                brief: Bad type.
              - id: demo.nobrief
                type: int
                stability: stable
              - id: demo.nostab
                type: int
                brief: No stability.
              - id: demo.oldstyle
                type: int
                stability: development
                brief: Old.
                deprecated: "Use something else."
              - id: demo.badstab
                type: int
                stability: experimentl
                brief: Typo.
              - id: demo.badreq
                type: int
                stability: stable
                brief: Bad req.
                requirement_level: sometimes
              - id: demo.renamed
                type: int
                stability: stable
                brief: Renamed without target.
                deprecated:
                  reason: renamed
              - id: demo.extra
                type: int
                stability: stable
                brief: Extra field.
                unit: ms
          - id: metric.bad
            type: metric
            stability: stable
            brief: No instrument.
            metric_name: demo.Bad-Name
          - id: group.kind
            type: log_record
            brief: Unknown type.
            attributes:
              - ref: demo.count
          - id: event.noname
            type: event
            stability: stable
            brief: No name.
          - id: span.bad
            type: span
            span_kind: sideways
            stability: stable
            brief: Duplicate id.
            attributes:
              - ref: demo.count
        """,
    )
    result = load_registry([tmp_path])
    assert _found(result, tmp_path) == [
        ("bad.yaml", 2, "warning", "missing_span_kind"),
        ("bad.yaml", 7, "error", "unresolved_ref"),
        ("bad.yaml", 9, "warning", "duplicate_attribute_ref"),
        ("bad.yaml", 19, "error", "invalid_name"),
        ("bad.yaml", 24, "error", "unknown_type"),
        ("bad.yaml", 27, "error", "missing_field"),
        ("bad.yaml", 30, "warning", "missing_stability"),
        ("bad.yaml", 37, "warning", "unstructured_deprecated"),
        ("bad.yaml", 40, "error", "invalid_stability"),
        ("bad.yaml", 46, "error", "invalid_requirement_level"),
        ("bad.yaml", 52, "error", "invalid_deprecated"),
        ("bad.yaml", 57, "error", "unknown_field"),
        ("bad.yaml", 58, "error", "missing_field"),
        ("bad.yaml", 58, "error", "missing_field"),
        ("bad.yaml", 62, "error", "invalid_name"),
        ("bad.yaml", 63, "warning", "missing_stability"),
        ("bad.yaml", 64, "error", "unknown_group_type"),
        ("bad.yaml", 68, "error", "missing_field"),
        ("bad.yaml", 72, "warning", "duplicate_group_id"),
        ("bad.yaml", 74, "error", "invalid_value"),
        # Files load in path order, so the GOOD_V1 definition is the second one.
        ("registry.yaml", 6, "error", "duplicate_attribute"),
    ]
    by_line = {(p.line, p.code): p for p in result.problems}
    assert (
        by_line[(7, "unresolved_ref")].message
        == "group 'span.bad': attribute ref 'demo.missing' does not name an attribute"
    )
    assert by_line[(7, "unresolved_ref")].value == "demo.missing"
    dup = result.problems[-1]
    assert dup.message == f"attribute 'demo.name' is defined more than once (first defined at {tmp_path}/bad.yaml:14)"
    assert by_line[(19, "invalid_name")].value == "Demo.Upper"
    assert by_line[(24, "unknown_type")].message == "attribute 'demo.weird': unknown attribute type 'strin'"
    assert by_line[(24, "unknown_type")].value == "strin"
    assert by_line[(40, "invalid_stability")].value == "experimentl"
    assert by_line[(57, "unknown_field")].message == "unknown field 'unit' in attribute 'demo.extra'"
    assert by_line[(62, "invalid_name")].value == "demo.Bad-Name"
    assert by_line[(64, "unknown_group_type")].value == "log_record"
    assert (
        by_line[(68, "missing_field")].message == "group 'event.noname' is an event but has no 'name' and no 'prefix'"
    )
    assert by_line[(74, "invalid_value")].value == "sideways"
    missing = sorted(p.message for p in result.problems if p.line == 58)
    assert missing == [
        "group 'metric.bad' is a metric but has no 'instrument'",
        "group 'metric.bad' is a metric but has no 'unit'",
    ]
    # What could be loaded still is.
    assert result.registry.attribute("demo.nostab") is not None
    assert result.registry.attribute("demo.weird") is None
    assert result.registry.group("group.kind") is not None


def test_extends_problems(tmp_path: Path) -> None:
    _write(tmp_path, "registry.yaml", GOOD_V1)
    _write(
        tmp_path,
        "ext.yaml",
        """
        groups:
          - id: a
            type: attribute_group
            brief: A.
            extends: b
          - id: b
            type: attribute_group
            brief: B.
            extends: a
          - id: c
            type: attribute_group
            brief: C.
            extends: nowhere
        """,
    )
    result = load_registry([tmp_path])
    assert _found(result, tmp_path) == [
        ("ext.yaml", 9, "error", "extends_cycle"),
        ("ext.yaml", 13, "error", "unresolved_extends"),
    ]
    assert result.problems[0].message == "group 'b': extends 'a' forms a cycle"
    assert result.problems[1].value == "nowhere"


def test_entity_associations_and_names(tmp_path: Path) -> None:
    _write(tmp_path, "registry.yaml", GOOD_V1)
    _write(
        tmp_path,
        "sig.yaml",
        """
        groups:
          - id: entity.thing
            type: entity
            name: thing
            stability: development
            brief: A thing.
            attributes:
              - ref: demo.name
                role: identifying
          - id: metric.one
            type: metric
            metric_name: demo.one
            instrument: counter
            unit: "1"
            stability: development
            brief: One.
            entity_associations: [thing, ghost]
          - id: metric.one.again
            type: metric
            metric_name: demo.one
            instrument: gauge
            unit: "1"
            stability: development
            brief: Same name.
          - id: registry.assoc
            type: attribute_group
            brief: Wrong place.
            entity_associations: [thing]
            attributes:
              - ref: demo.count
        """,
    )
    result = load_registry([tmp_path])
    assert _found(result, tmp_path) == [
        ("sig.yaml", 17, "error", "unresolved_entity_association"),
        ("sig.yaml", 18, "warning", "duplicate_metric_name"),
        ("sig.yaml", 28, "error", "invalid_group"),
    ]
    reg = result.registry
    metric = reg.metric("demo.one")
    assert metric is not None
    assert metric.id == "metric.one"
    assert metric.entity_associations == ("thing", "ghost")
    thing = reg.entity("thing")
    assert thing is not None
    ref = thing.attribute_ref("demo.name")
    assert ref is not None
    assert ref.effective_role == "identifying"


def test_enum_problems(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "enum.yaml",
        """
        groups:
          - id: registry.enum
            type: attribute_group
            brief: Enums.
            attributes:
              - id: demo.color
                stability: stable
                brief: Color.
                type:
                  members:
                    - id: red
                      value: red
                      stability: stable
                    - id: red
                      value: crimson
                      stability: stable
                    - id: green
                      stability: stable
                    - id: blue
                      value: 3
                      stability: stable
                    - id: cyan
                      value: cyan
              - id: demo.level
                stability: stable
                brief: Level.
                type:
                  members:
                    - id: low
                      value: 1
                      stability: stable
                    - id: high
                      value: 2.5
                      stability: stable
        """,
    )
    result = load_registry([tmp_path])
    assert _found(result, tmp_path) == [
        ("enum.yaml", 14, "error", "duplicate_enum_member"),
        ("enum.yaml", 17, "error", "missing_field"),
        ("enum.yaml", 20, "error", "invalid_value"),
        ("enum.yaml", 22, "warning", "missing_stability"),
    ]
    color = result.registry.attribute("demo.color")
    assert color is not None
    assert [m.id for m in color.type.members] == ["red", "blue", "cyan"]  # type: ignore[union-attr]
    level = result.registry.attribute("demo.level")
    assert level is not None
    assert level.type.value_type == "double"  # type: ignore[union-attr]


def test_v2_problem_kinds(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "attrs.yaml",
        """
        file_format: definition/2
        attributes:
          - key: demo.name
            type: string
            stability: stable
            brief: A name.
            examples: [a]
          - key: demo.size
            type: double
            stability: development
          - key: demo.mode
            type: int[][]
            stability: stable
            brief: Bad type.
          - key: demo.Mode
            type: int
            stability: stable
            brief: Bad name.
            colour: red
        """,
    )
    _write(
        tmp_path,
        "signals.yaml",
        """
        file_format: definition/2
        attribute_groups:
          - id: demo.common
            visibility: internal
            attributes:
              - ref: demo.name
              - ref: demo.none
          - id: demo.public
            visibility: secret
            attributes:
              - ref_group: demo.nogroup
        metrics:
          - name: demo.requests
            requirement_level: recommended
            stability: stable
            brief: Requests.
            unit: "{request}"
            attributes:
              - ref_group: demo.common
        metric_refinements:
          - id: metric.demo.ghost.refined
            ref: demo.ghost
        spans:
          - type: demo.call
            kind: upwards
            name:
              note: demo {op}
            stability: stable
            brief: Call.
            requirement_level: recommended
            attributes:
              - ref: demo.name
                requirement_level: required
                sampling_relevant: true
        entities:
          - type: demo.host
            stability: stable
            brief: Host.
            requirement_level: recommended
            identity:
              - ref: demo.name
            description:
              - ref: demo.name
          - type: demo.empty
            stability: stable
            brief: Nothing identifies it.
            requirement_level: recommended
        """,
    )
    result = load_registry([tmp_path])
    assert _found(result, tmp_path) == [
        ("attrs.yaml", 8, "error", "missing_field"),
        ("attrs.yaml", 12, "error", "unknown_type"),
        ("attrs.yaml", 15, "error", "invalid_name"),
        ("attrs.yaml", 19, "error", "unknown_field"),
        ("signals.yaml", 7, "error", "unresolved_ref"),
        ("signals.yaml", 9, "error", "invalid_value"),
        ("signals.yaml", 11, "error", "unresolved_ref_group"),
        ("signals.yaml", 13, "error", "missing_field"),
        ("signals.yaml", 22, "error", "unresolved_extends"),
        ("signals.yaml", 25, "error", "invalid_value"),
        ("signals.yaml", 43, "error", "invalid_entity"),
        ("signals.yaml", 44, "error", "invalid_entity"),
    ]
    by_code = {p.code: p for p in result.problems}
    assert by_code["unknown_type"].value == "int[][]"
    assert by_code["unresolved_extends"].message == (
        "group 'metric.demo.ghost.refined': extends 'metric.demo.ghost' does not name a group"
    )
    assert by_code["unknown_field"].message == "unknown field 'colour' in attribute 'demo.Mode'"
    missing = sorted(p.message for p in result.problems if p.code == "missing_field")
    assert missing == [
        "attribute 'demo.size' is missing required field 'brief'",
        "metric 'demo.requests' is missing required field 'instrument'",
    ]
    reg = result.registry
    requests = reg.metric("demo.requests")
    assert requests is not None
    assert requests.id == "metric.demo.requests"
    assert requests.attribute_keys == ("demo.name",)
    call = reg.group("span.demo.call")
    assert call is not None
    assert call.span_name == "demo {op}"
    assert call.span_kind is None
    name_ref = call.attribute_ref("demo.name")
    assert name_ref is not None
    assert name_ref.sampling_relevant
    assert name_ref.requirement_level.level == "required"


def test_v2_future_requires_signal_requirement_level(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "ev.yaml",
        """
        file_format: definition/2
        attributes:
          - key: demo.id
            type: int
            stability: stable
            brief: Id.
        events:
          - name: demo.happened
            stability: stable
            brief: It happened.
            attributes:
              - ref: demo.id
        """,
    )
    assert load_registry([tmp_path]).problems == ()
    future = load_registry([tmp_path], future=True)
    assert _found(future, tmp_path) == [("ev.yaml", 8, "error", "missing_requirement_level")]
    event = load_registry([tmp_path]).registry.event("demo.happened")
    assert event is not None
    assert event.id == "event.demo.happened"


def test_file_level_problems(tmp_path: Path) -> None:
    _write(tmp_path, "fmt.yaml", "file_format: definition/9\n")
    _write(tmp_path, "list.yaml", "- just\n- a list\n")
    _write(tmp_path, "top.yaml", "schema_url: x\ngroups: []\n")
    _write(tmp_path, "empty.yaml", "")
    _write(tmp_path, ".hidden/ignored.yaml", "not: [valid\n")
    _write(tmp_path, "manifest.yaml", "name: demo\nsemconv_version: 1.2.3\n")
    result = load_registry([tmp_path])
    assert _found(result, tmp_path) == [
        ("fmt.yaml", 1, "error", "unknown_file_format"),
        ("list.yaml", 1, "error", "invalid_value"),
        ("top.yaml", 1, "error", "unknown_field"),
    ]
    assert (result.registry.name, result.registry.version) == ("demo", "1.2.3")
    missing = load_registry([tmp_path / "nope"])
    assert [(p.code, p.level, p.value) for p in missing.problems] == [
        ("registry_not_found", "error", str(tmp_path / "nope"))
    ]


def test_imports(tmp_path: Path) -> None:
    base = tmp_path / "base"
    team = tmp_path / "team"
    _write(base, "registry.yaml", GOOD_V1)
    _write(
        base,
        "metrics.yaml",
        """
        groups:
          - id: metric.demo.latency
            type: metric
            metric_name: demo.latency
            instrument: histogram
            unit: s
            stability: stable
            brief: Latency.
        """,
    )
    _write(
        team,
        "team.yaml",
        """
        imports:
          metrics:
            - demo.*
            - nothing.*
        groups: []
        """,
    )
    result = load_registry([base, team])
    assert _found(result, tmp_path) == [("team/team.yaml", 4, "warning", "unmatched_import")]
    assert result.problems[0].value == "nothing.*"


def test_layering_refs_resolve_across_registries(tmp_path: Path) -> None:
    base = tmp_path / "base"
    team = tmp_path / "team"
    _write(base, "registry.yaml", GOOD_V1)
    _write(
        base,
        "spans.yaml",
        """
        groups:
          - id: span.demo
            type: span
            span_kind: server
            stability: stable
            brief: Demo span.
            attributes:
              - ref: demo.name
        """,
    )
    _write(
        team,
        "team.yaml",
        """
        groups:
          - id: registry.team
            type: attribute_group
            brief: Team attributes.
            attributes:
              - id: team.owner
                type: string
                stability: development
                brief: Owner.
                examples: [me]
              - id: demo.count
                type: double
                stability: development
                brief: Redefined count.
          - id: span.team
            type: span
            span_kind: server
            stability: development
            brief: Team span.
            extends: span.demo
            attributes:
              - ref: demo.name
                requirement_level: required
                brief: The team's name.
              - ref: team.owner
        """,
    )
    result = load_registry([base, team])
    assert _found(result, tmp_path) == [("team/team.yaml", 11, "warning", "attribute_redefined")]
    reg = result.registry
    team_span = reg.group("span.team")
    assert team_span is not None
    name_ref = team_span.attribute_ref("demo.name")
    assert name_ref is not None
    assert name_ref.requirement_level.level == "required"
    assert name_ref.effective_brief == "The team's name."
    assert name_ref.attribute.source is not None
    assert name_ref.attribute.source.file.endswith("base/registry.yaml")
    assert team_span.attribute_keys == ("demo.name", "team.owner")
    count = reg.attribute("demo.count")
    assert count is not None
    assert count.type == "double"
    # Without the base layer the same refs do not resolve.
    alone = load_registry([team])
    assert [(p.code, p.value) for p in alone.problems] == [
        ("unresolved_extends", "span.demo"),
        ("unresolved_ref", "demo.name"),
    ]


def test_layering_on_semconv(tmp_path: Path, semconv_result: LoadResult) -> None:
    _write(
        tmp_path,
        "team.yaml",
        """
        file_format: definition/2
        attributes:
          - key: team.tier
            type: string
            stability: development
            brief: Tier.
            examples: [gold]
        spans:
          - type: team.checkout
            kind: server
            name:
              note: "{http.request.method} {http.route}"
            stability: development
            brief: Checkout.
            requirement_level: recommended
            attributes:
              - ref_group: thread
              - ref: http.request.method
                requirement_level: required
              - ref: team.tier
        metric_refinements:
          - id: metric.team.request.duration
            ref: http.server.request.duration
            attributes:
              - ref: team.tier
                requirement_level: opt_in
        """,
    )
    result = load_registry(["semconv", tmp_path])
    assert result.problems == ()
    reg = result.registry
    assert len(reg.attributes) == len(semconv_result.registry.attributes) + 1
    span = reg.group("span.team.checkout")
    assert span is not None
    assert span.attribute_keys == ("thread.id", "thread.name", "http.request.method", "team.tier")
    method = span.attribute_ref("http.request.method")
    assert method is not None
    assert method.requirement_level.level == "required"
    assert method.attribute == semconv_result.registry.attribute("http.request.method")
    refined = reg.group("metric.team.request.duration")
    assert refined is not None
    assert (refined.metric_name, refined.instrument, refined.unit) == ("http.server.request.duration", "histogram", "s")
    assert refined.attribute_keys[-1] == "team.tier"
    assert reg.metric("http.server.request.duration") is not None
    assert reg.metric("http.server.request.duration").id == "metric.http.server.request.duration"  # type: ignore[union-attr]


def test_more_v1_group_problems(tmp_path: Path) -> None:
    _write(tmp_path, "registry.yaml", GOOD_V1)
    _write(
        tmp_path,
        "groups.yaml",
        """
        groups:
          - id: untyped
            brief: No type.
            attributes:
              - ref: demo.name
          - id: registry.odd
            type: attribute_group
            brief: Odd.
            prefix: demo
            span_kind: client
            attributes:
              - id: demo.both
                ref: demo.name
              - brief: neither
              - id: demo.oldstab
                type: int
                stability: deprecated
                brief: Old stability.
          - id: metric.empty
            type: metric
            metric_name: demo.empty
            instrument: sometimes
            unit: "1"
            stability: development
            brief: Bad instrument.
            deprecated: "gone"
          - id: span.empty
            type: span
            span_kind: client
            stability: development
            brief: Nothing in it.
        """,
    )
    result = load_registry([tmp_path])
    assert _found(result, tmp_path) == [
        ("groups.yaml", 2, "warning", "missing_type"),
        ("groups.yaml", 2, "warning", "missing_stability"),
        ("groups.yaml", 9, "warning", "prefix_used"),
        ("groups.yaml", 10, "error", "invalid_group"),
        ("groups.yaml", 12, "error", "invalid_attribute"),
        ("groups.yaml", 14, "error", "missing_field"),
        ("groups.yaml", 17, "warning", "deprecated_stability"),
        ("groups.yaml", 22, "error", "invalid_value"),
        ("groups.yaml", 26, "warning", "unstructured_deprecated"),
        ("groups.yaml", 27, "warning", "missing_attributes"),
    ]
    metric = result.registry.metric("demo.empty")
    assert metric is not None
    assert metric.deprecated is not None
    assert (metric.deprecated.reason, metric.deprecated.note, metric.deprecated.legacy) == (
        "uncategorized",
        "gone",
        True,
    )
