"""PostgreSQL backend with a real server: replicas in step, durable commits through a crash, a database
restored from an older dump detected by running replicas, quarantine, and clear configuration errors."""
import asyncio
import time

import pytest

from store.config import StorageConfig
from store.errors import StorageUnavailable, StoreConfigError
from store.factory import create_store

from .conftest import PostgresServer, _need_postgres, free_port, unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]
DIM = 16


def cfg(server, prefix, key, **kw) -> StorageConfig:
    return StorageConfig.from_dict({"type": "postgres", "encryption_key": key, **server.settings(prefix), **kw})


@pytest.fixture
def own_pg():
    """A cluster for one test (it may be crashed or reconfigured)."""
    _need_postgres()
    server = PostgresServer()
    yield server
    server.stop()


async def wait_until(predicate, timeout: float = 10.0) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.001)
    return time.perf_counter() - start


async def test_replicas_stay_in_step(pg_server, pg_prefix, key, rng):
    a, b = create_store(cfg(pg_server, pg_prefix, key)), create_store(cfg(pg_server, pg_prefix, key))
    await a.open()
    await b.open()
    try:
        lags = []
        for i in range(10):
            v = unit(rng, DIM)
            u = await a.create_user(f"p{i}", [v])
            await wait_until(lambda: u.user_id in b._mirror.names)
            assert (await b.search(v, 1))[0].user_id == u.user_id
            start = time.perf_counter()
            await b.delete_user(u.user_id)
            await wait_until(lambda: u.user_id not in a._mirror.names)
            lags.append(time.perf_counter() - start)
        print(f"postgres delete on B -> gone on A: max {max(lags) * 1e3:.1f} ms")
    finally:
        await a.close()
        await b.close()


async def test_crash_right_after_acknowledged_writes_loses_none(own_pg, key, rng):
    s = create_store(cfg(own_pg, "crash", key))
    await s.open()
    acked = []
    for i in range(0, 100, 20):
        acked += [u.user_id for u in await asyncio.gather(*[s.create_user(f"c{i + j}", [unit(rng, DIM)])
                                                             for j in range(20)])]
    own_pg._run("pg_ctl", "-D", str(own_pg.dir / "data"), "-m", "immediate", "stop")   # a crash: no checkpoint
    await s.close()
    own_pg._run("pg_ctl", "-D", str(own_pg.dir / "data"), "-l", str(own_pg.dir / "log"), "-w", "-o",
                f"-p {own_pg.port} -k {own_pg.dir} -c listen_addresses=127.0.0.1", "start")
    after = create_store(cfg(own_pg, "crash", key))
    await after.open()
    assert {u.user_id for u in (await after.list_users(limit=1000)).items} == set(acked)
    await after.close()


async def test_database_restored_from_an_older_dump_is_detected(pg_server, pg_prefix, key, rng, tmp_path):
    s = create_store(cfg(pg_server, pg_prefix, key))
    await s.open()
    try:
        early = [(await s.create_user(f"e{i}", [unit(rng, DIM)])).user_id for i in range(3)]
        dump = pg_server.dir / f"{pg_prefix}.sql"
        pg_server._run("pg_dump", "-h", str(pg_server.dir), "-p", str(pg_server.port), "-U", "postgres",
                       "-t", f"{pg_prefix}_*", "-f", str(dump), pg_server.database)
        await s.delete_user(early[0])
        late = [(await s.create_user(f"l{i}", [unit(rng, DIM)])).user_id for i in range(2)]
        assert set(s._mirror.names) == {*early[1:], *late}
        pg_server.psql(f"DROP TABLE {pg_prefix}_meta, {pg_prefix}_users, {pg_prefix}_events", pg_server.database)
        pg_server._run("psql", "-h", str(pg_server.dir), "-p", str(pg_server.port), "-U", "postgres", "-d",
                       pg_server.database, "-v", "ON_ERROR_STOP=1", "-f", str(dump))
        await wait_until(lambda: set(s._mirror.names) == set(early), timeout=30)
        assert (await s.health())["reloads"] >= 1
    finally:
        await s.close()


async def test_poisoned_record_is_quarantined_and_can_still_be_erased(pg_server, pg_prefix, key, rng):
    a, b = create_store(cfg(pg_server, pg_prefix, key)), create_store(cfg(pg_server, pg_prefix, key))
    await a.open()
    await b.open()
    try:
        bad = await a.create_user("bad", [unit(rng, DIM)])
        pg_server.psql(f"UPDATE {pg_prefix}_users SET record = overlay(record placing '\\x00'::bytea from 40) "
                       f"WHERE user_id = '{bad.user_id}'", pg_server.database)
        await a.add_enrollment((await a.create_user("ok", [unit(rng, DIM)])).user_id, unit(rng, DIM))
        fresh = create_store(cfg(pg_server, pg_prefix, key))
        await fresh.open()   # start-up goes on without it
        assert bad.user_id in fresh._view.quarantined and bad.user_id not in fresh._mirror.names
        await fresh.close()
        await a.delete_user(bad.user_id)   # erasure does not need to decrypt
        assert await a.count() == 1
    finally:
        await a.close()
        await b.close()


async def test_configuration_errors_are_clear(pg_server, pg_prefix, key):
    with pytest.raises(StoreConfigError, match="storage.db_password"):
        await create_store(cfg(pg_server, pg_prefix, key, db_password="wrong")).open()
    with pytest.raises(StorageUnavailable):
        await create_store(StorageConfig.from_dict({"type": "postgres", "encryption_key": key, "db_host": "127.0.0.1",
                                                    "db_port": free_port(), "db_timeout_s": 1})).open()


async def test_a_server_without_fsync_is_refused(own_pg, key):
    own_pg.psql("ALTER SYSTEM SET fsync = off")
    own_pg.psql("SELECT pg_reload_conf()")
    with pytest.raises(StoreConfigError, match="fsync=off"):
        await create_store(cfg(own_pg, "nofsync", key)).open()
