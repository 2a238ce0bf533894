"""The YAML configuration, shaped like the OpenTelemetry Collector's.

A config names components by id (``type[/name]``) under ``receivers``, ``processors``,
``exporters`` and ``connectors``, and wires them into pipelines under ``service.pipelines``
(pipeline ids are ``traces|metrics|logs[/name]``). ``service.telemetry`` configures the
self-metrics endpoint and logging; ``service.pipeline`` holds the queue/batcher knobs every
pipeline shares (our own section, not the Collector's).

Why a hand-walked YAML tree instead of ``yaml.safe_load``: every error must name the key path
*and* the file and line (``cfg.yaml:12: exporters.parquet/main.compression: input should be
...``), so the document is composed with its node marks and each key path is mapped to a line.

Values may reference the environment as the Collector does: ``${env:NAME}``, ``${NAME}`` and
``${env:NAME:-default}`` (the default is used only when the variable is unset); ``$$`` stands
for a literal ``$``. A plain (unquoted) scalar that is exactly one reference takes the type
of the substituted text (``8192`` is an int, ``true`` a bool); anything else stays a string.

Example::

    >>> from knhk_telemetry.config import parse_duration, format_duration
    >>> parse_duration("1h30m"), format_duration(0.2)
    (5400.0, '200ms')
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar, cast

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, StrictInt, field_validator
from pydantic import ValidationError as PydanticValidationError

from knhk_telemetry.component import REGISTRY, SIGNALS, ComponentConfig, Factory, Kind, Registry, Signal
from knhk_telemetry.errors import ConfigError

# --------------------------------------------------------------------------- durations, sizes

_DURATION_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # micro sign, as Go accepts
    "μs": 1e-6,  # Greek mu, as Go accepts
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_UNIT = r"(?:ns|us|µs|μs|ms|s|m|h)"  # "ms" before "m": alternation is ordered
_DURATION_RE = re.compile(rf"(?:{_NUMBER}{_UNIT})+")
_DURATION_PART_RE = re.compile(rf"({_NUMBER})({_UNIT})")
_SECONDS_RE = re.compile(_NUMBER)
_DURATION_HINT = "expected a number of seconds or a duration such as '200ms', '5s', '1m' or '1h30m'"


def parse_duration(value: object) -> float:
    """Seconds from a Collector-style duration (``"200ms"``, ``"1h30m"``) or a number of seconds.

    Go's ``time.ParseDuration`` syntax (units ns, us, ms, s, m, h; fractions allowed), because
    that is what Collector configs contain; negative and non-finite values are refused.
    """
    seconds: float
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _SECONDS_RE.fullmatch(text):
            seconds = float(text)
        elif _DURATION_RE.fullmatch(text):
            seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART_RE.findall(text))
        else:
            raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    else:
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HINT}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must be a finite number of seconds, 0 or more")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact Go-style spelling of ``seconds`` (``0.2`` -> ``"200ms"``), to the nanosecond."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
        ("ns", 1),
    ):
        count, nanos = divmod(nanos, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?", re.IGNORECASE)
_SIZE_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(value: object) -> int:
    """Bytes from a size: an integer, or ``"64MiB"``/``"1.5GB"``/``"512k"`` (KiB = 1024, KB = K = 1000)."""
    if isinstance(value, bool):
        raise ValueError(f"invalid size {value!r}: expected bytes or a size such as '512KiB', '64MB'")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE_RE.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"invalid size {value!r}: expected bytes or a size such as '512KiB', '64MB'")
        unit = (match.group(2) or "b").lower()
        factor = 1 if unit == "b" else (1024 if "i" in unit else 1000) ** _SIZE_POWERS[unit[0]]
        size = int(float(match.group(1)) * factor)
    if size < 0:
        raise ValueError(f"invalid size {value!r}: must be 0 or more")
    return size


#: A duration in seconds (float); YAML accepts "200ms", "5s", "1h30m" or a number of seconds.
#: Dumps back to the Go spelling. Component configs may use it too.
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
#: A size in bytes (int); YAML accepts an integer or "64MiB", "1GB".
Size = Annotated[int, BeforeValidator(parse_size)]

_HOST_PORT_RE = re.compile(r"(?P<host>\[[^\]]*\]|[^\[\]]*):(?P<port>[0-9]{1,5})")


def split_host_port(address: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` -> ``("127.0.0.1", 9464)``; IPv6 hosts in brackets; ``":9464"`` = all interfaces."""
    match = _HOST_PORT_RE.fullmatch(address)
    if match is None:
        raise ValueError(f"invalid address {address!r}: expected host:port, e.g. 127.0.0.1:9464 or [::1]:9464")
    host, port = match.group("host"), int(match.group("port"))
    if port > 65535:
        raise ValueError(f"invalid address {address!r}: port must be 0..65535")
    if host.startswith("["):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"invalid address {address!r}: put an IPv6 host in brackets, e.g. [::1]:9464")
    return host, port


