"""The embedded tritonserver launcher: ports, readiness, several instances, clean shutdown, start failures."""
from __future__ import annotations

import pytest
import tritonclient.grpc as grpcclient

from vomid.tritonserver import TritonServer, TritonStartError, find_distribution


def test_distribution_is_found():
    dist = find_distribution()
    assert dist.binary.exists()
    assert (dist.backends / "python").is_dir()


def test_two_instances_side_by_side_then_stop(model_repository):
    first = TritonServer(model_repository, name="side-a").start()
    second = TritonServer(model_repository, name="side-b").start()
    try:
        assert len({first.grpc_port, second.grpc_port, first.http_port, second.http_port}) == 4
        for server in (first, second):
            client = grpcclient.InferenceServerClient(server.grpc_url)
            assert client.is_server_ready() and client.is_model_ready("speaker")
    finally:
        first.stop()
    assert not first.is_running() and not first.is_ready()
    assert second.is_ready()  # stopping one leaves the other serving
    second.kill()
    assert not second.is_running()


def test_broken_repository_fails_with_the_server_log(tmp_path):
    (tmp_path / "broken" / "1").mkdir(parents=True)
    (tmp_path / "broken" / "config.pbtxt").write_text('name: "broken"\nbackend: "no_such_backend"\n')
    with pytest.raises(TritonStartError, match="no_such_backend"):
        TritonServer(tmp_path, name="broken").start(timeout=60)
