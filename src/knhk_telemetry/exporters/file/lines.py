"""The OTLP/JSON lines file format: one ``Export*ServiceRequest`` JSON document per line.

Shared by the ``file`` exporter (writer), the ``otlpjsonfile`` receiver (tailer) and offline
commands (whole-file reader), so that all three agree on one format:

- each line is one compact OTLP/JSON request (``{"resourceSpans": [...]}``, ``resourceMetrics``
  or ``resourceLogs``); the signal of a line is its top-level key, so one file may mix signals;
- a file is plain, or one gzip / zstd *stream* of those lines (possibly several gzip members or
  zstd frames back to back, as appending produces). Compression is recognised by the magic
  bytes, not the file name, so ``gzip -d`` / ``zstd -d`` and this module read the same files.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import zstandard

from knhk_telemetry.component import Signal
from knhk_telemetry.errors import DecodeError

Compression = Literal["none", "gzip", "zstd"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: bytes read from a file at a time
CHUNK_SIZE = 1 << 20

_KEYS: dict[str, Signal] = {
    "resourceSpans": "traces",
    "resourceMetrics": "metrics",
    "resourceLogs": "logs",
    # the protobuf field names, which protobuf's JSON parser also accepts
    "resource_spans": "traces",
    "resource_metrics": "metrics",
    "resource_logs": "logs",
}
_FIRST_KEY = re.compile(rb'\s*\{\s*"(' + b"|".join(k.encode() for k in _KEYS) + rb')"\s*:')


def detect_signal(line: bytes) -> Signal | None:
    """The signal of one OTLP/JSON line by its top-level key, or None when it has none.

    The common case (the resource key comes first) is a regex on the line's head; otherwise
    the line is parsed to look at its keys (None too when it is not a JSON object).

    >>> detect_signal(b'{"resourceLogs":[]}')
    'logs'
    """
    m = _FIRST_KEY.match(line)
    if m is not None:
        return _KEYS[m.group(1).decode()]
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    if isinstance(doc, dict):
        for key in doc:
            if key in _KEYS:
                return _KEYS[key]
    return None


def sniff_compression(head: bytes) -> Compression | None:
    """``gzip``/``zstd``/``none`` from a file's first bytes; None while too few bytes to tell."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if not head or (len(head) < len(ZSTD_MAGIC) and (GZIP_MAGIC.startswith(head) or ZSTD_MAGIC.startswith(head))):
        return None
    return "none"


class Decompressor:
    """Incremental decompression of a gzip (multi-member) or zstd (multi-frame) stream.

    ``feed`` takes raw bytes as they appear in a file and returns what they decompress to,
    so a file that is still being written (flushed at block boundaries) can be tailed.
    """

    __slots__ = ("_gzip", "_zstd", "kind")

    def __init__(self, kind: Literal["gzip", "zstd"]) -> None:
        self.kind = kind
        self._gzip = zlib.decompressobj(wbits=31) if kind == "gzip" else None
        self._zstd = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True) if kind == "zstd" else None

    def feed(self, data: bytes) -> bytes:
        """Decompressed bytes of ``data``; raises ``DecodeError`` on a corrupt stream."""
        try:
            if self._zstd is not None:
                return self._zstd.decompress(data)
            return self._feed_gzip(data)
        except (zlib.error, zstandard.ZstdError) as exc:
            raise DecodeError(f"corrupt {self.kind} stream: {exc}") from exc

    def _feed_gzip(self, data: bytes) -> bytes:
        assert self._gzip is not None
        out: list[bytes] = []
        while data:
            if self._gzip.eof:  # a new member follows the finished one
                self._gzip = zlib.decompressobj(wbits=31)
            out.append(self._gzip.decompress(data))
            data = self._gzip.unused_data if self._gzip.eof else b""
        return b"".join(out)


#: marks a line that was longer than ``max_line_bytes`` and has been discarded
TOO_LONG = None


class LineBuffer:
    """Splits a byte stream into lines; an unfinished last line waits for its newline.

    A line longer than ``max_line_bytes`` (0: no limit) is discarded as it arrives and
    reported as ``TOO_LONG`` (None) once its newline is seen, so memory stays bounded.
    """

    __slots__ = ("_discarding", "_pending", "max_line_bytes")

    def __init__(self, max_line_bytes: int = 0) -> None:
        self.max_line_bytes = max_line_bytes
        self._pending = b""
        self._discarding = False

    @property
    def rest(self) -> bytes:
        """The unfinished last line (empty while a too-long line is being discarded)."""
        return self._pending

    def push(self, data: bytes) -> list[bytes | None]:
        """Complete lines (without the newline) found so far, in order."""
        if not data:
            return []
        parts = data.split(b"\n")
        out: list[bytes | None] = []
        last = len(parts) - 1
        for i, part in enumerate(parts):
            if i == last:
                self._keep(part)
                break
            if self._discarding:
                self._discarding = False
                out.append(TOO_LONG)
                continue
            line = self._pending + part if self._pending else part
            self._pending = b""
            if self.max_line_bytes and len(line) > self.max_line_bytes:
                out.append(TOO_LONG)
            else:
                out.append(line)
        return out

    def _keep(self, part: bytes) -> None:
        if self._discarding:
            return
        pending = self._pending + part if self._pending else part
        if self.max_line_bytes and len(pending) > self.max_line_bytes:
            self._pending = b""
            self._discarding = True
        else:
            self._pending = pending

    def reset(self) -> None:
        self._pending = b""
        self._discarding = False


def read_otlp_json_lines(
    path: str | Path,
    *,
    on_unknown: Callable[[int, bytes], None] | None = None,
) -> Iterator[tuple[Signal, bytes]]:
    """``(signal, line)`` for every OTLP/JSON line of a plain, gzip or zstd file.

    Blank lines are skipped; a last line without its newline is still read. A line with no
    ``resourceSpans``/``resourceMetrics``/``resourceLogs`` key raises ``DecodeError`` naming
    ``path:line``, unless ``on_unknown(line_number, line)`` is given to take it instead.
    Decode each line with ``knhk_telemetry.otlp.json.decode_json(signal, line)``.
    """
    name = str(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the with below; open errors are mapped first
    except OSError as exc:
        raise DecodeError(f"{name}: cannot open: {exc.strerror or exc}") from exc
    with fh:
        chunk = fh.read(CHUNK_SIZE)
        kind = sniff_compression(chunk) or "none"
        decompressor = Decompressor(kind) if kind != "none" else None
        buffer = LineBuffer()
        lineno = 0
        while chunk:
            try:
                data = decompressor.feed(chunk) if decompressor is not None else chunk
            except DecodeError as exc:
                raise DecodeError(f"{name}: {exc}") from exc
            for line in buffer.push(data):
                lineno += 1
                assert line is not None  # no line limit here
                item = _classify(name, lineno, line, on_unknown)
                if item is not None:
                    yield item
            chunk = fh.read(CHUNK_SIZE)
        if buffer.rest:
            item = _classify(name, lineno + 1, buffer.rest, on_unknown)
            if item is not None:
                yield item


def _classify(
    name: str, lineno: int, line: bytes, on_unknown: Callable[[int, bytes], None] | None
) -> tuple[Signal, bytes] | None:
    line = line.strip()
    if not line:
        return None
    signal = detect_signal(line)
    if signal is not None:
        return signal, line
    if on_unknown is None:
        raise DecodeError(
            f"{name}:{lineno}: not an OTLP/JSON request (no resourceSpans, resourceMetrics or resourceLogs key)"
        )
    on_unknown(lineno, line)
    return None
