"""Realistic synthetic traces, built column by column from a small service topology.

A *topology* is drawn once per ``(services, seed)``: named services (each with a language,
an SDK, a host and a version), their HTTP routes, some with a database (PostgreSQL, MySQL,
Redis, MongoDB), and a call graph without cycles (a service only calls services after it, and
every service is called by one before it). Expanding a route's handler gives a *trace shape*:
a root ``SERVER`` span, ``INTERNAL`` spans, database ``CLIENT`` spans with ``db.*``
attributes and, per downstream call, a ``CLIENT`` span holding the callee's ``SERVER`` span
(which continues recursively). A few dozen shapes are expanded once, in Python.

Generating ``n`` spans is then pure numpy: draw shapes until exactly ``n`` spans, gather the
shape columns for every span, assign timings top-down one depth level at a time (children
inside their parents' time, siblings as a waterfall, a log-normal root latency with a Pareto
tail), pick the failing traces and propagate their error from one leaf up to the root
(status ERROR, ``http.response.status_code`` 5xx, ``error.type``, an ``exception`` event on
the span where it started), and build the Arrow tables at once. No Python object per span.

Ids are laid out so that callers can make them unique exactly (the request pool relies on
it): ``trace_id`` = 8 random bytes, then the big-endian ``fmix64(first_trace + t + 1)``;
``span_id`` = 4 random bytes, then the big-endian ``fmix32(first_span + i + 1)``. Both
mixers are bijections, so distinct counters give distinct, random-looking, non-zero tails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyarrow as pa

from knhk_telemetry.model import schema as S
from knhk_telemetry.model.batch import SpanBatch
from knhk_telemetry.model.schema import SpanKind, StatusCode, ValueType

Array = np.ndarray[Any, Any]

SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.37.0"

#: span flags: sampled, and the W3C "has is_remote" bit; remote parents also set "is_remote"
FLAGS_LOCAL_PARENT: Final = 0x101
FLAGS_REMOTE_PARENT: Final = 0x301

_SERVICE_NAMES = (
    "frontend",
    "checkout",
    "cart",
    "payment",
    "inventory",
    "users",
    "search",
    "shipping",
    "recommendation",
    "email",
    "currency",
    "ads",
)
_NOUNS = ("orders", "items", "accounts", "sessions", "quotes", "products", "events", "reports")

# language -> (sdk version, server scope, http client scope); scopes are (name, version)
_LANGUAGES: dict[str, tuple[str, tuple[str, str], tuple[str, str]]] = {
    "go": (
        "1.38.0",
        ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.63.0"),
        ("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp", "0.63.0"),
    ),
    "java": (
        "1.54.1",
        ("io.opentelemetry.tomcat-10.0", "2.20.1-alpha"),
        ("io.opentelemetry.java-http-client", "2.20.1-alpha"),
    ),
    "python": (
        "1.37.0",
        ("opentelemetry.instrumentation.flask", "0.58b0"),
        ("opentelemetry.instrumentation.requests", "0.58b0"),
    ),
    "nodejs": (
        "2.1.0",
        ("@opentelemetry/instrumentation-http", "0.205.0"),
        ("@opentelemetry/instrumentation-http", "0.205.0"),
    ),
}
# (language, db system) -> the database client instrumentation's scope
_DB_SCOPES: dict[tuple[str, str], tuple[str, str]] = {
    ("go", "postgresql"): ("github.com/XSAM/otelsql", "0.40.0"),
    ("go", "mysql"): ("github.com/XSAM/otelsql", "0.40.0"),
    ("go", "redis"): ("github.com/redis/go-redis/extra/redisotel", "9.14.0"),
    ("go", "mongodb"): ("go.mongodb.org/mongo-driver/mongo/otelmongo", "0.63.0"),
    ("java", "postgresql"): ("io.opentelemetry.jdbc", "2.20.1-alpha"),
    ("java", "mysql"): ("io.opentelemetry.jdbc", "2.20.1-alpha"),
    ("java", "redis"): ("io.opentelemetry.lettuce-5.1", "2.20.1-alpha"),
    ("java", "mongodb"): ("io.opentelemetry.mongo-3.1", "2.20.1-alpha"),
    ("python", "postgresql"): ("opentelemetry.instrumentation.psycopg", "0.58b0"),
    ("python", "mysql"): ("opentelemetry.instrumentation.pymysql", "0.58b0"),
    ("python", "redis"): ("opentelemetry.instrumentation.redis", "0.58b0"),
    ("python", "mongodb"): ("opentelemetry.instrumentation.pymongo", "0.58b0"),
    ("nodejs", "postgresql"): ("@opentelemetry/instrumentation-pg", "0.58.0"),
    ("nodejs", "mysql"): ("@opentelemetry/instrumentation-mysql2", "0.51.0"),
    ("nodejs", "redis"): ("@opentelemetry/instrumentation-redis", "0.54.0"),
    ("nodejs", "mongodb"): ("@opentelemetry/instrumentation-mongodb", "0.57.0"),
}
_DBS = (  # system name, port, operations (name, query text pattern)
    (
        "postgresql",
        5432,
        (("SELECT", "SELECT * FROM {c} WHERE id = $1"), ("INSERT", "INSERT INTO {c} VALUES ($1, $2)")),
    ),
    (
        "mysql",
        3306,
        (("SELECT", "SELECT * FROM {c} WHERE id = ?"), ("UPDATE", "UPDATE {c} SET state = ? WHERE id = ?")),
    ),
    ("redis", 6379, (("GET", "GET {c}:?"), ("SET", "SET {c}:? ?"))),
    ("mongodb", 27017, (("find", '{{"find": "{c}"}}'), ("update", '{{"update": "{c}"}}'))),
)
_EXCEPTIONS = {
    "db": (
        ("ConnectionResetError", "connection reset by peer"),
        ("TimeoutError", "query timed out after 2000 ms"),
        ("DeadlockDetected", "deadlock detected"),
    ),
    "server": (
        ("java.lang.NullPointerException", 'Cannot invoke "Order.getId()" because "order" is null'),
        ("KeyError", "'currency'"),
        ("RuntimeError", "upstream returned malformed payload"),
    ),
    "internal": (
        ("ValueError", "invalid quantity: -1"),
        ("IllegalStateException", "cart already checked out"),
    ),
}
_ERROR_CODES = np.array([500, 502, 503, 504])
_ERROR_CODE_P = np.array([0.55, 0.15, 0.2, 0.1])
_PATH_VARIANTS = 64
_CLIENT_ADDRESSES = 48

# attribute slot kinds: how a span's value of one attribute is chosen
_CONST = 0  # the slot's own value (str index, int or bool)
_VARIANT = 1  # one of the slot's n consecutive strings, at random
_STATUS = 2  # the span's HTTP status code
_ERROR_TYPE = 3  # the span's error.type string, only on spans in error
_RANDBOOL = 4  # a random bool

# scope slots of a service: which instrumentation produced a span
_SCOPE_SERVER, _SCOPE_CLIENT, _SCOPE_DB, _SCOPE_INTERNAL = range(4)
_N_SCOPE_SLOTS = 4

# error kinds of a leaf (which exception pool it draws from)
_ERR_DB, _ERR_SERVER, _ERR_INTERNAL = range(3)


class _Strings:
    """An interning list: the dictionary of one string column."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, value: str) -> int:
        i = self._index.get(value)
        if i is None:
            i = self._index[value] = len(self.values)
            self.values.append(value)
        return i

    def block(self, values: list[str]) -> int:
        """Append ``values`` as one consecutive block (no interning); the index of the first."""
        first = len(self.values)
        self.values.extend(values)
        return first


