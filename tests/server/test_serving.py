"""How the server runs: settings handed to granian's workers, and the query processes' messages."""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

import pytest
from kgpub.server import executor as protocol
from kgpub.server import wsgi

from kgpub.settings import Settings


class TestSettingsForWorkers:
    def test_round_trip(self) -> None:
        settings = Settings.load(
            overrides={
                "store": Path("/srv/kg/store"),
                "cache": False,
                "query_timeout": 2.5,
                "workers": 3,
                "threads": 6,
                "port": 8123,
            },
            environ={},
        )
        assert wsgi.settings_from_text(wsgi.settings_to_text(settings)) == settings

    def test_the_defaults_round_trip(self) -> None:
        settings = Settings.load(environ={})
        assert wsgi.settings_from_text(wsgi.settings_to_text(settings)) == settings

    def test_a_worker_builds_its_app_from_the_environment(
        self, root: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = Settings.load(
            overrides={"root": root, "store": root / "store", "cache": True, "max_rows": 7},
            environ={},
        )
        monkeypatch.setenv(wsgi.SETTINGS_VARIABLE, wsgi.settings_to_text(settings))
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9/")
        app = wsgi.worker_app()
        assert "HTTP_PROXY" not in os.environ  # never mistaken for a request header
        statuses = []
        body = app(
            {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": "/-/ping",
                "QUERY_STRING": "",
                "SERVER_NAME": "localhost",
                "SERVER_PORT": "80",
                "wsgi.url_scheme": "http",
            },
            lambda status, headers, exc_info=None: statuses.append(status),
        )
        assert b"".join(body) == b"ok" and statuses == ["200 OK"]
        # only the workers of ``kgpub serve`` close their network; this process keeps it
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()

    def test_granian_options(self) -> None:
        settings = Settings.load(
            overrides={"host": "0.0.0.0", "port": 9000, "workers": 3, "threads": 5}, environ={}
        )
        options = wsgi.granian_options(settings)
        assert options["address"] == "0.0.0.0" and options["port"] == 9000
        assert options["workers"] == 3
        # a thread per connection taken on; the query processes (threads) bound the work
        assert options["blocking_threads"] == max(5, settings.max_concurrent_requests)
        assert options["backpressure"] == settings.max_concurrent_requests
        assert options["http1_settings"].max_buffer_size == (
            settings.max_url_bytes + settings.max_header_bytes
        )
        assert options["interface"] == "wsgi" and options["factory"] is True
        assert options["target"] == wsgi.TARGET
        assert options["http1_settings"].keep_alive

    def test_workers_default_to_the_cores(self) -> None:
        assert wsgi.worker_count(Settings.load(environ={})) == max(2, os.cpu_count() or 1)


class TestMessages:
    def test_many_small_messages_in_one_read(self) -> None:
        mine, theirs = socket.socketpair()
        with mine, theirs:
            for text in (b"one", b"", b"three"):
                protocol.send(theirs, text)
            reader = protocol.Reader(mine)
            assert [reader.read() for _ in range(3)] == [b"one", b"", b"three"]

    def test_a_large_message_in_parts(self) -> None:
        mine, theirs = socket.socketpair()
        big = os.urandom(3 * protocol.SMALL_MESSAGE + 17)
        with mine, theirs:
            sender = threading.Thread(target=protocol.send, args=(theirs, b"D", big, b"!"))
            sender.start()
            message = protocol.Reader(mine).read()
            sender.join()
        assert message == b"D" + big + b"!"

    def test_the_other_end_closing(self) -> None:
        mine, theirs = socket.socketpair()
        with mine:
            theirs.sendall(protocol.LENGTH.pack(10) + b"cut")
            theirs.close()
            with pytest.raises(EOFError):
                protocol.Reader(mine).read()

    @pytest.mark.parametrize("kind", ["solutions", "boolean", "graph"])
    @pytest.mark.parametrize("truncated", [True, False])
    def test_answer_headers(self, kind: str, truncated: bool) -> None:
        sent: list[bytes] = []
        emit = protocol.with_cost(lambda *parts: sent.append(b"".join(parts)), lambda: 0.25)
        emit(protocol.FULL, protocol.header(kind, "text/turtle", truncated), b"body\n")
        (message,) = sent
        found_kind, media_type, found_truncated, start = protocol.read_header(message)
        assert (found_kind, media_type, found_truncated) == (kind, "text/turtle", truncated)
        assert message[start:] == b"body\n"
        assert protocol.read_cost(message) == 0.25

    def test_a_stream_ends_with_its_cost_or_none(self) -> None:
        sent: list[bytes] = []
        known = protocol.with_cost(lambda *parts: sent.append(b"".join(parts)), lambda: 1.5)
        unknown = protocol.with_cost(lambda *parts: sent.append(b"".join(parts)), None)
        known(protocol.HEAD, protocol.header("graph", "text/turtle", False))
        known(protocol.DATA, b"chunk")
        known(protocol.END)
        unknown(protocol.END)
        head, data, end, end_unknown = sent
        assert protocol.read_header(head)[:3] == ("graph", "text/turtle", False)
        assert data == protocol.DATA + b"chunk"
        assert protocol.read_cost(end) == 1.5
        assert protocol.read_cost(end_unknown) is None


def granian_report(last_line: str) -> logging.LogRecord:
    """The record granian logs when a response body raises, as it words it."""
    text = (
        "Application callable raised an exception\n"
        "Traceback (most recent call last):\n"
        '  File "server/pool.py", line 330, in read_stream\n'
        f"{last_line}"
    )
    return logging.LogRecord("_granian", logging.ERROR, "", 0, text, (), None)


@pytest.mark.parametrize(
    "last_line",
    [
        "QueryFailed: the answer is larger than 2000 bytes (max_response_bytes)",
        "QueryTimeout: ",
        "kgpub.server.remote.Cancelled: ",
    ],
)
def test_an_answer_cut_on_purpose_is_one_warning_line(last_line: str) -> None:
    record = granian_report(last_line)
    assert wsgi.CutAnswers().filter(record) is True
    assert record.levelname == "WARNING"
    message = record.getMessage()
    assert message.startswith("an answer was cut short after its head was sent: ")
    assert "\n" not in message and "Traceback" not in message
    assert last_line.partition(": ")[2] in message or last_line.partition(": ")[0] in message


def test_any_other_error_in_a_body_keeps_its_traceback() -> None:
    record = granian_report("ZeroDivisionError: division by zero")
    before = record.getMessage()
    assert wsgi.CutAnswers().filter(record) is True
    assert record.getMessage() == before and record.levelname == "ERROR"


def test_granians_log_goes_through_the_filter() -> None:
    config = wsgi.logging_config()
    assert "kgpub_cut_answers" in config["handlers"]["console"]["filters"]
    assert config["filters"]["kgpub_cut_answers"]["()"] == "kgpub.server.wsgi.CutAnswers"
