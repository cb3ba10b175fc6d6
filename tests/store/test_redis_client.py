"""One Redis client factory: requirepass, ACL users, TLS with a CA file, and Sentinel failover (real servers)."""
import asyncio
import datetime
import ipaddress
import shutil
import subprocess
import time

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from store.config import StorageConfig
from store.errors import StorageUnavailable, StoreConfigError
from store.factory import create_store
from store.redis_client import RedisSettings, connect

from .conftest import RedisServer, _need_redis, free_port, unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
DIM = 8
SENTINEL_BIN = shutil.which("redis-sentinel")


def cfg(key, **kw) -> StorageConfig:
    return StorageConfig.from_dict({"type": "redis", "encryption_key": key, "redis_timeout_s": 1.0, **kw})


async def roundtrip(config: StorageConfig, rng) -> None:
    s = create_store(config)
    try:
        await s.open()
        u = await s.create_user("c", [unit(rng, DIM)])
        assert (await s.get_user(u.user_id)).name == "c"
    finally:
        await s.close()


async def test_requirepass_and_acl_user(tmp_path, key, rng):
    _need_redis()
    server = RedisServer(tmp_path, "--requirepass", "s3cret", client={"password": "s3cret"})
    try:
        admin = server.client()
        admin.execute_command("ACL", "SETUSER", "vomid", "on", ">userpw", "~*", "+@all")
        admin.close()
        await roundtrip(cfg(key, redis_url=server.url, redis_password="s3cret"), rng)
        await roundtrip(cfg(key, redis_port=server.port, redis_host="127.0.0.1", redis_username="vomid",
                            redis_password="userpw", redis_prefix="acl"), rng)
        with pytest.raises(StoreConfigError, match="storage.redis_password"):
            await roundtrip(cfg(key, redis_url=server.url, redis_password="wrong"), rng)
        with pytest.raises(StoreConfigError, match="storage.redis_password"):
            await roundtrip(cfg(key, redis_url=server.url), rng)   # no password at all
    finally:
        server.stop()