@dataclass(frozen=True, slots=True)
class _Slot:
    key: int
    vtype: int
    kind: int = _CONST
    str_idx: int = 0
    n_variants: int = 1
    int_value: int = 0
    bool_value: bool = False


@dataclass(slots=True)
class _Route:
    method: str
    template: str
    path_base: int  # first of the route's concrete url.path strings
    success_code: int
    # handler actions: ("db", op index, collection) | ("call", service, route) | ("internal", name)
    actions: list[tuple[str, int, int]] = field(default_factory=list)
    optional: list[bool] = field(default_factory=list)


@dataclass(slots=True)
class _Service:
    name: str
    language: str
    port: int
    routes: list[_Route] = field(default_factory=list)
    db: int | None = None  # index into _DBS
    db_namespace: str = ""
    collections: list[str] = field(default_factory=list)
    internals: list[str] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class _ShapeSpan:
    service: int
    scope: int
    kind: int
    name: int
    parent: int
    depth: int
    slots: list[_Slot]
    http: bool  # has http.response.status_code
    remote_parent: bool
    success_code: int
    err_kind: int


class Topology:
    """Services, routes, databases and call graph, and the trace shapes expanded from them.

    Deterministic for ``(services, seed)``; built once (in Python, over a few hundred shape
    spans), then used to generate any number of spans with :meth:`generate`.
    """

    def __init__(
        self, services: int = 8, *, seed: int = 0, shapes_per_route: int = 3, max_shape_spans: int = 60
    ) -> None:
        if not 1 <= services <= 1000:
            raise ValueError(f"services must be in 1..1000, not {services}")
        self.n_services = services
        rng = np.random.default_rng([seed, 0x70B0])
        self.attr_keys = _Strings()
        self.attr_strings = _Strings()
        self.span_names = _Strings()
        self.client_ips = self.attr_strings.block([f"10.0.{i // 16}.{i % 16 + 10}" for i in range(_CLIENT_ADDRESSES)])
        self.services = [self._service(i, rng) for i in range(services)]
        self._wire_calls(rng)
        self._resources()
        self._scopes()
        self._exceptions()
        shapes: list[list[_ShapeSpan]] = []
        weights: list[float] = []
        for s, svc in enumerate(self.services):
            for r in range(len(svc.routes)):
                for _ in range(shapes_per_route):
                    shapes.append(self._expand(s, r, rng, max_shape_spans))
                    weights.append(8.0 if s == 0 else 1.0)
            # a health check: one SERVER span, also what fills a request to an exact size
            shapes.append([self._health(s)])
            weights.append(0.3)
        self._compile(shapes, np.array(weights) / np.sum(weights))

    # -- topology -------------------------------------------------------------------------
    def _service(self, i: int, rng: np.random.Generator) -> _Service:
        name = _SERVICE_NAMES[i] if i < len(_SERVICE_NAMES) else f"service-{i}"
        language = list(_LANGUAGES)[int(rng.integers(0, len(_LANGUAGES)))]
        svc = _Service(name=name, language=language, port=443 if i == 0 else 8080)
        if i > 0 and rng.random() < 0.6:
            svc.db = int(rng.integers(0, len(_DBS)))
            svc.db_namespace = f"{name}_db"
            svc.collections = [str(c) for c in rng.choice(_NOUNS, size=2, replace=False)]
        svc.internals = [
            f"{name}.{verb}" for verb in rng.choice(["validate", "render", "compute", "load"], 2, replace=False)
        ]
        resource = name if i else "api"
        routes = [
            ("GET", f"/{resource}/{{id}}", 200),
            ("POST", f"/{resource}", 201),
            ("GET", f"/{resource}", 200),
            ("DELETE", f"/{resource}/{{id}}", 204),
        ]
        for method, template, code in routes[: int(rng.integers(2, 5))]:
            if "{id}" in template:
                paths = [template.replace("{id}", str(k)) for k in rng.choice(100_000, _PATH_VARIANTS, replace=False)]
                base = self.attr_strings.block(paths)
            else:
                base = self.attr_strings.block([template])
            svc.routes.append(_Route(method, template, base, code))
        return svc

    def _wire_calls(self, rng: np.random.Generator) -> None:
        """Give every route a handler; every service after the first is called by an earlier one."""
        n = self.n_services
        callees_of: dict[int, list[int]] = {s: [] for s in range(n)}
        for s in range(1, n):
            callees_of[int(rng.integers(0, s))].append(s)
            if s + 1 < n and rng.random() < 0.5:  # extra edges make the graph a DAG, not a tree
                callees_of[s].append(int(rng.integers(s + 1, n)))
        for s, svc in enumerate(self.services):
            callees = sorted(set(callees_of[s]))
            for route in svc.routes:
                acts: list[tuple[tuple[str, int, int], bool]] = []
                if rng.random() < 0.5:
                    acts.append((("internal", int(rng.integers(0, len(svc.internals))), 0), False))
                if svc.db is not None:
                    for _ in range(int(rng.integers(1, 4))):
                        op = int(rng.integers(0, 2))
                        acts.append((("db", op, int(rng.integers(0, len(svc.collections)))), True))
                for c in callees:
                    if rng.random() < 0.7 or c == callees[0]:
                        callee_route = int(rng.integers(0, len(self.services[c].routes)))
                        acts.append((("call", c, callee_route), True))
                route.actions = [a for a, _ in acts]
                route.optional = [opt for _, opt in acts]

    def _resources(self) -> None:
        """Resource attribute columns, one resource per service."""
        k = self.attr_keys
        st = self.attr_strings
        self.resource_slots: list[list[_Slot]] = []
        for i, svc in enumerate(self.services):
            sdk_version = _LANGUAGES[svc.language][0]
            strs = {
                "service.name": svc.name,
                "service.namespace": "shop",
                "service.version": f"1.{(i * 7) % 13}.{(i * 3) % 5}",
                "service.instance.id": f"{svc.name}-{(i * 2654435761) % 0xFFFFFF:06x}",
                "host.name": f"ip-10-0-{i // 250}-{i % 250 + 4}.ec2.internal",
                "deployment.environment.name": "production",
                "telemetry.sdk.language": svc.language,
                "telemetry.sdk.name": "opentelemetry",
                "telemetry.sdk.version": sdk_version,
            }
            self.resource_slots.append([_Slot(k(key), ValueType.STRING, str_idx=st(v)) for key, v in strs.items()])

    def _scopes(self) -> None:
        """(name, version) of the four scope slots of every service."""
        self.scope_names: list[list[tuple[str, str]]] = []
        for svc in self.services:
            _, server, client = _LANGUAGES[svc.language]
            db = _DB_SCOPES[svc.language, _DBS[svc.db][0]] if svc.db is not None else ("", "")
            self.scope_names.append([server, client, db, (svc.name, "1.0.0")])

    def _exceptions(self) -> None:
        st = self.attr_strings
        self.exc_types: list[Array] = []
        self.exc_messages: list[Array] = []
        self.exc_stacks: list[Array] = []
        for kind in ("db", "server", "internal"):
            pool = _EXCEPTIONS[kind]
            self.exc_types.append(np.array([st(t) for t, _ in pool]))
            self.exc_messages.append(np.array([st(m) for _, m in pool]))
            self.exc_stacks.append(
                np.array(
                    [st(f'Traceback (most recent call last):\n  File "app.py", line 42\n{t}: {m}') for t, m in pool]
                )
            )
        self.http_codes = {code: st(str(code)) for code in _ERROR_CODES.tolist()}

    # -- shapes ---------------------------------------------------------------------------
    def _server_slots(self, s: int, route: _Route, *, entry: bool) -> list[_Slot]:
        k, st = self.attr_keys, self.attr_strings
        svc = self.services[s]
        n_paths = _PATH_VARIANTS if "{id}" in route.template else 1
        slots = [
            _Slot(k("http.request.method"), ValueType.STRING, str_idx=st(route.method)),
            _Slot(k("http.route"), ValueType.STRING, str_idx=st(route.template)),
            _Slot(k("url.path"), ValueType.STRING, _VARIANT, str_idx=route.path_base, n_variants=n_paths),
            _Slot(k("url.scheme"), ValueType.STRING, str_idx=st("https" if entry else "http")),
            _Slot(k("server.address"), ValueType.STRING, str_idx=st("shop.example.com" if entry else svc.name)),
            _Slot(k("server.port"), ValueType.INT, int_value=svc.port),
            _Slot(k("http.response.status_code"), ValueType.INT, _STATUS),
            _Slot(k("network.protocol.version"), ValueType.STRING, str_idx=st("2" if entry else "1.1")),
            _Slot(
                k("client.address"), ValueType.STRING, _VARIANT, str_idx=self.client_ips, n_variants=_CLIENT_ADDRESSES
            ),
        ]
        if entry:
            ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            slots.append(_Slot(k("user_agent.original"), ValueType.STRING, str_idx=st(ua)))
        slots.append(_Slot(k("error.type"), ValueType.STRING, _ERROR_TYPE))
        return slots

    def _health(self, s: int) -> _ShapeSpan:
        k, st = self.attr_keys, self.attr_strings
        svc = self.services[s]
        slots = [
            _Slot(k("http.request.method"), ValueType.STRING, str_idx=st("GET")),
            _Slot(k("http.route"), ValueType.STRING, str_idx=st("/health")),
            _Slot(k("url.path"), ValueType.STRING, str_idx=st("/health")),
            _Slot(k("server.address"), ValueType.STRING, str_idx=st(svc.name)),
            _Slot(k("server.port"), ValueType.INT, int_value=svc.port),
            _Slot(k("http.response.status_code"), ValueType.INT, _STATUS),
            _Slot(k("error.type"), ValueType.STRING, _ERROR_TYPE),
        ]
        return _ShapeSpan(
            service=s, scope=_SCOPE_SERVER, kind=SpanKind.SERVER, name=self.span_names("GET /health"), parent=-1,
            depth=0, slots=slots, http=True, remote_parent=False, success_code=200, err_kind=_ERR_SERVER,
        )  # fmt: skip

    def _expand(self, s: int, r: int, rng: np.random.Generator, limit: int) -> list[_ShapeSpan]:
        """One trace shape rooted at route ``r`` of service ``s`` (breadth first, at most ``limit`` spans)."""
        spans: list[_ShapeSpan] = []
        route = self.services[s].routes[r]
        root = _ShapeSpan(
            service=s, scope=_SCOPE_SERVER, kind=SpanKind.SERVER,
            name=self.span_names(f"{route.method} {route.template}"), parent=-1, depth=0,
            slots=self._server_slots(s, route, entry=True), http=True, remote_parent=False,
            success_code=route.success_code, err_kind=_ERR_SERVER,
        )  # fmt: skip
        spans.append(root)
        queue: list[tuple[int, int, int]] = [(0, s, r)]  # (span index of a SERVER span, service, route)
        while queue:
            at, svc_i, route_i = queue.pop(0)
            svc = self.services[svc_i]
            route = svc.routes[route_i]
            for (what, a, b), optional in zip(route.actions, route.optional, strict=True):
                if optional and rng.random() < 0.5:
                    continue
                if len(spans) + (2 if what == "call" else 1) > limit:
                    break
                depth = spans[at].depth + 1
                if what == "db":
                    spans.append(self._db_span(svc_i, a, b, at, depth))
                elif what == "internal":
                    spans.append(self._internal_span(svc_i, a, at, depth))
                else:
                    callee = self.services[a].routes[b]
                    client = self._client_span(svc_i, a, callee, at, depth)
                    spans.append(client)
                    server = _ShapeSpan(
                        service=a, scope=_SCOPE_SERVER, kind=SpanKind.SERVER,
                        name=self.span_names(f"{callee.method} {callee.template}"), parent=len(spans) - 1,
                        depth=depth + 1, slots=self._server_slots(a, callee, entry=False), http=True,
                        remote_parent=True, success_code=callee.success_code, err_kind=_ERR_SERVER,
                    )  # fmt: skip
                    spans.append(server)
                    queue.append((len(spans) - 1, a, b))
        return spans

    def _db_span(self, s: int, op: int, coll: int, parent: int, depth: int) -> _ShapeSpan:
        k, st = self.attr_keys, self.attr_strings
        svc = self.services[s]
        assert svc.db is not None
        system, port, ops = _DBS[svc.db]
        op_name, query = ops[op]
        collection = svc.collections[coll]
        slots = [
            _Slot(k("db.system.name"), ValueType.STRING, str_idx=st(system)),
            _Slot(k("db.namespace"), ValueType.STRING, str_idx=st(svc.db_namespace)),
            _Slot(k("db.operation.name"), ValueType.STRING, str_idx=st(op_name)),
            _Slot(k("db.collection.name"), ValueType.STRING, str_idx=st(collection)),
            _Slot(k("db.query.text"), ValueType.STRING, str_idx=st(query.format(c=collection))),
            _Slot(k("server.address"), ValueType.STRING, str_idx=st(f"{svc.name}-{system}.internal")),
            _Slot(k("server.port"), ValueType.INT, int_value=port),
            _Slot(k("error.type"), ValueType.STRING, _ERROR_TYPE),
        ]
        name = self.span_names(f"{op_name} {collection}")
        return _ShapeSpan(
            service=s, scope=_SCOPE_DB, kind=SpanKind.CLIENT, name=name, parent=parent, depth=depth, slots=slots,
            http=False, remote_parent=False, success_code=0, err_kind=_ERR_DB,
        )  # fmt: skip

    def _internal_span(self, s: int, which: int, parent: int, depth: int) -> _ShapeSpan:
        k, st = self.attr_keys, self.attr_strings
        fn = self.services[s].internals[which]
        slots = [
            _Slot(k("code.function.name"), ValueType.STRING, str_idx=st(fn)),
            _Slot(k("app.cache.hit"), ValueType.BOOL, _RANDBOOL),
            _Slot(k("error.type"), ValueType.STRING, _ERROR_TYPE),
        ]
        return _ShapeSpan(
            service=s, scope=_SCOPE_INTERNAL, kind=SpanKind.INTERNAL, name=self.span_names(fn), parent=parent,
            depth=depth, slots=slots, http=False, remote_parent=False, success_code=0, err_kind=_ERR_INTERNAL,
        )  # fmt: skip

    def _client_span(self, s: int, callee: int, route: _Route, parent: int, depth: int) -> _ShapeSpan:
        k, st = self.attr_keys, self.attr_strings
        target = self.services[callee]
        n_paths = _PATH_VARIANTS if "{id}" in route.template else 1
        paths = self.attr_strings.values[route.path_base : route.path_base + n_paths]
        full_base = self.attr_strings.block([f"http://{target.name}:{target.port}{p}" for p in paths])
        slots = [
            _Slot(k("http.request.method"), ValueType.STRING, str_idx=st(route.method)),
            _Slot(k("url.full"), ValueType.STRING, _VARIANT, str_idx=full_base, n_variants=n_paths),
            _Slot(k("server.address"), ValueType.STRING, str_idx=st(target.name)),
            _Slot(k("server.port"), ValueType.INT, int_value=target.port),
            _Slot(k("http.response.status_code"), ValueType.INT, _STATUS),
            _Slot(k("network.protocol.version"), ValueType.STRING, str_idx=st("1.1")),
            _Slot(k("error.type"), ValueType.STRING, _ERROR_TYPE),
        ]
        name = self.span_names(f"{route.method} {route.template}")
        return _ShapeSpan(
            service=s, scope=_SCOPE_CLIENT, kind=SpanKind.CLIENT, name=name, parent=parent, depth=depth, slots=slots,
            http=True, remote_parent=False, success_code=route.success_code, err_kind=_ERR_SERVER,
        )  # fmt: skip

    def _compile(self, shapes: list[list[_ShapeSpan]], weights: Array) -> None:
        """Concatenate the shapes into flat columns (CSR by shape), plus the slot columns."""
        self.shape_size = np.array([len(sh) for sh in shapes], np.int64)
        self.shape_start = np.concatenate([[0], np.cumsum(self.shape_size)[:-1]]).astype(np.int64)
        self.shape_weight = weights
        flat = [sp for sh in shapes for sp in sh]
        self.sp_service = np.array([sp.service for sp in flat], np.int64)
        self.sp_scope = np.array([sp.scope for sp in flat], np.int64)
        self.sp_kind = np.array([sp.kind for sp in flat], np.int8)
        self.sp_name = np.array([sp.name for sp in flat], np.int32)
        self.sp_parent = np.array([sp.parent for sp in flat], np.int64)
        self.sp_depth = np.array([sp.depth for sp in flat], np.int64)
        self.sp_http = np.array([sp.http for sp in flat], np.bool_)
        self.sp_remote = np.array([sp.remote_parent for sp in flat], np.bool_)
        self.sp_code = np.array([sp.success_code for sp in flat], np.int64)
        self.sp_err_kind = np.array([sp.err_kind for sp in flat], np.int64)
        # sibling position among the children of the same parent (for the waterfall layout)
        sib_k = np.zeros(len(flat), np.int64)
        sib_n = np.ones(len(flat), np.int64)
        leaf = np.ones(len(flat), np.bool_)
        for start, sh in zip(self.shape_start.tolist(), shapes, strict=True):
            children: dict[int, list[int]] = {}
            for j, sp in enumerate(sh):
                if sp.parent >= 0:
                    children.setdefault(sp.parent, []).append(j)
            for p, kids in children.items():
                leaf[start + p] = False
                for pos, j in enumerate(kids):
                    sib_k[start + j] = pos
                    sib_n[start + j] = len(kids)
        self.sp_sib_k, self.sp_sib_n, self.sp_leaf = sib_k, sib_n, leaf
        # error origin candidates per shape: its leaves (CSR)
        cand = [
            [j for j in range(len(sh)) if leaf[start + j]]
            for start, sh in zip(self.shape_start.tolist(), shapes, strict=True)
        ]
        self.cand_n = np.array([len(c) for c in cand], np.int64)
        self.cand_start = np.concatenate([[0], np.cumsum(self.cand_n)[:-1]]).astype(np.int64)
        self.cand_local = np.array([j for c in cand for j in c], np.int64)
        # attribute slots (CSR by shape span)
        slots = [sl for sp in flat for sl in sp.slots]
        self.sp_slot_n = np.array([len(sp.slots) for sp in flat], np.int64)
        self.sp_slot_start = np.concatenate([[0], np.cumsum(self.sp_slot_n)[:-1]]).astype(np.int64)
        self.sl_key = np.array([sl.key for sl in slots], np.int32)
        self.sl_vtype = np.array([sl.vtype for sl in slots], np.int8)
        self.sl_kind = np.array([sl.kind for sl in slots], np.int8)
        self.sl_str = np.array([sl.str_idx for sl in slots], np.int64)
        self.sl_nvar = np.array([sl.n_variants for sl in slots], np.int64)
        self.sl_int = np.array([sl.int_value for sl in slots], np.int64)
        self.sl_bool = np.array([sl.bool_value for sl in slots], np.bool_)
        self.max_depth = int(self.sp_depth.max())

    # -- generation -----------------------------------------------------------------------
    def generate(
        self,
        n: int,
        *,
        rng: np.random.Generator,
        error_ratio: float = 0.02,
        start_ns: int = 1_700_000_000_000_000_000,
        spread_ns: int = 1_000_000_000,
        first_trace: int = 0,
        first_span: int = 0,
        median_ms: float = 25.0,
    ) -> GeneratedTraces:
        """Exactly ``n`` spans of whole traces; see the module docstring for what they hold."""
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        if not 0.0 <= error_ratio <= 1.0:
            raise ValueError(f"error_ratio must be in [0, 1], not {error_ratio}")
        shape = self._draw_shapes(n, rng)
        sizes = self.shape_size[shape]
        n_traces = len(shape)
        trace_first = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        trace = np.repeat(np.arange(n_traces), sizes)
        local = np.arange(n) - trace_first[trace]
        g = self.shape_start[shape][trace] + local  # the shape span each span instantiates
        parent = np.where(self.sp_parent[g] >= 0, trace_first[trace] + self.sp_parent[g], -1)

        start, end = self._timings(
            g=g,
            parent=parent,
            trace=trace,
            n_traces=n_traces,
            rng=rng,
            start_ns=start_ns,
            spread_ns=spread_ns,
            median_ms=median_ms,
        )
        err, origin, code = self._errors(
            shape=shape,
            trace_first=trace_first,
            g=g,
            parent=parent,
            trace=trace,
            n_traces=n_traces,
            error_ratio=error_ratio,
            rng=rng,
        )

        # ids
        t_hi = rng.integers(0, 256, (n_traces, 8), dtype=np.uint8)
        t_lo = _be_bytes(fmix64(np.arange(first_trace + 1, first_trace + 1 + n_traces, dtype=np.uint64)), 8)
        trace_ids = np.concatenate([t_hi, t_lo], axis=1)[trace]
        s_hi = rng.integers(0, 256, (n, 4), dtype=np.uint8)
        s_lo = _be_bytes(fmix32(np.arange(first_span + 1, first_span + 1 + n, dtype=np.uint64).astype(np.uint32)), 4)
        span_ids = np.concatenate([s_hi, s_lo], axis=1)
        has_parent = parent >= 0
        parent_ids = np.where(has_parent[:, None], span_ids[np.maximum(parent, 0)], 0).astype(np.uint8)

        # group by (service, scope slot): resources <- scopes <- spans must be sorted
        scope_key = self.sp_service[g] * _N_SCOPE_SLOTS + self.sp_scope[g]
        order = np.argsort(scope_key, kind="stable")
        inverse = np.empty_like(order)
        inverse[order] = np.arange(n)
        has_parent = has_parent[order]
        cols = _SpanColumns(
            g=g[order],
            trace=trace[order],
            parent=np.where(has_parent, inverse[np.maximum(parent[order], 0)], -1),
            start=start[order],
            end=end[order],
            err=err[order],
            origin=origin[order],
            code=code[order],
            trace_ids=trace_ids[order],
            span_ids=span_ids[order],
            parent_ids=parent_ids[order],
            has_parent=has_parent,
            scope_key=scope_key[order],
        )
        batch = self._build(cols, rng)
        return GeneratedTraces(batch=batch, n_traces=n_traces, trace=cols.trace, parent=cols.parent)

    def _draw_shapes(self, n: int, rng: np.random.Generator) -> Array:
        """Shape indices whose sizes add up to exactly ``n``."""
        mean = float(self.shape_size @ self.shape_weight)
        out: list[Array] = []
        total = 0
        while n - total > 0:
            draw = rng.choice(len(self.shape_size), size=int((n - total) / mean) + 4, p=self.shape_weight)
            fits = np.cumsum(self.shape_size[draw]) <= n - total
            take = draw[: int(np.argmin(fits)) if not fits.all() else len(draw)]
            if len(take) == 0:  # fill the rest with the largest shape that fits (health checks are size 1)
                room = n - total
                sizes = np.where(self.shape_size <= room, self.shape_size, 0)
                take = np.array([int(np.argmax(sizes))])
            out.append(take)
            total += int(self.shape_size[take].sum())
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def _timings(
        self,
        *,
        g: Array,
        parent: Array,
        trace: Array,
        n_traces: int,
        rng: np.random.Generator,
        start_ns: int,
        spread_ns: int,
        median_ms: float,
    ) -> tuple[Array, Array]:
        """Start and end times: roots log-normal (1 % Pareto tail), children inside their parents."""
        n = len(g)
        root_dur = np.exp(rng.normal(np.log(median_ms * 1e6), 0.6, n_traces))
        tail = rng.random(n_traces) < 0.01
        root_dur[tail] *= 1.0 + rng.pareto(1.5, int(tail.sum()))
        root_dur = np.minimum(root_dur, 60e9)
        trace_start = start_ns + rng.integers(0, max(spread_ns, 1), n_traces)
        start = np.zeros(n, np.int64)
        end = np.zeros(n, np.int64)
        depth = self.sp_depth[g]
        is_root = parent < 0
        start[is_root] = trace_start[trace[is_root]]
        end[is_root] = start[is_root] + np.maximum(root_dur[trace[is_root]].astype(np.int64), 1000)
        remote = self.sp_remote[g]
        for d in range(1, self.max_depth + 1):
            at = np.flatnonzero(depth == d)
            if not len(at):
                continue
            p = parent[at]
            p_start, p_len = start[p], end[p] - start[p]
            rem = remote[at]
            # a callee SERVER span inside its CLIENT span, less the network time either way
            gap = (p_len * rng.uniform(0.02, 0.12, len(at)) / 2).astype(np.int64)
            # other children: a waterfall of sibling slots, each child inside its slot
            k, m = self.sp_sib_k[g[at]], self.sp_sib_n[g[at]]
            slot_start = p_start + p_len * k // m
            slot_len = p_len // m
            c_start = slot_start + (slot_len * rng.uniform(0.0, 0.25, len(at))).astype(np.int64)
            c_end = c_start + ((slot_start + slot_len - c_start) * rng.uniform(0.3, 0.95, len(at))).astype(np.int64)
            start[at] = np.where(rem, p_start + gap, c_start)
            end[at] = np.where(rem, end[p] - gap, c_end)
        return start.astype(np.uint64), end.astype(np.uint64)

    def _errors(
        self,
        *,
        shape: Array,
        trace_first: Array,
        g: Array,
        parent: Array,
        trace: Array,
        n_traces: int,
        error_ratio: float,
        rng: np.random.Generator,
    ) -> tuple[Array, Array, Array]:
        """(in error, is the origin, HTTP status code) per span; errors climb from a leaf to the root."""
        n = len(g)
        failing = np.flatnonzero(rng.random(n_traces) < error_ratio)
        sh = shape[failing]
        pick = self.cand_start[sh] + (rng.random(len(failing)) * self.cand_n[sh]).astype(np.int64)
        origin_idx = trace_first[failing] + self.cand_local[pick]
        origin = np.zeros(n, np.bool_)
        origin[origin_idx] = True
        err = origin.copy()
        cur = origin_idx
        while len(cur):
            cur = parent[cur]
            cur = cur[cur >= 0]
            err[cur] = True
        trace_code = np.zeros(n_traces, np.int64)
        trace_code[failing] = rng.choice(_ERROR_CODES, len(failing), p=_ERROR_CODE_P)
        code = self.sp_code[g].copy()
        code[err] = trace_code[trace[err]]
        # a few clean not-founds on root GETs (a 4xx is not an error of a SERVER span)
        not_found = (parent < 0) & ~err & (code == 200) & (rng.random(n) < 0.03)
        code[not_found] = 404
        return err, origin, code

    def _build(self, c: _SpanColumns, rng: np.random.Generator) -> SpanBatch:
        n = len(c.g)
        scope_keys, span_scope = np.unique(c.scope_key, return_inverse=True)
        services, scope_resource = np.unique(scope_keys // _N_SCOPE_SLOTS, return_inverse=True)
        n_res, n_scopes = len(services), len(scope_keys)
        resources = pa.Table.from_arrays(
            [
                pa.array([SCHEMA_URL] * n_res, pa.string()),
                pa.array(np.zeros(n_res, np.uint32)),
                pa.nulls(n_res, S.RESOURCES.field("entity_refs").type),
            ],
            schema=S.RESOURCES,
        )
        res_slots = [self.resource_slots[int(s)] for s in services]
        r_rows = np.repeat(np.arange(n_res), [len(x) for x in res_slots])
        flat_res = [sl for x in res_slots for sl in x]
        resource_attributes = self._attr_table(
            rows=r_rows,
            key=np.array([sl.key for sl in flat_res], np.int32),
            vtype=np.full(len(flat_res), ValueType.STRING, np.int8),
            str_idx=np.array([sl.str_idx for sl in flat_res], np.int64),
            ints=np.zeros(len(flat_res), np.int64),
            bools=np.zeros(len(flat_res), np.bool_),
        )
        scope_info = [self.scope_names[int(k) // _N_SCOPE_SLOTS][int(k) % _N_SCOPE_SLOTS] for k in scope_keys]
        scopes = pa.Table.from_arrays(
            [
                pa.array(scope_resource.astype(np.int32)),
                pa.array([s[0] for s in scope_info], pa.string()),
                pa.array([s[1] for s in scope_info], pa.string()),
                pa.array(np.zeros(n_scopes, np.uint32)),
                pa.array([""] * n_scopes, pa.string()),
            ],
            schema=S.SCOPES,
        )
        kind = self.sp_kind[c.g]
        err_kind = self.sp_err_kind[c.g]
        # exception of every origin: drawn from the pool of its kind
        exc_pick = (rng.random(n) * 3).astype(np.int64)
        exc_type = np.full(n, -1, np.int64)
        exc_msg = np.full(n, -1, np.int64)
        exc_stack = np.full(n, -1, np.int64)
        for ek in (_ERR_DB, _ERR_SERVER, _ERR_INTERNAL):
            sel = c.origin & (err_kind == ek)
            j = exc_pick[sel] % len(self.exc_types[ek])
            exc_type[sel] = self.exc_types[ek][j]
            exc_msg[sel] = self.exc_messages[ek][j]
            exc_stack[sel] = self.exc_stacks[ek][j]
        # error.type: the exception where the error started, the status code on HTTP spans above it
        err_type = np.full(n, -1, np.int64)
        http_err = c.err & self.sp_http[c.g] & ~c.origin
        lookup = np.zeros(max(self.http_codes) + 1, np.int64)
        for code, idx in self.http_codes.items():
            lookup[code] = idx
        err_type[http_err] = lookup[c.code[http_err]]
        err_type[c.origin] = exc_type[c.origin]
        # propagate the origin's exception type to INTERNAL ancestors
        internal_err = c.err & ~c.origin & ~self.sp_http[c.g]
        if internal_err.any():
            err_type[internal_err] = self.exc_types[_ERR_SERVER][0]
        messages = np.array(self.attr_strings.values, dtype=object)[np.maximum(exc_msg, 0)]
        status_message = pa.array(messages, pa.string(), mask=~c.origin)

        flags = np.where(self.sp_remote[c.g], FLAGS_REMOTE_PARENT, FLAGS_LOCAL_PARENT).astype(np.uint32)
        spans = pa.Table.from_arrays(
            [
                pa.array(span_scope.astype(np.int32)),
                _fixed(c.trace_ids, S.TRACE_ID),
                _fixed(c.span_ids, S.SPAN_ID),
                pa.nulls(n, pa.string()),
                _fixed(c.parent_ids, S.SPAN_ID, valid=c.has_parent),
                pa.array(flags),
                pa.DictionaryArray.from_arrays(
                    pa.array(self.sp_name[c.g]), pa.array(self.span_names.values, pa.string())
                ),
                pa.array(kind),
                pa.array(c.start),
                pa.array(c.end),
                pa.array(np.zeros(n, np.uint32)),
                pa.array(np.zeros(n, np.uint32)),
                pa.array(np.zeros(n, np.uint32)),
                pa.array(np.where(c.err, StatusCode.ERROR, StatusCode.UNSET).astype(np.int8)),
                status_message,
            ],
            schema=S.SPANS,
        )
        # span attributes: every span's slots, minus error.type where the span is fine
        cnt = self.sp_slot_n[c.g]
        rows = np.repeat(np.arange(n), cnt)
        first = np.concatenate([[0], np.cumsum(cnt)[:-1]]).astype(np.int64)
        slot = np.repeat(self.sp_slot_start[c.g], cnt) + (np.arange(len(rows)) - first[rows])
        skind = self.sl_kind[slot]
        keep = (skind != _ERROR_TYPE) | c.err[rows]
        rows, slot, skind = rows[keep], slot[keep], skind[keep]
        str_idx = self.sl_str[slot] + (rng.random(len(slot)) * self.sl_nvar[slot]).astype(np.int64)
        str_idx = np.where(skind == _ERROR_TYPE, err_type[rows], str_idx)
        ints = np.where(skind == _STATUS, c.code[rows], self.sl_int[slot])
        bools = np.where(skind == _RANDBOOL, rng.random(len(slot)) < 0.7, self.sl_bool[slot])
        span_attributes = self._attr_table(
            rows=rows, key=self.sl_key[slot], vtype=self.sl_vtype[slot], str_idx=str_idx, ints=ints, bools=bools
        )
        # one exception event per origin span, just before it ends
        ev_span = np.flatnonzero(c.origin)
        n_ev = len(ev_span)
        ev_time = c.start[ev_span] + ((c.end[ev_span] - c.start[ev_span]) * 0.9).astype(np.uint64)
        events = pa.Table.from_arrays(
            [
                pa.array(ev_span.astype(np.int32)),
                pa.array(ev_time.astype(np.uint64)),
                pa.DictionaryArray.from_arrays(pa.array(np.zeros(n_ev, np.int32)), pa.array(["exception"])),
                pa.array(np.zeros(n_ev, np.uint32)),
            ],
            schema=S.EVENTS,
        )
        k = self.attr_keys
        ev_keys = np.array([k("exception.type"), k("exception.message"), k("exception.stacktrace")], np.int32)
        event_attributes = self._attr_table(
            rows=np.repeat(np.arange(n_ev), 3),
            key=np.tile(ev_keys, n_ev),
            vtype=np.full(3 * n_ev, ValueType.STRING, np.int8),
            str_idx=np.stack([exc_type[ev_span], exc_msg[ev_span], exc_stack[ev_span]], axis=1).ravel(),
            ints=np.zeros(3 * n_ev, np.int64),
            bools=np.zeros(3 * n_ev, np.bool_),
        )
        return SpanBatch(
            {
                "resources": resources,
                "resource_attributes": resource_attributes,
                "scopes": scopes,
                "spans": spans,
                "span_attributes": span_attributes,
                "events": events,
                "event_attributes": event_attributes,
            },
            check=False,
        )

    def _attr_table(
        self, *, rows: Array, key: Array, vtype: Array, str_idx: Array, ints: Array, bools: Array
    ) -> pa.Table:
        n = len(rows)
        is_str = vtype == ValueType.STRING
        is_int = vtype == ValueType.INT
        is_bool = vtype == ValueType.BOOL
        return pa.Table.from_arrays(
            [
                pa.array(rows.astype(np.int32)),
                pa.DictionaryArray.from_arrays(
                    pa.array(key.astype(np.int32)), pa.array(self.attr_keys.values, pa.string())
                ),
                pa.array(vtype.astype(np.int8)),
                pa.DictionaryArray.from_arrays(
                    pa.array(np.where(is_str, str_idx, 0).astype(np.int32), mask=~is_str),
                    pa.array(self.attr_strings.values, pa.string()),
                ),
                pa.array(ints.astype(np.int64), mask=~is_int).dictionary_encode(),
                pa.nulls(n, S.ATTRIBUTES.field("double").type),
                pa.array(bools.astype(np.bool_), mask=~is_bool),
                pa.nulls(n, pa.binary()),
            ],
            schema=S.ATTRIBUTES,
        )


@dataclass(slots=True)
class _SpanColumns:
    g: Array
    trace: Array
    parent: Array
    start: Array
    end: Array
    err: Array
    origin: Array
    code: Array
    trace_ids: Array
    span_ids: Array
    parent_ids: Array
    has_parent: Array
    scope_key: Array


@dataclass(frozen=True, slots=True)
class GeneratedTraces:
    """A generated batch and, per span row, its trace number and its parent's row (-1: root)."""

    batch: SpanBatch
    n_traces: int
    trace: Array
    parent: Array


def _fixed(values: Array, typ: pa.DataType, valid: Array | None = None) -> pa.Array:
    buffers = [
        None if valid is None else pa.array(valid).buffers()[1],
        pa.py_buffer(np.ascontiguousarray(values).tobytes()),
    ]
    return pa.FixedSizeBinaryArray.from_buffers(typ, len(values), buffers)


def _be_bytes(values: Array, width: int) -> Array:
    """Unsigned integers as rows of ``width`` big-endian bytes."""
    dtype = np.dtype(f">u{width}")
    return np.ascontiguousarray(values.astype(dtype)).view(np.uint8).reshape(-1, width)


def fmix64(x: Array) -> Array:
    """MurmurHash3's 64-bit finalizer: a bijection on uint64 (distinct in, distinct out; 0 -> 0)."""
    x = x.astype(np.uint64)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


def fmix32(x: Array) -> Array:
    """MurmurHash3's 32-bit finalizer: a bijection on uint32."""
    x = x.astype(np.uint32)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x85EBCA6B)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0xC2B2AE35)
    x ^= x >> np.uint32(16)
    return x


_TOPOLOGIES: dict[tuple[int, int], Topology] = {}


def topology(services: int = 8, seed: int = 0) -> Topology:
    """The (cached) topology for ``(services, seed)``."""
    key = (services, seed)
    topo = _TOPOLOGIES.get(key)
    if topo is None:
        topo = _TOPOLOGIES[key] = Topology(services, seed=seed)
    return topo


def generate_traces(
    n: int,
    *,
    services: int = 8,
    error_ratio: float = 0.02,
    seed: int = 0,
    start_ns: int = 1_700_000_000_000_000_000,
    spread_ns: int = 1_000_000_000,
    first_trace: int = 0,
    first_span: int = 0,
) -> SpanBatch:
    """``n`` spans of whole, realistic traces across ``services`` services (deterministic per ``seed``).

    ``error_ratio`` is the share of *traces* that fail (their root span has status ERROR); see the
    module docstring for the shape of the traces and the layout of the ids.

    >>> batch = generate_traces(1000, services=3, seed=1)
    >>> len(batch), batch.resources.num_rows
    (1000, 3)
    >>> attrs = batch.table("resource_attributes").to_pydict()
    >>> [v for k, v in zip(attrs["key"], attrs["str"]) if k == "service.name"]
    ['frontend', 'checkout', 'cart']
    """
    rng = np.random.default_rng([seed, 1])
    return (
        topology(services, seed)
        .generate(
            n,
            rng=rng,
            error_ratio=error_ratio,
            start_ns=start_ns,
            spread_ns=spread_ns,
            first_trace=first_trace,
            first_span=first_span,
        )
        .batch
    )
