"""The connection's owner: each service local or remote on its own, a URL that does not answer
as the right service is named (with what to do) before anything starts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azr_trainer.errors import UsageError
from azr_trainer.session import Endpoint, open_session, probe


@pytest.fixture
def fake_buffer() -> Iterator[str]:
    """An HTTP server whose /healthz says it is the buffer service."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "ok", "service": "buffer", "version": "0"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_executor_urls_without_buffer_url_are_used_not_replaced(tmp_path):
    # The bug: executor_urls without buffer_url started a local executor and ignored the URL.
    with (
        pytest.raises(UsageError) as info,
        open_session(tmp_path, executor_urls=["http://127.0.0.1:1"]),
    ):
        pass
    message = str(info.value)
    assert "the executor at http://127.0.0.1:1 does not answer" in message
    assert "make up" in message and "drop executor_urls" in message
    assert not list(tmp_path.iterdir())  # nothing was started locally


def test_an_unreachable_buffer_names_its_url_and_the_way_out(tmp_path):
    session = open_session(tmp_path, buffer_url="http://127.0.0.1:1", executor=False)
    with pytest.raises(UsageError, match=r"(?s)buffer at http://127\.0\.0\.1:1 .*drop buffer_url"):
        session.__enter__()


def test_a_url_of_the_other_service_is_refused(fake_buffer):
    probe("buffer", fake_buffer)
    with pytest.raises(UsageError, match="is the buffer service, not the azr executor"):
        probe("executor", fake_buffer)


def test_a_remote_buffer_with_no_executor_needed_starts_nothing(tmp_path, fake_buffer):
    with open_session(tmp_path, buffer_url=fake_buffer, executor=False) as s:
        assert s.endpoints == [Endpoint("buffer", (fake_buffer,), local=False)]
        assert s.describe() == f"buffer: remote {fake_buffer}"
        assert s.url("executor") == "" and s.executor is None and s.buffer is not None
    assert not list(tmp_path.iterdir())


def test_several_processes_need_both_urls(tmp_path, fake_buffer):
    session = open_session(tmp_path, buffer_url=fake_buffer, world=2)
    with pytest.raises(UsageError, match="with 2 processes every rank must share"):
        session.__enter__()
