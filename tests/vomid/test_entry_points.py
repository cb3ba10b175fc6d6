"""Each deployable's entry point, run as its image runs it: only that image's packages importable.

The router image installs the base dependencies only, so `python -m router` must start with the export extra
(torch, onnx, onnxscript, modelscope, speakerlab) and the dev tools unimportable. The embedded `vomid up` needs the
export extra only when it has to export a model.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.router.process import serve_until_healthy, wait_healthy, write_router_config
from vomid.tritonserver import free_port

ROOT = Path(__file__).resolve().parents[2]
BLOCKER = Path(__file__).with_name("blocked_imports.py")
EXPORT_EXTRA = "torch,onnx,onnxscript,modelscope,speakerlab"
NOT_IN_ROUTER_IMAGE = f"{EXPORT_EXTRA},matplotlib,pytest,locust"  # matplotlib: the plots extra


def run_blocked(blocked: str, module: str, *args: str, cwd: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(BLOCKER), blocked, "--", module, *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    return output


def test_the_blocker_really_blocks(tmp_path):
    """The harness itself: a blocked package fails to import, so the tests below prove something."""
    process = run_blocked("json", "json.tool", "--help", cwd=tmp_path)
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0 and "blocked: not installed in this image" in output


def test_router_starts_with_the_base_install_only(triton, tmp_path):
    port = free_port()
    config = write_router_config(tmp_path, port, triton.grpc_url)
    output = serve_until_healthy([sys.executable, str(BLOCKER), NOT_IN_ROUTER_IMAGE, "--", "router", "--config",
                                  str(config)], port, tmp_path, timeout=60)
    assert "blocked" not in output


def test_a_started_router_has_not_loaded_what_it_loads_on_demand(triton, tmp_path):
    """FFmpeg (M4A/AAC/MP4 only), scipy and scikit-learn (labelling jobs) and onnxruntime (in-process models) stay
    out of an idle router's memory (bench_footprint): blocked, the router still starts and passes its self-check."""
    port = free_port()
    config = write_router_config(tmp_path, port, triton.grpc_url)
    blocked = f"{NOT_IN_ROUTER_IMAGE},av,scipy,sklearn,onnxruntime"
    output = serve_until_healthy([sys.executable, str(BLOCKER), blocked, "--", "router", "--config", str(config)],
                                 port, tmp_path, timeout=60)
    assert "blocked" not in output


def test_up_with_an_exported_repository_needs_no_export_extra(model_repository, tmp_path):
    shutil.copytree(model_repository, tmp_path / "model_repository")
    port = free_port()
    process = run_blocked(EXPORT_EXTRA, "vomid", "up", "--port", str(port), cwd=tmp_path)
    try:
        status, body = wait_healthy(port, process, timeout=240)
        assert status == 200 and body["status"] == "ok", body
    finally:
        output = stop(process)
    assert process.returncode == 0, output[-3000:]
    assert "exporting" not in output


def test_up_without_a_repository_or_the_export_extra_says_what_to_install(tmp_path):
    process = run_blocked(EXPORT_EXTRA, "vomid", "up", "--random-weights", cwd=tmp_path)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2, output[-3000:]
    assert "edge-vomid[export]" in output and "Traceback" not in output


@pytest.mark.parametrize("argv", [["main.py", "--help"], ["main.py", "up", "--help"]])
def test_main_py_still_dispatches(argv, tmp_path):
    result = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert ("--random-weights" in result.stdout) == ("up" in argv)
