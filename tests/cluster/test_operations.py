"""scripts/deploy.sh --local as an operator uses it: status, kill/restart, scale, backup and restore."""
from __future__ import annotations

import time

import pytest

from cluster import health
from store.backup import read_backup
from store.crypto import Cipher, generate_key, parse_key
from store.errors import StoreError
from tests.cluster.conftest import deploy_sh

DEADLINE_S = 60.0


def status_rows(cluster) -> tuple[int, dict[str, str]]:
    result = deploy_sh(cluster, "status")
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.strip()}
    return result.returncode, rows


def targets(cluster) -> list[dict]:
    return health.http_get(f"{cluster.prometheus_url}/api/v1/targets")[1]["data"]["activeTargets"]


def test_status_lists_every_process_with_its_health(local_cluster, front):
    code, rows = status_rows(local_cluster)
    assert code == 0, rows
    assert set(rows) == set(local_cluster.state.names())
    assert all(" healthy " in row for row in rows.values()), rows
    roles = sorted(rows[name].split(" healthy ")[1].split()[0] for name in local_cluster.state.names("redis"))
    assert roles == ["master,", "replica", "replica"], rows

    killed = deploy_sh(local_cluster, "kill", "voimid-2")
    assert killed.returncode == 0, killed.stderr
    code, rows = status_rows(local_cluster)
    assert code != 0 and " stopped " in rows["voimid-2"] and " healthy " in rows["voimid-1"]
    for _ in range(4):  # nginx routes around the dead replica
        response, _ = front.request("GET", "/health/live")
        assert response.status_code == 200

    restarted = deploy_sh(local_cluster, "restart", "voimid-2")
    assert restarted.returncode == 0, restarted.stderr
    code, rows = status_rows(local_cluster)
    assert code == 0 and " healthy " in rows["voimid-2"], rows


def test_scale_routers_up_and_down(local_cluster, front):
    assert deploy_sh(local_cluster, "scale", "3").returncode == 0
    local_cluster.state = type(local_cluster.state).load(local_cluster.directory)  # the CLI changed the state
    try:
        address = local_cluster.state.address("voimid-3", "api")
        deadline = time.monotonic() + DEADLINE_S
        seen = set()
        while address not in seen:  # nginx reloaded its upstream: the new replica gets traffic
            assert time.monotonic() < deadline, f"nginx never sent a request to voimid-3 ({seen})"
            response, request_id = front.request("GET", "/health/live")
            assert response.status_code == 200
            seen.add(front.upstream(request_id))
        while not any(t["labels"]["instance"] == address for t in targets(local_cluster)):  # Prometheus reloaded
            assert time.monotonic() < deadline, "Prometheus does not scrape voimid-3"
            time.sleep(0.5)
    finally:
        assert deploy_sh(local_cluster, "scale", "2").returncode == 0
        local_cluster.state = type(local_cluster.state).load(local_cluster.directory)
    code, rows = status_rows(local_cluster)
    assert "voimid-3" not in rows and code == 0, rows


def test_backup_then_restore_after_losing_redis(local_cluster, front, clips, tmp_path):
    users = {front.register(clip, f"backup-{i}"): f"backup-{i}" for i, clip in enumerate(clips[1:3])}
    path = tmp_path / "cluster.vmb"
    made = deploy_sh(local_cluster, "backup", str(path))
    assert made.returncode == 0, made.stderr
    key = Cipher(parse_key((local_cluster.secrets_dir / "encryption_key").read_text(), "encryption_key"))
    assert set(users) <= {user_id for user_id, _ in read_backup(path, key).entries}
    assert (tmp_path / "cluster.vmb.keys").exists()  # the key escrow beside it
    assert not any(name.encode() in path.read_bytes() for name in users.values()), "names must be encrypted"
    with pytest.raises(StoreError):
        read_backup(path, Cipher(parse_key(generate_key(), "other key")))

    refused = deploy_sh(local_cluster, "restore", str(path))
    assert refused.returncode != 0 and "not empty" in refused.stderr

    master = health.redis_client(local_cluster.state, local_cluster.redis_master())
    try:
        master.flushall()  # the disaster: every voiceprint gone from Redis (the replica follows)
    finally:
        master.close()
    without_keys = deploy_sh(local_cluster, "restore", str(path))  # the live keys went with the data
    assert without_keys.returncode == 0 and "restored 0 users" in without_keys.stdout, without_keys.stdout
    restored = deploy_sh(local_cluster, "restore", str(path), "--keys-from-escrow", f"{path}.keys")
    assert restored.returncode == 0, restored.stderr
    for router in local_cluster.state.names("router"):  # routers rebuild their index from the restored store
        assert deploy_sh(local_cluster, "restart", router).returncode == 0
    listed, _ = front.request("GET", "/api/v1/voiceprints?limit=1000")
    assert listed.status_code == 200
    names = {item["user_id"]: item["name"] for item in listed.json()["items"]}
    assert all(names.get(user_id) == name for user_id, name in users.items()), names
    user_id = next(iter(users))
    verify, _ = front.request("POST", "/api/v1/voiceprint/verify", clips[1], user_id=user_id)
    assert verify.status_code == 200 and verify.json()["verified"] is True


def test_redis_master_failover_routers_follow_and_old_master_rejoins(local_cluster, front, clips):
    old = local_cluster.redis_master()
    local_cluster.kill(old)
    started = time.monotonic()
    while local_cluster.redis_master_or_none() in (old, None):  # Sentinel: down after 5 s, then promotion
        assert time.monotonic() - started < DEADLINE_S, "Sentinel did not promote a replica"
        time.sleep(0.2)
    promoted = local_cluster.redis_master()
    while True:  # the routers find the new master through the Sentinels, without a restart
        response, _ = front.request("POST", "/api/v1/voiceprint/register", clips[2], name="after-failover")
        if response.status_code == 201:
            break
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < DEADLINE_S, f"writes still fail after the failover: {response.text}"
        time.sleep(0.5)
    local_cluster.start(old)  # the old master comes back as a replica of the promoted one
    ok, detail = health.probe(local_cluster.state, old)
    assert ok and "replica of" in detail and local_cluster.state.address(promoted, "redis") in detail