def make_tls_files(d):
    """A CA and a server certificate for 127.0.0.1 (what an operator's PKI hands out)."""
    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, srv_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test-ca")).issuer_name(name("test-ca"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    srv = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
           .public_key(srv_key.public_key()).serial_number(2).not_valid_before(now)
           .not_valid_after(now + datetime.timedelta(days=1))
           .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                          critical=False).sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (d / "ca.pem").write_bytes(ca.public_bytes(pem))
    (d / "srv.pem").write_bytes(srv.public_bytes(pem))
    (d / "srv.key").write_bytes(srv_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    return d / "ca.pem", d / "srv.pem", d / "srv.key"


async def test_rediss_with_a_ca_file(tmp_path, key, rng):
    _need_redis()
    ca, cert, pkey = make_tls_files(tmp_path)
    port = free_port()
    server = RedisServer(tmp_path, "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file",
                         str(pkey), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no", port=port,
                         client={"host": "127.0.0.1", "ssl": True, "ssl_ca_certs": str(ca)})
    try:
        url = f"rediss://127.0.0.1:{port}/0"
        await roundtrip(cfg(key, redis_url=url, redis_tls_ca_file=str(ca)), rng)
        with pytest.raises(StorageUnavailable):   # the server's certificate is not trusted without the CA
            await roundtrip(cfg(key, redis_url=url, redis_prefix="noca"), rng)
        with pytest.raises(StorageUnavailable):   # plain text to a TLS port
            await roundtrip(cfg(key, redis_url=f"redis://127.0.0.1:{port}/0", redis_prefix="plain"), rng)
    finally:
        server.stop()
    with pytest.raises(StoreConfigError, match="storage.redis_tls_ca_file"):
        cfg(key, redis_url=url, redis_tls_ca_file=str(tmp_path / "missing.pem"))


async def test_settings_errors_name_the_key():
    with pytest.raises(StoreConfigError, match="storage.redis_sentinel_master"):
        StorageConfig.from_dict({"type": "redis", "redis_sentinels": "127.0.0.1:26379"})
    with pytest.raises(StoreConfigError, match="storage.redis_sentinels"):
        StorageConfig.from_dict({"type": "redis", "redis_sentinels": "nohost", "redis_sentinel_master": "m"})
    with pytest.raises(StoreConfigError, match="storage.redis_durability"):
        StorageConfig.from_dict({"type": "redis", "redis_durability": "maybe"})
    assert StorageConfig.from_dict({"type": "redis", "redis_tls": "true"}).redis_tls is True


class Sentinel:
    def __init__(self, workdir, master_port: int, down_after_ms: int = 1000):
        self.port = free_port()
        conf = workdir / f"sentinel-{self.port}.conf"
        conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {workdir}\n"
                        f"sentinel monitor vm 127.0.0.1 {master_port} 1\n"
                        f"sentinel down-after-milliseconds vm {down_after_ms}\n"
                        "sentinel failover-timeout vm 2000\n")
        self.proc = subprocess.Popen([SENTINEL_BIN, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.sentinel_master("vm"):
                    break
            except redis.RedisError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-sentinel did not start: {self.proc.stderr.read()!r}")
                time.sleep(0.02)
        client.close()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def wait_link_up(server: RedisServer, timeout: float = 10.0) -> None:
    c = server.client()
    deadline = time.monotonic() + timeout
    while c.info("replication").get("master_link_status") != "up":   # initial sync done
        assert time.monotonic() < deadline, "replica did not sync"
        time.sleep(0.01)
    c.close()


@pytest.fixture
def sentinel_group(tmp_path):
    """A master, two replicas and one sentinel on loopback."""
    _need_redis()
    if SENTINEL_BIN is None:
        pytest.skip("redis-sentinel binary not found (apt-get install redis-sentinel)")
    for d in ("m", "r1", "r2"):
        (tmp_path / d).mkdir()
    master = RedisServer(tmp_path / "m")
    replicas = [RedisServer(tmp_path / d, "--replicaof", "127.0.0.1", str(master.port)) for d in ("r1", "r2")]
    for r in replicas:
        wait_link_up(r)
    sentinel = Sentinel(tmp_path, master.port)
    yield master, replicas, sentinel
    sentinel.stop()
    for server in (*replicas, master):
        server.stop()


async def test_sentinel_clients_follow_a_failover(sentinel_group, key, rng):
    master, replicas, sentinel = sentinel_group
    config = cfg(key, redis_sentinels=[f"127.0.0.1:{sentinel.port}"], redis_sentinel_master="vm",
                 redis_durability="replica", redis_wait_timeout_ms=2000)
    s = create_store(config)
    await s.open()
    try:
        before = [(await s.create_user(f"f{i}", [unit(rng, DIM)])).user_id for i in range(5)]
        master.kill()   # right after the acknowledgements: WAIT 1 means a replica has every one
        watcher = redis.Redis(port=sentinel.port)
        deadline = time.monotonic() + 30
        while int(watcher.sentinel_get_master_addr_by_name("vm")[1]) == master.port:   # the sentinel elects
            assert time.monotonic() < deadline, "no failover within 30 s"
            time.sleep(0.05)
        watcher.close()
        # The client follows the new master by itself; writes are acknowledged again once the other replica
        # follows it too.
        start, after, attempts = time.monotonic(), None, []
        while after is None:
            attempts.append(f"after-{len(attempts)}")
            try:
                after = (await s.create_user("after", [unit(rng, DIM)], user_id=attempts[-1])).user_id
            except StorageUnavailable:   # applied perhaps, but not acknowledged
                assert time.monotonic() - start < 30, "writes not acknowledged again within 30 s"
                await asyncio.sleep(0.1)   # retry pacing while the sentinel reconfigures the replica
        stored = {u.user_id for u in (await s.list_users(limit=100)).items}
        assert {*before, after} <= stored <= {*before, *attempts}
    finally:
        await s.close()


async def test_router_limiter_uses_the_same_factory(redis_server):
    client = connect(RedisSettings(url=redis_server.url), fail_fast=False)
    assert await client.ping()
    await client.aclose()
