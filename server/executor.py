"""A query process: runs SPARQL queries on the read-only store, one at a time, for one web worker.

pyoxigraph cannot cancel a running query, so queries run here, in a process of their own that the
web worker can kill when the time is up (``pool.py``); killing it frees the CPU at once. The process
is started as a plain script (``python executor.py STORE FD``) so that it imports only the standard
library and pyoxigraph: it starts in a few tens of milliseconds and stays small.

It talks with the worker over a Unix socket in messages framed by a 4-byte length (``send`` and
``Reader``, shared with ``pool.py``), each read with one system call when it is small:

- worker -> process: one pickled request dict per query (see ``handle``);
- process -> worker: ``F`` + cost + header + body when the whole answer is small; otherwise ``H`` +
  header, then ``D`` + bytes chunks, then ``E`` + cost; or ``X`` + pickled (error kind, message).
  The header is one line of text: the kind's initial (s, b, g), 1 or 0 for truncated, the media
  type and a newline (``header``, ``read_header``). The cost is the CPU time the process spent on
  the query, a big-endian double, NaN where it is not known (``with_cost``, ``read_cost``): the
  worker charges it to the client without asking the system for it.

The process also makes sure it cannot open a network connection (a seccomp filter refusing IPv4 and
IPv6 sockets, where the platform allows it): the endpoint refuses ``SERVICE`` before a query gets
here, and this is the second lock on that door.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import json
import math
import os
import pickle
import platform
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pyoxigraph as ox

READY = b"ready"
FULL, HEAD, DATA, END, ERROR = b"F", b"H", b"D", b"E", b"X"
# answers larger than this are streamed in chunks of about this size instead of sent whole
STREAM_THRESHOLD = 1024 * 1024
KINDS = {b"s": "solutions", b"b": "boolean", b"g": "graph"}
INITIALS = {kind: initial for initial, kind in KINDS.items()}

# --- messages -----------------------------------------------------------------------------------

LENGTH = struct.Struct("!I")
COST = struct.Struct("!d")
UNKNOWN_COST = COST.pack(math.nan)
# a message up to this size goes out in one system call, and most arrive in one
SMALL_MESSAGE = 64 * 1024


# sends one message made of its arguments: ``send`` on a socket, or a queue in the same process
Emit = Callable[..., None]


def send(sock: socket.socket, *parts: bytes) -> None:
    """One message made of ``parts``."""
    size = sum(len(part) for part in parts)
    if size <= SMALL_MESSAGE:
        sock.sendall(b"".join((LENGTH.pack(size), *parts)))
        return
    sock.sendall(LENGTH.pack(size))
    for part in parts:
        sock.sendall(part)


class Reader:
    """The messages arriving on a stream socket: one ``recv`` for a small message, two for a large
    one (the rest in one call); what arrives beyond a message is kept for the next."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def read(self) -> bytes:
        buffer = self.buffer
        while len(buffer) < LENGTH.size:
            buffer = self._more(buffer, SMALL_MESSAGE)
        end = LENGTH.size + LENGTH.unpack_from(buffer)[0]
        while len(buffer) < end:
            buffer = self._more(buffer, end - len(buffer), socket.MSG_WAITALL)
        self.buffer = buffer[end:]
        return buffer[LENGTH.size : end]

    def _more(self, buffer: bytes, size: int, flags: int = 0) -> bytes:
        chunk = self.sock.recv(size, flags)
        if not chunk:
            raise EOFError("the other end closed the connection")
        return buffer + chunk if buffer else chunk


def with_cost(emit: Emit, cost: Callable[[], float] | None) -> Emit:
    """``emit`` with the cost field added to the messages that end an answer (``F`` and ``E``):
    ``cost()`` seconds of CPU time, or NaN without it."""

    def emit_with_cost(tag: bytes, *parts: bytes) -> None:
        if tag in (FULL, END):
            emit(tag, COST.pack(cost()) if cost is not None else UNKNOWN_COST, *parts)
        else:
            emit(tag, *parts)

    return emit_with_cost


