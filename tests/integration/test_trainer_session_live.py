"""A session with a remote executor and a local buffer: each service is what the config says,
the start-up lines say so, and closing stops what the session started."""

from __future__ import annotations

import httpx
import pytest
from azr_trainer.session import open_session
from azr_trainer.tasks import Proposal

pytestmark = pytest.mark.slow


def test_remote_executor_and_local_buffer_each_as_configured(tmp_path, executor_server):
    with open_session(tmp_path, executor_urls=[executor_server.url]) as s:
        lines = s.describe().splitlines()
        assert lines[0] == f"executor: remote {executor_server.url}"
        assert lines[1].startswith("buffer: local (started here) http://127.0.0.1:")
        buffer_url = s.url("buffer")
        assert httpx.get(f"{buffer_url}/healthz").json()["service"] == "buffer"
        judge = s.judge(concurrency=2)
        proposal = Proposal("deduction", "def f(x):\n    return x + 1", ("1",))
        assert s.call(judge.check, [proposal])[0].valid
        store = s.store("r", concurrency=2)
        s.call(store.ensure_run)
    assert (tmp_path / "buffer.log").exists() and not (tmp_path / "executor.log").exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{buffer_url}/healthz", timeout=2)