# --------------------------------------------------------------------------- settings models


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class MetricsTelemetrySettings(_Settings):
    """``service.telemetry.metrics``: where the Prometheus ``/metrics`` of self-metrics is served."""

    #: host:port to listen on; port 0 picks a free port; ":9464" listens on every interface
    address: str = "127.0.0.1:9464"
    #: false = no self-metrics endpoint at all
    enabled: bool = True

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        split_host_port(value)
        return value


class LogsTelemetrySettings(_Settings):
    """``service.telemetry.logs``: the service's own log output."""

    level: Literal["debug", "info", "warn", "error"] = "info"
    #: "console" for people, "json" for log shippers
    encoding: Literal["json", "console"] = "console"


class TelemetrySettings(_Settings):
    """``service.telemetry``: self-observability of the running service."""

    metrics: MetricsTelemetrySettings = MetricsTelemetrySettings()
    logs: LogsTelemetrySettings = LogsTelemetrySettings()


Backpressure = Literal["block", "drop_newest", "drop_oldest", "adaptive_sampling"]


class PipelineSettings(_Settings):
    """``service.pipeline``: queue and batcher knobs shared by every pipeline."""

    #: items (spans, data points, log records) the queue holds before backpressure applies
    channel_capacity: StrictInt = Field(default=100_000, ge=1)
    #: items per batch handed to processors; a batch is cut earlier at flush_interval
    batch_size: StrictInt = Field(default=8192, ge=1)
    #: seconds a partial batch may wait before it is flushed (> 0)
    flush_interval: Duration = Field(default=0.2, gt=0)
    #: what a producer meets when the queue is full
    backpressure: Backpressure = "block"
    #: seconds a producer waits under "block" before BackpressureError; 0 = do not wait
    block_timeout: Duration = 5.0
    #: resident memory (MiB) of the process above which data is refused (gRPC
    #: RESOURCE_EXHAUSTED, HTTP 503) until it falls below the limit minus the spike; 0 = no limit
    memory_limit_mib: StrictInt = Field(default=0, ge=0)
    #: headroom (MiB) under the limit at which data is accepted again; 0 = a fifth of the limit
    memory_spike_limit_mib: StrictInt = Field(default=0, ge=0)
    #: seconds between memory checks (a background thread; producers only read a flag)
    memory_check_interval: Duration = Field(default=0.1, gt=0)


class _PipelineBody(_Settings):
    receivers: tuple[str, ...] = ()
    processors: tuple[str, ...] = ()
    exporters: tuple[str, ...] = ()


# --------------------------------------------------------------------------- result types