def read_cost(message: bytes) -> float | None:
    """The cost field of an ``F`` or ``E`` message; None when it is not known."""
    seconds = COST.unpack_from(message, 1)[0]
    return None if math.isnan(seconds) else seconds


@functools.lru_cache(maxsize=64)
def header(kind: str, media_type: str, truncated: bool) -> bytes:
    return INITIALS[kind] + (b"1" if truncated else b"0") + media_type.encode() + b"\n"


def read_header(message: bytes) -> tuple[str, str, bool, int]:
    """(kind, media type, truncated, where the body starts) of an ``F`` or ``H`` message."""
    start = 1 + COST.size if message[:1] == FULL else 1
    end = message.index(b"\n", start)
    kind, truncated = message[start : start + 1], message[start + 1 : start + 2] == b"1"
    return KINDS[kind], message[start + 2 : end].decode(), truncated, end + 1


# --- answers ------------------------------------------------------------------------------------


class Full(Exception):
    """Raised from a capped writer to stop a serializer once the row cap is passed."""


class CappedBuffer:
    """Collects a line-based serialization (TSV) and stops it after ``limit`` lines."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.lines = 0
        self.full = False

    def write(self, data: bytes) -> int:
        chunk = bytes(data)
        self.parts.append(chunk)
        self.lines += chunk.count(b"\n")
        if self.lines > self.limit:
            self.full = True
            raise Full
        return len(chunk)

    def flush(self) -> None:
        pass

    def value(self) -> bytes:
        """The first ``limit`` lines: a serializer writes in blocks, so the last may run over."""
        if not self.full:
            return b"".join(self.parts)
        kept, lines = [], 0
        for part in self.parts:
            count = part.count(b"\n")
            if lines + count < self.limit:
                kept.append(part)
                lines += count
                continue
            end = -1
            for _ in range(self.limit - lines):
                end = part.index(b"\n", end + 1)
            kept.append(part[: end + 1])
            break
        return b"".join(kept)


class TooLarge(Exception):
    """Raised from a sink to stop a serializer once the answer passes its byte cap."""


def too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"the answer is larger than {limit} bytes (max_response_bytes); "
        "add a LIMIT or select fewer variables"
    )


class Sink:
    """Where the answer goes: held back while small, so the worker can still choose the status
    (a timeout must be a 503, not a cut 200), then streamed in chunks once it grows.

    ``limit`` caps the bytes of the whole answer (0: no cap). Passing it while the answer is held
    back makes it an error answer; passing it while streaming ends the stream with an error, which
    the worker turns into a response cut off without its end, so no client takes it for complete.
    """

    def __init__(
        self,
        emit: Emit,
        head: tuple[str, str, bool],
        patch: Callable[[bytes], bytes],
        limit: int = 0,
    ) -> None:
        self.emit = emit
        self.header = header(*head)
        self.patch = patch
        self.parts: list[bytes] = []
        self.size = 0
        self.streaming = False
        self.limit = limit
        self.total = 0

    def write(self, data: bytes) -> int:
        self.total += len(data)
        if self.limit and self.total > self.limit:
            raise too_large(self.limit)
        self.parts.append(bytes(data))
        self.size += len(data)
        if self.size >= STREAM_THRESHOLD:
            self._send_chunk()
        return len(data)

    def flush(self) -> None:
        pass

    def _take(self) -> bytes:
        body = b"".join(self.parts)
        self.parts, self.size = [], 0
        if not self.streaming:
            body = self.patch(body)
        return body

    def _send_chunk(self) -> None:
        body = self._take()
        if not self.streaming:
            self.emit(HEAD, self.header)
            self.streaming = True
        self.emit(DATA, body)

    def finish(self) -> None:
        if self.streaming:
            if self.parts:
                self.emit(DATA, self._take())
            self.emit(END)
        else:
            self.emit(FULL, self.header, self._take())


def handle(store: ox.Store, request: dict[str, Any], sock: socket.socket) -> None:
    """Run one query and send its answer.

    ``request`` keys: query, default_graphs and named_graphs (lists of IRIs or None), union (bool),
    formats (result kind -> media type, None when the client accepts none), max_rows (0: no cap),
    prefixes (for Turtle and TriG), link (in-band note on a truncated SPARQL JSON/XML answer),
    limit (the outermost LIMIT of the query text, or None), max_bytes (bytes of the answer, 0: no
    cap), base (the IRI relative IRIs of the query resolve against, or None), small (optional:
    solutions known from an earlier run to be few and under the cap, which Oxigraph then writes
    in one piece, with no row counting).
    """
    started = time.process_time()
    result = store.query(request["query"], **query_options(request))
    emit = with_cost(functools.partial(send, sock), lambda: max(0.0, time.process_time() - started))
    answer(result, request, emit)


def answer(result: Any, request: dict[str, Any], emit: Emit) -> None:
    """Send the answer of a query as ``emit``'s messages: ``result`` is what a store or a
    results parser gives (solutions, a boolean, or an iterable of triples), ``request`` as
    ``handle`` takes it. A remote store's answers go through here too (``remote.py``)."""
    kind = kind_of(result)
    media_type = request["formats"].get(kind)
    if media_type is None:
        emit(ERROR, pickle.dumps(("not_acceptable", kind)))
        return
    whole = whole_answer(result, request)
    if whole is not None:
        sink = Sink(emit, (kind, media_type, False), _same)
        sink.write(whole[2])
        sink.finish()
        return
    max_rows = request["max_rows"]
    max_bytes = request.get("max_bytes") or 0
    if kind == "solutions":
        limit = request.get("limit")
        if limit is not None and limit <= max_rows:
            max_rows = 0  # the query's own LIMIT keeps it under the cap
        _solutions(result, media_type, max_rows, request.get("link"), emit, max_bytes)
        return
    _triples(result, media_type, max_rows, request.get("prefixes") or {}, emit, max_bytes)


