"""Re-encode a protobuf message the way other (valid) encoders may: shuffled field order,
unknown fields of every wire type at every level, a known field number with another wire
type, scalars written twice (the last wins), singular submessages split in two occurrences
(protobuf merges them) and packed repeated fields written unpacked.

Every rewrite keeps the message's meaning for a conforming parser, so the reference and the
compiled decoder must decode the result to the same batch as the original.
"""

from __future__ import annotations

import random
import struct
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

_WIRE = {
    FieldDescriptor.TYPE_DOUBLE: 1,
    FieldDescriptor.TYPE_FLOAT: 5,
    FieldDescriptor.TYPE_INT64: 0,
    FieldDescriptor.TYPE_UINT64: 0,
    FieldDescriptor.TYPE_INT32: 0,
    FieldDescriptor.TYPE_FIXED64: 1,
    FieldDescriptor.TYPE_FIXED32: 5,
    FieldDescriptor.TYPE_BOOL: 0,
    FieldDescriptor.TYPE_UINT32: 0,
    FieldDescriptor.TYPE_ENUM: 0,
    FieldDescriptor.TYPE_SFIXED32: 5,
    FieldDescriptor.TYPE_SFIXED64: 1,
    FieldDescriptor.TYPE_SINT32: 0,
    FieldDescriptor.TYPE_SINT64: 0,
}


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def tag(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, int, bytes]]:
    """``(field, wire type, raw value)`` of every field of a valid message, in order."""
    out = []
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        field, wire = key >> 3, key & 7
        start = pos
        if wire == 0:
            _, pos = read_varint(data, pos)
            out.append((field, wire, data[start:pos]))
        elif wire == 1:
            pos += 8
            out.append((field, wire, data[start:pos]))
        elif wire == 5:
            pos += 4
            out.append((field, wire, data[start:pos]))
        elif wire == 2:
            n, pos = read_varint(data, pos)
            out.append((field, wire, data[pos : pos + n]))
            pos += n
        elif wire == 3:  # a group: keep its content raw, up to the matching end tag
            depth = 1
            while depth:
                key, pos = read_varint(data, pos)
                w = key & 7
                if w == 3:
                    depth += 1
                elif w == 4:
                    depth -= 1
                elif w == 0:
                    _, pos = read_varint(data, pos)
                elif w == 1:
                    pos += 8
                elif w == 5:
                    pos += 4
                else:
                    n, pos = read_varint(data, pos)
                    pos += n
                end = pos
            out.append((field, wire, data[start : end - len(tag(field, 4))]))
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return out


def encode_field(number: int, wire: int, raw: bytes) -> bytes:
    """A field as ``fields`` returned it, encoded again."""
    if wire == 2:
        return tag(number, 2) + varint(len(raw)) + raw
    if wire == 3:
        return tag(number, 3) + raw + tag(number, 4)
    return tag(number, wire) + raw


def unknown_field(rng: random.Random, desc: Descriptor, depth: int = 0) -> bytes:
    """A field unknown to ``desc``: a new number, or a known number with another wire type."""
    used = {f.number for f in desc.fields}
    if used and rng.random() < 0.3:
        f = desc.fields_by_number[rng.choice(sorted(used))]
        expected = 2 if f.type in (f.TYPE_STRING, f.TYPE_BYTES, f.TYPE_MESSAGE) else _WIRE[f.type]
        number = f.number
        wire = rng.choice([w for w in (0, 1, 2, 5) if w != expected and not (w == 2 and f.is_repeated)])
    else:
        number = rng.choice([n for n in (*range(1, 40), 1000, 65535, 2**29 - 1) if n not in used])
        wire = rng.choice((0, 1, 2, 3, 5))
    if wire == 0:
        return tag(number, 0) + varint(rng.choice((0, 1, 300, 2**63, 2**64 - 1)))
    if wire == 1:
        return tag(number, 1) + rng.randbytes(8)
    if wire == 5:
        return tag(number, 5) + rng.randbytes(4)
    if wire == 2:
        payload = rng.randbytes(rng.randrange(0, 6))
        return tag(number, 2) + varint(len(payload)) + payload
    inner = b"".join(unknown_field(rng, desc, depth + 1) for _ in range(rng.randrange(0, 3 if depth < 2 else 1)))
    return tag(number, 3) + inner + tag(number, 4)


def _merge_keep_order(rng: random.Random, groups: list[list[bytes]]) -> list[bytes]:
    """Interleave the groups at random, keeping each group's own order."""
    out: list[bytes] = []
    live = [list(g) for g in groups if g]
    while live:
        g = rng.choice(live)
        out.append(g.pop(0))
        if not g:
            live.remove(g)
    return out


def rewrite(data: bytes, desc: Descriptor, rng: random.Random) -> bytes:
    """``data`` (a valid message of type ``desc``) re-encoded with the variations above."""
    by_field: dict[int, list[bytes]] = {}
    for number, wire, raw in fields(data):
        f = desc.fields_by_number.get(number)
        chunks = by_field.setdefault(number, [])
        if f is None:
            chunks.append(encode_field(number, wire, raw))
            continue
        if f.type == f.TYPE_MESSAGE:
            inner = rewrite(raw, f.message_type, rng)
            if not f.is_repeated and rng.random() < 0.3:
                parts = fields(inner)  # split into two occurrences: protobuf merges them
                cut = rng.randrange(0, len(parts) + 1)
                first = _join(parts[:cut])
                chunks.append(tag(number, 2) + varint(len(first)) + first)
                inner = _join(parts[cut:])
            chunks.append(tag(number, 2) + varint(len(inner)) + inner)
            continue
        if wire == 2 and f.is_repeated and f.type not in (f.TYPE_STRING, f.TYPE_BYTES) and rng.random() < 0.5:
            chunks.extend(_unpacked(number, f, raw))
            continue
        encoded = tag(number, wire) + (varint(len(raw)) + raw if wire == 2 else raw)
        if not f.is_repeated and rng.random() < 0.2:
            chunks.append(_other_value(number, f, wire, rng))  # an earlier value the last one replaces
        chunks.append(encoded)
    groups = list(by_field.values())
    for _ in range(rng.randrange(0, 3)):
        groups.append([unknown_field(rng, desc)])
    return b"".join(_merge_keep_order(rng, groups))


def _join(parts: list[tuple[int, int, bytes]]) -> bytes:
    return b"".join(encode_field(n, w, r) for n, w, r in parts)


def _unpacked(number: int, f: FieldDescriptor, raw: bytes) -> list[bytes]:
    wire = _WIRE[f.type]
    if wire == 1:
        return [tag(number, 1) + raw[i : i + 8] for i in range(0, len(raw), 8)]
    if wire == 5:
        return [tag(number, 5) + raw[i : i + 4] for i in range(0, len(raw), 4)]
    out, pos = [], 0
    while pos < len(raw):
        start = pos
        _, pos = read_varint(raw, pos)
        out.append(tag(number, 0) + raw[start:pos])
    return out


def _other_value(number: int, f: FieldDescriptor, wire: int, rng: random.Random) -> bytes:
    if wire == 0:
        return tag(number, 0) + varint(rng.choice((0, 1, 7)))
    if wire == 1:
        return tag(number, 1) + struct.pack("<q", rng.randrange(-5, 5))
    if wire == 5:
        return tag(number, 5) + struct.pack("<i", rng.randrange(-5, 5))
    payload: Any = b"x" if f.type != f.TYPE_BYTES else rng.randbytes(3)
    return tag(number, 2) + varint(len(payload)) + payload