@dataclass(frozen=True, slots=True, kw_only=True)
class ComponentSpec:
    """One configured component instance: ``id`` is ``type`` or ``type/name``."""

    id: str
    type: str
    #: the part after "/", "" when the id has none
    name: str
    kind: Kind
    factory: Factory
    config: ComponentConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineSpec:
    """One pipeline: ids of its receivers (or connectors), processors in order, exporters (or connectors)."""

    id: str
    signal: Signal
    name: str
    receivers: tuple[str, ...]
    processors: tuple[str, ...]
    exporters: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    """``service``: telemetry settings, the pipelines by id, and the shared pipeline knobs."""

    telemetry: TelemetrySettings
    pipelines: Mapping[str, PipelineSpec]
    pipeline: PipelineSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """A validated configuration; components are keyed by id within their section."""

    receivers: Mapping[str, ComponentSpec]
    processors: Mapping[str, ComponentSpec]
    exporters: Mapping[str, ComponentSpec]
    connectors: Mapping[str, ComponentSpec]
    service: ServiceConfig
    #: the file (or "<string>") the config came from
    source: str = field(default="<string>", compare=False)
    #: 1-based line of each key path ("exporters.parquet.path"), for errors raised later
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def locate(self, path: str) -> str:
        """``"file.yaml:12"`` for the key path (or its nearest ancestor in the file); the file otherwise."""
        line = _nearest_line(self.lines, path)
        return self.source if line is None else f"{self.source}:{line}"

    def error(self, message: str, path: str) -> ConfigError:
        """A ConfigError located at ``path`` in the source, for problems found after parsing."""
        return ConfigError(message, path=path, source=self.locate(path))

    def section(self, kind: Kind) -> Mapping[str, ComponentSpec]:
        """The components of one kind by id."""
        return {
            "receiver": self.receivers,
            "processor": self.processors,
            "exporter": self.exporters,
            "connector": self.connectors,
        }[kind]


# --------------------------------------------------------------------------- public functions


def parse_config(
    text: str,
    source: str = "<string>",
    *,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Parse and validate YAML text; ``source`` names it in errors; ``environ`` defaults to os.environ."""
    return _Parser(
        text,
        source,
        REGISTRY if registry is None else registry,
        os.environ if environ is None else environ,
    ).parse()


def load_config(
    path: str | os.PathLike[str],
    *,
    registry: Registry | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, parse and validate a YAML config file."""
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", source=source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file is not UTF-8 text ({exc.reason} at byte {exc.start})", source=source) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", source=source) from exc
    return parse_config(text, source, registry=registry, environ=environ)


DEFAULT_CONFIG_SOURCE = "knhk_telemetry/default_config.yaml"


def default_config_yaml() -> str:
    """The text of the packaged default configuration."""
    return resources.files("knhk_telemetry").joinpath("default_config.yaml").read_text(encoding="utf-8")


