"""Line-keeping YAML reading and the model's helpers."""

from __future__ import annotations

from types import MappingProxyType

from knhk_telemetry.model.schema import ValueType
from knhk_telemetry.semconv.model import (
    Attribute,
    EnumMember,
    EnumType,
    Registry,
    element_type,
    is_array_type,
    type_value_kind,
)
from knhk_telemetry.semconv.yamlnodes import YList, YMap, parse_yaml


def test_lines_and_yaml_1_2_scalars() -> None:
    doc, errors = parse_yaml("a: yes\nb: true\nc:\n  - 1_000\n  - 1:20\n  - 0x10\n  - .inf\nd: ~\ne: '3'\n")
    assert errors == []
    assert isinstance(doc, YMap)
    assert doc == {"a": "yes", "b": True, "c": [1000, "1:20", 16, float("inf")], "d": None, "e": "3"}
    assert doc.key_lines == {"a": 1, "b": 2, "c": 3, "d": 8, "e": 9}
    seq = doc["c"]
    assert isinstance(seq, YList)
    assert seq.item_lines == [4, 5, 6, 7]
    assert doc.line_of("zzz") == 1


def test_merge_keys_and_anchors() -> None:
    doc, errors = parse_yaml("base: &b\n  x: 1\n  y: 2\nchild:\n  <<: *b\n  y: 3\n")
    assert errors == []
    assert isinstance(doc, YMap)
    assert doc["child"] == {"x": 1, "y": 3}


def test_bad_yaml_reports_line_and_text() -> None:
    doc, errors = parse_yaml("a: 1\nb: [1, 2\nc: 3\n")
    assert doc is None
    assert len(errors) == 1
    assert errors[0].code == "invalid_yaml"
    assert errors[0].line == 3
    doc, errors = parse_yaml("a: 1\n---\nb: 2\n")
    assert doc is None
    assert errors[0].code == "invalid_yaml"
    assert parse_yaml("") == (None, [])


def test_type_helpers() -> None:
    assert type_value_kind("boolean") is ValueType.BOOL
    assert type_value_kind("double[]") is ValueType.ARRAY
    assert type_value_kind("template[int]") is ValueType.INT
    assert type_value_kind("any") is None
    assert type_value_kind("template[any]") is None
    assert element_type("template[boolean[]]") == "boolean"
    assert element_type("string") is None
    assert is_array_type("int[]")
    assert not is_array_type("template[int]")
    ints = EnumType((EnumMember("a", 1), EnumMember("b", 2)))
    assert ints.value_type == "int"
    assert type_value_kind(ints) is ValueType.INT
    mixed = EnumType((EnumMember("a", 1), EnumMember("b", 2.5)))
    assert mixed.value_type == "double"
    bools = EnumType((EnumMember("t", True),))
    assert bools.value_type == "boolean"
    assert bools.values == frozenset({True})


def test_registry_template_longest_match() -> None:
    short = Attribute("a.b", "template[string]")
    long = Attribute("a.b.c", "template[int]")
    reg = Registry(attributes=MappingProxyType({"a.b": short, "a.b.c": long}), templates=(long, short))
    assert reg.template_for("a.b.c.d") is long
    assert reg.template_for("a.b.x") is short
    assert reg.template_for("a.bc") is None
    assert reg.attribute("a.b") is short
    assert reg.metric("m") is None
    assert reg.span_groups() == ()