def kind_of(result: Any) -> str:
    if isinstance(result, ox.QuerySolutions):
        return "solutions"
    if isinstance(result, ox.QueryBoolean):
        return "boolean"
    return "graph"


def whole_answer(result: Any, request: dict[str, Any]) -> tuple[str, str, bytes] | None:
    """(kind, media type, body) of an answer Oxigraph writes in one piece, with nothing to count
    or cap: a boolean, or solutions an earlier run showed to be few and under the row cap
    (``small``). None for any other, or for a kind the client accepts no format of; raises
    ``TooLarge`` past ``max_bytes``.

    Triples keep their own path (``_triples``): written in one piece, a CONSTRUCT of one
    resource took no less CPU per request (measured with 8 clients)."""
    kind = kind_of(result)
    if kind == "graph" or (kind == "solutions" and not request.get("small")):
        return None
    media_type = request["formats"].get(kind)
    if media_type is None:
        return None
    body = result.serialize(None, _results_format(media_type))
    limit = request.get("max_bytes") or 0
    if limit and len(body) > limit:
        raise too_large(limit)
    return kind, media_type, body


def query_options(request: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``Store.query``: the request's dataset and base IRI."""
    options: dict[str, Any] = {}
    if request.get("base"):
        options["base_iri"] = request["base"]
    if request.get("union"):
        options["use_default_graph_as_union"] = True
        return options
    if request.get("default_graphs") is not None:
        options["default_graph"] = [ox.NamedNode(iri) for iri in request["default_graphs"]]
    if request.get("named_graphs") is not None:
        options["named_graphs"] = [ox.NamedNode(iri) for iri in request["named_graphs"]]
    return options


def _solutions(
    result: ox.QuerySolutions,
    media_type: str,
    max_rows: int,
    link: str | None,
    emit: Emit,
    max_bytes: int = 0,
) -> None:
    target = _results_format(media_type)
    if max_rows <= 0:
        sink = Sink(emit, ("solutions", media_type, False), _same, max_bytes)
        result.serialize(sink, target)
        sink.finish()
        return
    # TSV has one row per line, so the cap is a line count; the capped rows are then read back and
    # written in the wanted format, all inside Oxigraph, never row by row in Python
    capped = CappedBuffer(max_rows + 1)  # + the header line
    with contextlib.suppress(Full):
        result.serialize(capped, ox.QueryResultsFormat.TSV)
    truncated = capped.full
    patch = _note_truncation(media_type, link) if truncated else _same
    sink = Sink(emit, ("solutions", media_type, truncated), patch, max_bytes)
    body = capped.value()
    if target == ox.QueryResultsFormat.TSV:
        sink.write(body)
    else:
        ox.parse_query_results(body, ox.QueryResultsFormat.TSV).serialize(sink, target)
    sink.finish()


def _triples(
    result: ox.QueryTriples,
    media_type: str,
    max_rows: int,
    prefixes: dict[str, str],
    emit: Emit,
    max_bytes: int = 0,
) -> None:
    target = _rdf_format(media_type)
    if max_rows <= 0:
        sink = Sink(emit, ("graph", media_type, False), _same, max_bytes)
        ox.serialize(result, sink, target, prefixes=_prefixes_for(target, prefixes))
        sink.finish()
        return
    # the cap is counted as the triples pass: no second serialization; at most max_rows + 1
    # triples are held, so the header (truncated or not) is known before anything is sent
    triples = list(itertools.islice(result, max_rows + 1))
    truncated = len(triples) > max_rows
    if truncated:
        del triples[max_rows:]
    patch = _comment_truncation(target, max_rows) if truncated else _same
    sink = Sink(emit, ("graph", media_type, truncated), patch, max_bytes)
    ox.serialize(triples, sink, target, prefixes=_prefixes_for(target, prefixes))
    sink.finish()


def _prefixes_for(target: ox.RdfFormat, prefixes: dict[str, str]) -> dict[str, str] | None:
    return prefixes if target in (ox.RdfFormat.TURTLE, ox.RdfFormat.TRIG) and prefixes else None


@functools.lru_cache(maxsize=32)
def _results_format(media_type: str) -> ox.QueryResultsFormat:
    return ox.QueryResultsFormat.from_media_type(media_type)


@functools.lru_cache(maxsize=32)
def _rdf_format(media_type: str) -> ox.RdfFormat:
    return ox.RdfFormat.from_media_type(media_type)


def _same(body: bytes) -> bytes:
    return body


def _note_truncation(media_type: str, link: str | None) -> Callable[[bytes], bytes]:
    """Flag a truncated SPARQL JSON or XML answer in-band with the standard ``link`` of its head.

    Oxigraph writes the head first and compactly (``{"head":{"vars":[...]}``, ``</head>``), and
    variable names cannot contain ``]`` or ``<``, so the first match is the end of the head.
    """
    if not link:
        return _same
    fmt = _results_format(media_type)
    if fmt == ox.QueryResultsFormat.JSON:
        marker = b'{"head":{"vars":['
        note = b',"link":[' + _json_string(link) + b"]"

        def patch_json(body: bytes) -> bytes:
            if not body.startswith(marker):
                return body
            end = body.index(b"]", len(marker)) + 1
            return body[:end] + note + body[end:]

        return patch_json
    if fmt == ox.QueryResultsFormat.XML:
        element = b'<link href="' + _xml_attribute(link) + b'"/>'

        def patch_xml(body: bytes) -> bytes:
            return body.replace(b"</head>", element + b"</head>", 1)

        return patch_xml
    return _same


def _comment_truncation(target: ox.RdfFormat, max_rows: int) -> Callable[[bytes], bytes]:
    """Line-based and Turtle-family formats allow a comment: say there, too, that triples are
    missing."""
    if target not in (
        ox.RdfFormat.TURTLE,
        ox.RdfFormat.TRIG,
        ox.RdfFormat.N_TRIPLES,
        ox.RdfFormat.N_QUADS,
    ):
        return _same
    note = f"# truncated: only the first {max_rows} triples of the result\n".encode()

    def patch(body: bytes) -> bytes:
        return note + body

    return patch


def _json_string(text: str) -> bytes:
    return json.dumps(text).encode()


def _xml_attribute(text: str) -> bytes:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    return escaped.encode()


def failure_of(error: Exception) -> tuple[str, str]:
    """(kind, message) of an error met running a query: how the worker is told of it."""
    if isinstance(error, SyntaxError):
        return "syntax", str(error)
    if isinstance(error, TooLarge):
        return "too_large", str(error)
    if isinstance(error, ValueError):
        return "bad_request", str(error)
    if isinstance(error, OSError):
        return "store", str(error)
    return "internal", f"{type(error).__name__}: {error}"


def forbid_network(all_threads: bool = False) -> bool:
    """Refuse IPv4/IPv6 sockets to this process from now on (Linux seccomp); False if unsupported.

    A filter on ``socket(2)``: sockets already open (the Unix socket to the worker, a web
    worker's listening socket) and other socket families stay allowed, so nothing but network
    access changes. ``all_threads``: the filter covers every thread the process already has
    (a web worker's, started by its HTTP server), not only the calling one and its future threads.
    """
    arches = {"x86_64": (0xC000003E, 41, 317), "aarch64": (0xC00000B7, 198, 277)}
    if sys.platform != "linux" or platform.machine() not in arches:
        return False
    audit_arch, nr_socket, nr_seccomp = arches[platform.machine()]

    class SockFilter(ctypes.Structure):
        _fields_ = (
            ("code", ctypes.c_ushort),
            ("jt", ctypes.c_ubyte),
            ("jf", ctypes.c_ubyte),
            ("k", ctypes.c_uint32),
        )

    class SockFprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter)))

    load, jump_eq, ret = 0x20, 0x15, 0x06
    allow, refuse = 0x7FFF0000, 0x00050000 | 13  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EACCES
    program = (SockFilter * 9)(
        SockFilter(load, 0, 0, 4),  # seccomp_data.arch
        SockFilter(jump_eq, 0, 5, audit_arch),  # another ABI: allow
        SockFilter(load, 0, 0, 0),  # seccomp_data.nr
        SockFilter(jump_eq, 0, 3, nr_socket),
        SockFilter(load, 0, 0, 16),  # args[0]: the address family
        SockFilter(jump_eq, 2, 0, 2),  # AF_INET
        SockFilter(jump_eq, 1, 0, 10),  # AF_INET6
        SockFilter(ret, 0, 0, allow),
        SockFilter(ret, 0, 0, refuse),
    )
    fprog = SockFprog(len(program), program)
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        return False
    if all_threads:
        # seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, ...): every thread at once
        # (the kernel gives them no_new_privs too), or none and a nonzero answer
        return libc.syscall(nr_seccomp, 1, 1, ctypes.byref(fprog)) == 0
    return libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) == 0


def _exit_with_parent(parent: int) -> None:
    """A query may run for long after its worker died; nobody would read it, so stop."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def main(argv: list[str]) -> int:
    store_path, fd = argv[1], int(argv[2])
    parent = os.getppid()
    network_closed = forbid_network()
    sock = socket.socket(fileno=fd)
    reader = Reader(sock)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        store = ox.Store.read_only(store_path)
    except OSError as error:
        send(sock, ERROR, pickle.dumps(("store", f"cannot open the store: {error}")))
        return 1
    send(sock, READY + (b" sealed" if network_closed else b""))
    while True:
        try:
            message = reader.read()
        except (EOFError, OSError):
            return 0
        request = pickle.loads(message)
        try:
            handle(store, request, sock)
        except Exception as error:  # the worker logs it; this process must keep serving
            failure = failure_of(error)
        else:
            continue
        try:
            send(sock, ERROR, pickle.dumps(failure))
        except OSError:  # the worker is gone
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
