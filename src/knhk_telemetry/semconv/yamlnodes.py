"""YAML loading that keeps line numbers, so every registry problem can name file and line.

PyYAML's constructors drop position information; we compose the node graph (in C when libyaml is
available) and convert it ourselves into :class:`YMap`/:class:`YList`, plain dict/list subclasses
that remember the line of the collection and of each key/item. Scalars follow YAML 1.2 core-schema
rules as Weaver (serde_yaml) does: only ``true``/``false`` are booleans, ``yes``/``on`` stay strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["YList", "YMap", "YamlError", "parse_yaml"]

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

_TAG = "tag:yaml.org,2002:"
_SCALARS = SafeConstructor()


class YMap(dict[str, object]):
    """A YAML mapping: ``line`` of the mapping, ``key_lines[key]`` of each key (1-based)."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        """Line of ``key`` if present, else the mapping's line."""
        return self.key_lines.get(key, self.line)


class YList(list[object]):
    """A YAML sequence: ``line`` of the sequence, ``item_lines[i]`` of each item (1-based)."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


@dataclass(frozen=True, slots=True)
class YamlError:
    """A problem found while reading YAML: ``code`` is ``invalid_yaml`` or ``duplicate_key``."""

    code: str
    message: str
    line: int
    value: str | None = None


def _scalar(node: ScalarNode) -> object:  # noqa: PLR0911 - one return per YAML tag
    tag = node.tag
    value = node.value
    if not tag.startswith(_TAG):
        return value
    kind = tag[len(_TAG) :]
    if kind == "str":
        return value
    if kind == "null":
        return None
    if kind == "bool":
        low = value.lower()
        return low == "true" if low in ("true", "false") else value
    if kind == "int":
        try:
            return int(value.replace("_", ""), 10)
        except ValueError:
            pass
        if ":" in value:  # YAML 1.1 sexagesimal: a string in YAML 1.2
            return value
        try:
            return _SCALARS.construct_yaml_int(node)
        except ValueError:
            return value
    if kind == "float":
        try:
            return _SCALARS.construct_yaml_float(node)
        except ValueError:
            return value
    return value


class _Converter:
    def __init__(self) -> None:
        self.errors: list[YamlError] = []
        self._active: set[int] = set()

    def convert(self, node: Node) -> object:
        if isinstance(node, ScalarNode):
            return _scalar(node)
        ident = id(node)
        if ident in self._active:
            self.errors.append(YamlError("invalid_yaml", "recursive YAML alias", node.start_mark.line + 1))
            return None
        self._active.add(ident)
        try:
            if isinstance(node, SequenceNode):
                seq = YList(node.start_mark.line + 1)
                for item in node.value:
                    seq.append(self.convert(item))
                    seq.item_lines.append(item.start_mark.line + 1)
                return seq
            if isinstance(node, MappingNode):
                return self._mapping(node)
        finally:
            self._active.discard(ident)
        return None  # pragma: no cover - no other node kinds

    def _mapping(self, node: MappingNode) -> YMap:
        out = YMap(node.start_mark.line + 1)
        merged: list[YMap] = []
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                value = self.convert(value_node)
                if isinstance(value, YMap):
                    merged.append(value)
                elif isinstance(value, list):
                    merged.extend(v for v in value if isinstance(v, YMap))
                continue
            key_line = key_node.start_mark.line + 1
            if isinstance(key_node, ScalarNode):
                key = str(key_node.value)
            else:
                self.errors.append(YamlError("invalid_yaml", "mapping key is not a scalar", key_line))
                continue
            if key in out:
                self.errors.append(
                    YamlError(
                        "duplicate_key",
                        f"duplicate key '{key}' (first at line {out.key_lines[key]})",
                        key_line,
                        key,
                    )
                )
                continue
            out[key] = self.convert(value_node)
            out.key_lines[key] = key_line
        for m in merged:
            for k, v in m.items():
                if k not in out:
                    out[k] = v
                    out.key_lines[k] = m.key_lines.get(k, m.line)
        return out


def parse_yaml(text: str) -> tuple[object, list[YamlError]]:
    """Parse one YAML document; returns (value or None, errors). Never raises on bad YAML."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "malformed YAML"
        snippet = _line_text(text, line)
        return None, [YamlError("invalid_yaml", f"invalid YAML: {what}", line, snippet)]
    except yaml.YAMLError as exc:
        return None, [YamlError("invalid_yaml", f"invalid YAML: {exc}", 1)]
    if node is None:
        return None, []
    conv = _Converter()
    return conv.convert(node), conv.errors


def _line_text(text: str, line: int) -> str | None:
    lines = text.splitlines()
    if 1 <= line <= len(lines):
        return lines[line - 1].strip() or None
    return None