def default_config(*, registry: Registry | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The packaged default configuration, parsed and validated."""
    return parse_config(default_config_yaml(), DEFAULT_CONFIG_SOURCE, registry=registry, environ=environ)


def config_to_yaml(config: Config) -> str:
    """YAML that parses back to an equal Config: every default spelled out, ``$`` escaped as ``$$``."""
    doc: dict[str, Any] = {}
    for section in _SECTIONS:
        specs: Mapping[str, ComponentSpec] = getattr(config, section)
        doc[section] = {cid: spec.config.model_dump(mode="json") for cid, spec in specs.items()}
    doc["service"] = {
        "telemetry": config.service.telemetry.model_dump(mode="json"),
        "pipelines": {
            pid: {"receivers": list(p.receivers), "processors": list(p.processors), "exporters": list(p.exporters)}
            for pid, p in config.service.pipelines.items()
        },
        "pipeline": config.service.pipeline.model_dump(mode="json"),
    }
    return yaml.safe_dump(_escape_dollars(doc), sort_keys=False, allow_unicode=True)


dump = config_to_yaml


# --------------------------------------------------------------------------- the parser

_SECTIONS: dict[str, Kind] = {
    "receivers": "receiver",
    "processors": "processor",
    "exporters": "exporter",
    "connectors": "connector",
}
_TOP_LEVEL = (*_SECTIONS, "service")
_SERVICE_KEYS = ("telemetry", "pipelines", "pipeline")
_ID_RE = re.compile(r"(?P<type>[a-zA-Z][0-9a-zA-Z_]{0,62})(?:/(?P<name>\S+))?")
_PIPELINE_ID_RE = re.compile(r"(?P<signal>[^/]*)(?:/(?P<name>.*))?", re.DOTALL)
_REF_RE = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_REF_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):(?!-)")
_REF_BODY_RE = re.compile(r"(?:env:)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
_INT_RE = re.compile(r"[-+]?[0-9]+")
_FLOAT_RE = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")
_MAP_TAG = "tag:yaml.org,2002:map"
_M = TypeVar("_M", bound=BaseModel)
_SEQ_TAG = "tag:yaml.org,2002:seq"


def _nearest_line(lines: Mapping[str, int], path: str) -> int | None:
    """Line of ``path``, else of its longest ancestor present in ``lines`` (``a.b[2].c`` -> ``a.b[2]`` ...)."""
    line = lines.get(path)
    if line is not None:
        return line
    best: tuple[int, int] | None = None
    for known, known_line in lines.items():
        if path.startswith(known) and path[len(known)] in ".[" and (best is None or len(known) > best[0]):
            best = (len(known), known_line)
    return None if best is None else best[1]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _article(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def _typed(text: str) -> Any:
    """The type a plain YAML scalar would take (int, float, bool), else the string itself."""
    if _INT_RE.fullmatch(text):
        return int(text)
    if _FLOAT_RE.fullmatch(text):
        return float(text)
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    return text


def _escape_dollars(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {k: _escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_dollars(v) for v in value]
    return value


def _field_names(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys the (nested) model at ``loc`` accepts, for "unknown key" hints; [] when unknown."""
    current: type[BaseModel] = model
    for part in loc:
        if not isinstance(part, str) or part not in current.model_fields:
            return []
        annotation = current.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        current = annotation
    return [info.alias or name for name, info in current.model_fields.items()]


class _Parser:
    """One parse: the YAML tree with a line for every key path, then section-by-section checks."""

    def __init__(self, text: str, source: str, registry: Registry, environ: Mapping[str, str]) -> None:
        self.text = text
        self.source = source
        self.registry = registry
        self.environ = environ
        self.lines: dict[str, int] = {}
        self._active: set[int] = set()

    # -- errors

    def _locate(self, path: str) -> str:
        line = _nearest_line(self.lines, path)
        return self.source if line is None else f"{self.source}:{line}"

    def _fail(self, path: str, message: str, *, line: int | None = None) -> NoReturn:
        source = self._locate(path) if line is None else f"{self.source}:{line}"
        raise ConfigError(message, path=path, source=source)

    def _relocate(self, exc: ConfigError, default_path: str) -> ConfigError:
        if exc.source:
            return exc
        path = exc.path or default_path
        return ConfigError(exc.message, path=path, source=self._locate(path))

    def _from_pydantic(self, exc: PydanticValidationError, base: str, model: type[BaseModel]) -> ConfigError:
        errors = exc.errors(include_url=False)
        first = errors[0]
        loc = first["loc"]
        path = base + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
        kind = first["type"]
        if kind == "extra_forbidden":
            expected = _field_names(model, loc[:-1])
            message = f"unknown key {loc[-1]!r}"
            if expected:
                message += f" (expected one of: {', '.join(expected)})"
        elif kind == "missing":
            message = "required key is missing"
        else:
            message = first["msg"].removeprefix("Value error, ")
            message = message[:1].lower() + message[1:]
        if len(errors) > 1:
            more = len(errors) - 1
            message += f" (and {more} more problem{'s' if more > 1 else ''} under {base})"
        return ConfigError(message, path=path, source=self._locate(path))

    # -- YAML with line numbers and environment substitution

    def _load(self) -> Any:
        loader = yaml.SafeLoader(self.text)
        try:
            node = loader.get_single_node()
            return {} if node is None else self._build(loader, node, "")
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            detail = exc.problem or exc.context or "cannot parse"
            if exc.problem and exc.context:
                began = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
                detail += f" ({exc.context}{began})"
            source = self.source if mark is None else f"{self.source}:{mark.line + 1}"
            raise ConfigError(f"invalid YAML: {detail}", source=source) from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", source=self.source) from exc
        finally:
            loader.dispose()

    def _build(self, loader: yaml.SafeLoader, node: yaml.Node, path: str) -> Any:
        line = node.start_mark.line + 1
        if id(node) in self._active:
            self._fail(path, "recursive YAML alias", line=line)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                self._fail(path, f"unsupported YAML tag {node.tag!r}", line=line)
            own_keys = {id(key_node) for key_node, _ in node.value}
            loader.flatten_mapping(node)  # resolves "<<" merge keys in place: merged entries first
            self._active.add(id(node))
            mapping: dict[str, Any] = {}
            merged: set[str] = set()
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    self._fail(path, "a mapping key must be a plain scalar, not a mapping or list", line=key_line)
                key = str(key_node.value)
                child = _join(path, key)
                if key in mapping and key not in merged:
                    self._fail(child, f"duplicate key {key!r} (first at line {self.lines[child]})", line=key_line)
                if id(key_node) in own_keys:
                    merged.discard(key)
                else:  # later merged entries and the mapping's own keys override earlier merged ones
                    merged.add(key)
                self.lines[child] = key_line
                mapping[key] = self._build(loader, value_node, child)
            self._active.discard(id(node))
            return mapping
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                self._fail(path, f"unsupported YAML tag {node.tag!r}", line=line)
            self._active.add(id(node))
            items: list[Any] = []
            for index, item in enumerate(node.value):
                child = f"{path}[{index}]"
                self.lines.setdefault(child, item.start_mark.line + 1)
                items.append(self._build(loader, item, child))
            self._active.discard(id(node))
            return items
        assert isinstance(node, yaml.ScalarNode)
        value = loader.construct_object(node)
        if isinstance(value, str) and "$" in value:
            return self._substitute(value, path, typed=node.style is None)
        return value

    def _substitute(self, text: str, path: str, *, typed: bool) -> Any:
        def replace(match: re.Match[str]) -> str:
            token = match.group(0)
            if token == "$$":
                return "$"
            inner = match.group(1)
            if inner is None:
                self._fail(
                    path, f"unterminated reference in {text!r}: '${{' without a closing '}}' (write $$ for a literal $)"
                )
            scheme_match = _REF_SCHEME_RE.match(inner)
            if scheme_match is not None and scheme_match.group(1) != "env":
                self._fail(
                    path, f"unsupported provider {scheme_match.group(1)!r} in '${{{inner}}}': only env is supported"
                )
            body = _REF_BODY_RE.fullmatch(inner)
            if body is None:
                self._fail(
                    path,
                    f"invalid reference '${{{inner}}}': expected ${{env:NAME}}, ${{NAME}} or ${{env:NAME:-default}}",
                )
            name = body.group("name")
            value = self.environ.get(name)
            if value is None:
                default = body.group("default")
                if default is None:
                    self._fail(
                        path,
                        f"environment variable {name!r} is not set (referenced as '${{{inner}}}'; "
                        f"a default is written ${{env:{name}:-default}})",
                    )
                value = default
            return value

        result = _REF_RE.sub(replace, text)
        whole = _REF_RE.fullmatch(text)
        if typed and whole is not None and whole.group(1) is not None:
            return _typed(result)
        return result

    # -- sections

    def parse(self) -> Config:
        root = self._load()
        if not isinstance(root, dict):
            self._fail(
                "",
                f"the configuration must be a mapping of sections ({', '.join(_TOP_LEVEL)}), got {_describe(root)}",
                line=1,
            )
        for key in root:
            if key not in _TOP_LEVEL:
                self._fail(key, f"unknown top-level key {key!r} (expected one of: {', '.join(_TOP_LEVEL)})")
        sections = {section: self._components(section, kind, root.get(section)) for section, kind in _SECTIONS.items()}
        self._check_connector_ids(sections)
        service = self._service(root.get("service"), sections)
        return Config(
            receivers=sections["receivers"],
            processors=sections["processors"],
            exporters=sections["exporters"],
            connectors=sections["connectors"],
            service=service,
            source=self.source,
            lines=dict(self.lines),
        )

    def _components(self, section: str, kind: Kind, body: Any) -> dict[str, ComponentSpec]:
        if body is None:
            return {}
        if not isinstance(body, dict):
            self._fail(section, f"expected a mapping of {kind} ids to their settings, got {_describe(body)}")
        specs: dict[str, ComponentSpec] = {}
        for cid, cbody in body.items():
            path = f"{section}.{cid}"
            match = _ID_RE.fullmatch(cid)
            if match is None:
                self._fail(
                    path,
                    f"invalid {kind} id {cid!r}: expected 'type' or 'type/name' "
                    "(type: a letter, then letters, digits or '_')",
                )
            type_name, name = match.group("type"), match.group("name") or ""
            factory = self.registry.get(kind, type_name)
            if factory is None:
                self._fail(path, self._unknown_type(kind, type_name))
            specs[cid] = ComponentSpec(
                id=cid,
                type=type_name,
                name=name,
                kind=kind,
                factory=factory,
                config=self._component_config(factory, cbody, path),
            )
        return specs

    def _unknown_type(self, kind: Kind, type_name: str) -> str:
        message = f"unknown {kind} type {type_name!r}"
        elsewhere = [other for other in _SECTIONS.values() if other != kind and self.registry.get(other, type_name)]
        if elsewhere:
            message += f" (it is {' and '.join(_article(k) for k in elsewhere)} type)"
        registered = self.registry.types(kind)
        return message + f"; registered {kind} types: {', '.join(registered) if registered else 'none'}"

    def _component_config(self, factory: Factory, body: Any, path: str) -> ComponentConfig:
        if body is not None and not isinstance(body, dict):
            self._fail(path, f"expected a mapping of settings (or nothing, for the defaults), got {_describe(body)}")
        config_class = factory.config_class
        try:
            config = config_class.model_validate({} if body is None else body)
            config.validate_config(path)
        except PydanticValidationError as exc:
            raise self._from_pydantic(exc, path, config_class) from exc
        except ConfigError as exc:
            raise self._relocate(exc, path) from exc
        return config

    def _settings(self, model: type[_M], body: Any, path: str) -> _M:
        if body is not None and not isinstance(body, dict):
            self._fail(path, f"expected a mapping, got {_describe(body)}")
        try:
            return model.model_validate({} if body is None else body)
        except PydanticValidationError as exc:
            raise self._from_pydantic(exc, path, model) from exc

    def _check_connector_ids(self, sections: Mapping[str, Mapping[str, ComponentSpec]]) -> None:
        for cid in sections["connectors"]:
            for section in ("receivers", "exporters"):
                if cid in sections[section]:
                    self._fail(
                        f"connectors.{cid}",
                        f"id {cid!r} is also defined under {section}; a pipeline reference to it would be ambiguous",
                    )

    def _service(self, body: Any, sections: Mapping[str, Mapping[str, ComponentSpec]]) -> ServiceConfig:
        if body is None:
            self._fail("service", "the 'service' section is required (with at least one pipeline)")
        if not isinstance(body, dict):
            self._fail("service", f"expected a mapping, got {_describe(body)}")
        for key in body:
            if key not in _SERVICE_KEYS:
                self._fail(f"service.{key}", f"unknown key {key!r} (expected one of: {', '.join(_SERVICE_KEYS)})")
        telemetry = self._settings(TelemetrySettings, body.get("telemetry"), "service.telemetry")
        pipelines = self._pipelines(body.get("pipelines"), sections)
        settings = self._settings(PipelineSettings, body.get("pipeline"), "service.pipeline")
        return ServiceConfig(telemetry=telemetry, pipelines=pipelines, pipeline=settings)

    def _pipelines(self, body: Any, sections: Mapping[str, Mapping[str, ComponentSpec]]) -> dict[str, PipelineSpec]:
        path = "service.pipelines"
        if body is None or body == {}:
            self._fail(path, "at least one pipeline is required")
        if not isinstance(body, dict):
            self._fail(path, f"expected a mapping of pipeline ids to pipelines, got {_describe(body)}")
        pipelines: dict[str, PipelineSpec] = {}
        for pid, pbody in body.items():
            ppath = f"{path}.{pid}"
            match = _PIPELINE_ID_RE.fullmatch(pid)
            assert match is not None  # the pattern matches every string
            signal, name = match.group("signal"), match.group("name")
            if signal not in SIGNALS:
                self._fail(
                    ppath,
                    f"unknown signal {signal!r} in pipeline id {pid!r} "
                    "(expected traces, metrics or logs, optionally followed by /name)",
                )
            if name is not None and not re.fullmatch(r"\S+", name):
                self._fail(ppath, f"invalid pipeline id {pid!r}: the name after '/' must be non-empty, without spaces")
            lists = self._settings(_PipelineBody, pbody, ppath)
            sig = cast("Signal", signal)
            for role in ("receivers", "processors", "exporters"):
                self._check_refs(ppath, sig, role, getattr(lists, role), sections)
            pipelines[pid] = PipelineSpec(
                id=pid,
                signal=sig,
                name=name or "",
                receivers=lists.receivers,
                processors=lists.processors,
                exporters=lists.exporters,
            )
        self._check_connector_use(pipelines, sections["connectors"])
        return pipelines

    def _check_refs(
        self,
        ppath: str,
        signal: Signal,
        role: str,
        ids: tuple[str, ...],
        sections: Mapping[str, Mapping[str, ComponentSpec]],
    ) -> None:
        kind = role.removesuffix("s")
        if not ids and role != "processors":
            self._fail(f"{ppath}.{role}", f"a pipeline needs at least one {kind}")
        first_at: dict[str, int] = {}
        for index, cid in enumerate(ids):
            ipath = f"{ppath}.{role}[{index}]"
            if cid in first_at:
                self._fail(ipath, f"{kind} {cid!r} is listed twice (also at index {first_at[cid]})")
            first_at[cid] = index
            spec = sections[role].get(cid)
            if spec is None and role != "processors":
                spec = sections["connectors"].get(cid)
            if spec is None:
                message = f"{kind} {cid!r} is not defined"
                elsewhere = [s.removesuffix("s") for s in _SECTIONS if s != role and cid in sections[s]]
                if elsewhere:
                    message += f" (there is {' and '.join(_article(k) for k in elsewhere)} with that id)"
                self._fail(ipath, message)
            if spec.kind == "connector":
                self._check_connector_signal(spec, role, signal, ipath)
            elif signal not in spec.factory.signals():
                supported = ", ".join(spec.factory.signals()) or "no signal"
                self._fail(ipath, f"{kind} {cid!r} does not support {signal} (it supports: {supported})")

    def _check_connector_signal(self, spec: ComponentSpec, role: str, signal: str, ipath: str) -> None:
        """A connector ends pipelines of its input signals and starts pipelines of its outputs."""
        pairs = spec.factory.connects
        if role == "exporters":
            allowed = sorted({a for a, _ in pairs})
            what = "consume"
        else:
            allowed = sorted({b for _, b in pairs})
            what = "emit"
        if signal not in allowed:
            self._fail(
                ipath,
                f"connector {spec.id!r} does not {what} {signal} "
                f"(it connects: {', '.join(f'{a} -> {b}' for a, b in pairs) or 'nothing'})",
            )

    def _check_connector_use(
        self, pipelines: Mapping[str, PipelineSpec], connectors: Mapping[str, ComponentSpec]
    ) -> None:
        """A connector must end one pipeline and start another, or data would vanish or never come."""
        as_exporter: dict[str, str] = {}
        as_receiver: dict[str, str] = {}
        for pid, pipeline in pipelines.items():
            for index, cid in enumerate(pipeline.exporters):
                if cid in connectors:
                    as_exporter.setdefault(cid, f"service.pipelines.{pid}.exporters[{index}]")
            for index, cid in enumerate(pipeline.receivers):
                if cid in connectors:
                    as_receiver.setdefault(cid, f"service.pipelines.{pid}.receivers[{index}]")
        for cid, where in as_exporter.items():
            if cid not in as_receiver:
                self._fail(where, f"connector {cid!r} is used as an exporter but is not a receiver of any pipeline")
        for cid, where in as_receiver.items():
            if cid not in as_exporter:
                self._fail(where, f"connector {cid!r} is used as a receiver but is not an exporter of any pipeline")


__all__ = [
    "DEFAULT_CONFIG_SOURCE",
    "Backpressure",
    "ComponentSpec",
    "Config",
    "Duration",
    "LogsTelemetrySettings",
    "MetricsTelemetrySettings",
    "PipelineSettings",
    "PipelineSpec",
    "ServiceConfig",
    "Size",
    "TelemetrySettings",
    "config_to_yaml",
    "default_config",
    "default_config_yaml",
    "dump",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
    "split_host_port",
]
