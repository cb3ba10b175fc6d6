"""The built wheel, installed into a fresh venv, runs without the source tree: every package and data file it needs
is in it (an editable install hides a missing one), and its entry points start the router and the embedded stack.

The venv holds only the wheel; the third-party packages come from the test environment's site-packages, added as a
plain path (its .pth files, among them the editable install's finder, are not processed), so nothing of the
checkout is importable. The router runs with the export extra made unimportable, as in the router image.
"""
from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.router.process import serve_until_healthy, write_router_config
from vomid.tritonserver import free_port

ROOT = Path(__file__).resolve().parents[2]
BLOCKER = Path(__file__).with_name("blocked_imports.py")
EXPORT_EXTRA = "torch,onnx,onnxscript,modelscope,speakerlab"
PACKAGES = ("audio", "settings", "engine", "router", "store", "client", "tools", "loadtest", "vomid", "labelling")


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory) -> Path:
    """A venv with the project's wheel installed (no dependencies) and the test environment's libraries on its path."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy: setuptools builds in the source tree (build/, *.egg-info)
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "tests", "model_repository", "var",
                                                                 "results", "build", "*.egg-info", "__pycache__",
                                                                 "mutants", ".cache"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(root / "dist"), str(source)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (root / "dist").glob("edge_vomid-*.whl")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True, timeout=120)
    python = root / "venv" / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                              str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    venv_site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                                                                 "'purelib'))"], text=True).strip())
    (venv_site / "test_libraries.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return root / "venv"


def run_in(env: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(env / "bin" / "python"), "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_every_package_and_data_file_comes_from_the_wheel(wheel_env, tmp_path):
    code = ("import importlib, json, pathlib\n"
            f"mods = {PACKAGES!r}\n"
            "print(json.dumps({m: importlib.import_module(m).__file__ for m in mods}))\n")
    result = run_in(wheel_env, code, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for name, location in json.loads(result.stdout).items():
        assert location.startswith(str(wheel_env)), f"{name} imported from {location}, not the wheel"
    deep = ("import pathlib\n"
            "import router.app, client.cli, store.cli, labelling.pipeline, engine.local_pipeline\n"
            "import engine.triton_models, tools.export.calibration as calibration, vomid.up as up\n"
            "assert up.DEFAULT_CONFIG.exists(), up.DEFAULT_CONFIG\n"
            "speech = sorted((pathlib.Path(calibration.__file__).parent / 'speech').glob('*.flac'))\n"
            "assert speech, 'no shipped speech for the export self-check'\n"
            "models = pathlib.Path(engine.triton_models.__file__).parent\n"
            "assert (models / 'fbank_model.py').exists() and (models / 'vad_model.py').exists()\n")
    result = run_in(wheel_env, deep, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # The negative case: the checkout is not on the path, so a module only in the source tree is not importable.
    result = run_in(wheel_env, "import tests.shared_data", tmp_path)
    assert result.returncode != 0 and "No module named 'tests'" in result.stderr


def test_the_router_starts_from_the_wheel_without_the_export_extra(wheel_env, triton, tmp_path):
    port = free_port()
    config = write_router_config(tmp_path, port, triton.grpc_url)
    serve_until_healthy([str(wheel_env / "bin" / "python"), str(BLOCKER), f"{EXPORT_EXTRA},tests", "--", "router",
                         "--config", str(config)], port, tmp_path, timeout=60)


def test_the_vomid_console_script_brings_up_the_stack(wheel_env, model_repository, tmp_path):
    shutil.copytree(model_repository, tmp_path / "model_repository")
    port = free_port()
    output = serve_until_healthy([str(wheel_env / "bin" / "vomid"), "up", "--port", str(port)], port, tmp_path,
                                 timeout=240)
    assert "Edge-VoMID is up" in output
