"""`vomid` subcommands end to end: enroll/verify/identify against the real router, score, calibrate, delegation."""
from __future__ import annotations

import asyncio
import json
import os

import numpy as np
import pytest

from client import VoMIDClient
from client.cli import main
from client.scoring.trials import Trial, write_trials
from store.config import StorageConfig
from store.crypto import generate_key
from store.factory import create_store


@pytest.fixture
def speaker_tree(tmp_path, clips):
    """DIR/<speaker>/<files> made of links to the real speech."""
    root = tmp_path / "speakers"
    for speaker, paths in clips.items():
        (root / speaker).mkdir(parents=True)
        for path in paths:
            os.symlink(path, root / speaker / path.name)
    return root


def _cleanup(url: str, key: str, user_ids) -> None:
    with VoMIDClient(url, api_key=key) as client:
        for user_id in user_ids:
            client.delete_voiceprint(user_id)


def test_enroll_folder_then_verify_and_identify(router_url, api_keys, speaker_tree, clips, tmp_path, capsys):
    base = ["--url", router_url, "--api-key", api_keys["admin"]]
    out = tmp_path / "ids.json"
    assert main([*base, "enroll", str(speaker_tree), "--concurrency", "3", "--out", str(out)]) == 0
    user_ids = json.loads(out.read_text())
    try:
        assert set(user_ids) == set(clips)
        with VoMIDClient(router_url, api_key=api_keys["admin"]) as client:
            for speaker, user_id in user_ids.items():
                voiceprint = client.get_voiceprint(user_id)
                assert voiceprint.enrollments == len(clips[speaker]) and voiceprint.metadata["speaker"] == speaker
        speaker, (first, _) = next(iter(clips.items()))
        capsys.readouterr()
        assert main([*base, "verify", str(first), "--user-id", user_ids[speaker], "--threshold", "0.5"]) == 0
        assert json.loads(capsys.readouterr().out)["user_id"] == user_ids[speaker]
        assert main([*base, "identify", str(first), "--top-k", "1"]) == 0
        assert json.loads(capsys.readouterr().out)["candidates"][0]["user_id"] == user_ids[speaker]
    finally:
        _cleanup(router_url, api_keys["admin"], user_ids.values())


def test_enroll_csv_reports_failed_files(router_url, api_keys, clips, tmp_path, capsys):
    (speaker, (first, second)), = list(clips.items())[:1]
    (tmp_path / "broken.wav").write_bytes(b"not audio" * 100)
    listing = tmp_path / "list.csv"
    listing.write_text(f"file,speaker\n{first},{speaker}\nbroken.wav,{speaker}\n{second},{speaker}\n")
    rc = main(["--url", router_url, "--api-key", api_keys["admin"], "enroll", "--csv", str(listing)])
    captured = capsys.readouterr()
    user_ids = json.loads(captured.out)
    try:
        assert rc == 1 and "broken.wav" in captured.err and "1 failed" in captured.err
        with VoMIDClient(router_url, api_key=api_keys["admin"]) as client:
            assert client.get_voiceprint(user_ids[speaker]).enrollments == 2
    finally:
        _cleanup(router_url, api_keys["admin"], user_ids.values())


def test_errors_are_one_line_with_exit_2(router_url, clips, capsys):
    first = next(iter(clips.values()))[0]
    assert main(["--url", router_url, "verify", str(first)]) == 2
    assert "missing_api_key" in capsys.readouterr().err


def test_score_then_calibrate(triton, clips, tmp_path, capsys):
    (a1, a2), (b1, _) = clips.values()
    trials = tmp_path / "trials.txt"
    write_trials(trials, [Trial(True, a1, a2), Trial(False, a1, b1), Trial(False, a2, b1)])
    out = tmp_path / "out"
    assert main(["score", str(trials), "--grpc-url", triton.grpc_url, "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "EER" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert main(["calibrate", str(out / "report.json"), "--operating-point", "mindcf-0.01"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == f"verify.threshold: {report['thresholds']['mindcf-0.01']:.4f}"


def test_calibrate_warns_outside_the_configurable_range(tmp_path, capsys):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"thresholds": {"eer": -0.25, "mindcf-0.01": 0.5, "mindcf-0.001": 0.7}}))
    assert main(["calibrate", str(report)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "verify.threshold: -0.2500\n" and "outside [0, 1]" in captured.err
    assert main(["calibrate", str(tmp_path / "missing.json")]) == 2


def test_backup_and_restore_delegate_to_the_store(tmp_path, capsys):
    key = tmp_path / "key"
    assert main(["backup", "--set", "type=file", "--set", f"path={tmp_path / 'none'}", "--set",
                 f"encryption_key_file={key}", str(tmp_path / "x.bak")]) == 1  # the store's own error, passed on
    key.write_text(generate_key() + "\n")
    settings = {"type": "file", "path": str(tmp_path / "store"), "encryption_key_file": str(key)}

    async def seed() -> None:
        async with create_store(StorageConfig.from_dict(settings)) as store:
            await store.create_user("ada", [np.ones(8, dtype=np.float32) / np.sqrt(8)], {"k": 1})

    asyncio.run(seed())
    sets = [arg for k, v in settings.items() for arg in ("--set", f"{k}={v}")]
    assert main(["backup", *sets, str(tmp_path / "snap.bak")]) == 0
    keys_from = ["--keys-from-set" if arg == "--set" else arg for arg in sets]  # whose data keys decide
    assert main(["restore", "--set", "type=memory", "--set", f"encryption_key_file={key}", *keys_from,
                 str(tmp_path / "snap.bak")]) == 0
    assert "restored 1 users" in capsys.readouterr().out


def test_up_is_handed_to_the_server_install(capfd):
    assert main(["up", "--help"]) == 0  # vomid.__main__ answers, with the export options
    assert "--random-weights" in capfd.readouterr().out


def test_verify_exits_1_when_rejected(router_url, api_keys, clips, capsys):
    (speaker_a, (a1, _)), (_, (b1, _)) = list(clips.items())[:2]
    base = ["--url", router_url, "--api-key", api_keys["admin"]]
    with VoMIDClient(router_url, api_key=api_keys["admin"]) as client:
        user_id = client.register_voiceprint(f"cli-{speaker_a}", a1)
    try:
        capsys.readouterr()
        assert main([*base, "verify", str(b1), "--user-id", user_id, "--threshold", "0.999"]) == 1
        printed = json.loads(capsys.readouterr().out)
        assert printed["verified"] is False and printed["name"] is None
        assert main([*base, "verify", str(a1), "--user-id", user_id, "--threshold", "0.9"]) == 0  # the same clip
    finally:
        _cleanup(router_url, api_keys["admin"], [user_id])
