"""The real process: `python main.py --config F` serves the API, and SIGINT stops it cleanly."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.router.process import get, wait_healthy
from vomid.tritonserver import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_main_serves_and_stops_on_sigint(triton, key_file, tmp_path):
    port = free_port()
    config = tmp_path / "router.yaml"
    config.write_text(json.dumps({
        "api": {"host": "127.0.0.1", "port": port}, "auth": {"keys_file": str(key_file[0])},
        "storage": {"type": "memory"}, "triton": {"instances": [triton.grpc_url]},
        "audit": {"path": str(tmp_path / "audit.log")}}))
    process = subprocess.Popen([sys.executable, "main.py", "--config", str(config)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        status, body = wait_healthy(port, process, timeout=60)
        assert status == 200 and body["ready"] and body["random_weights"] is True
        status, body = get(f"http://127.0.0.1:{port}/api/v1/voiceprints")
        assert status == 401 and body["error"]["code"] == "missing_api_key"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(line.get("logger") == "vomid.access" and line.get("request_id") for line in lines), output


def test_bad_config_exits_2_naming_the_key(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("api:\n  port: 70000\nauth:\n  enabled: false\n")
    result = subprocess.run([sys.executable, "main.py", "--config", str(config)], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "api.port: must be an integer 1-65535" in result.stderr


def test_up_exports_starts_everything_prints_the_key_and_stops(tmp_path):
    """`python main.py up --random-weights`: the embedded stack in one command, from an empty directory."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "up", "--random-weights", "--port", str(port),
                                "--config", str(ROOT / "vomid/default.yaml")], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        status, body = wait_healthy(port, process, timeout=240)
        assert status == 200 and body["status"] == "ok" and body["random_weights"]
        assert any((tmp_path / "var/store").iterdir())  # the file store of the embedded default
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output[-3000:]
    key = next(word for word in output.split() if word.startswith("vmd_"))
    assert (tmp_path / "var/api_keys").exists() and key not in (tmp_path / "var/api_keys").read_text()
    assert (tmp_path / "var/storage.key").exists() and any((tmp_path / "model_repository").glob("*/config.pbtxt"))
    assert f"http://127.0.0.1:{port}" in output


def test_up_without_weights_explains_how_to_supply_them(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "up", "--offline", "--cache-dir",
                             str(tmp_path / "empty"), "--config", str(ROOT / "vomid/default.yaml")],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--checkpoint" in result.stderr and "--random-weights" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_encryption_key_stops_start_up_with_a_clear_message(triton, key_file, tmp_path):
    """The file store was made under one key; starting the router with another must refuse, not serve nothing."""
    from store.crypto import generate_key

    port = free_port()
    settings = {"api": {"host": "127.0.0.1", "port": port}, "auth": {"keys_file": str(key_file[0])},
                "storage": {"type": "file", "path": str(tmp_path / "store"), "encryption_key": generate_key()},
                "triton": {"instances": [triton.grpc_url]}, "audit": {"enabled": False}}
    config = tmp_path / "router.yaml"
    config.write_text(json.dumps(settings))
    first = subprocess.Popen([sys.executable, "-m", "router", "--config", str(config)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_healthy(port, first, timeout=60)[0] == 200  # the store exists now, under the first key
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=30)
    settings["storage"]["encryption_key"] = generate_key()
    config.write_text(json.dumps(settings))
    result = subprocess.run([sys.executable, "-m", "router", "--config", str(config)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "storage.encryption_key" in result.stderr and "wrong key" in result.stderr
    assert "Traceback" not in result.stderr
