"""The one way this project connects to Redis (the store and the router's rate limiter alike).

A URL (`redis://` or `rediss://`) or host/port/db; an ACL user and password (`requirepass` is a password
without a user); TLS with a CA file and optionally a client certificate; or Redis Sentinel: sentinel
addresses plus the master's name, so every client asks the sentinels where the master is and follows a
promoted replica after a failover without a restart.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, NoPermissionError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import StorageUnavailable, StoreConfigError


@dataclass(frozen=True)
class RedisSettings:
    url: str | None = None
    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    sentinels: tuple[str, ...] = field(default_factory=tuple)   # "host:port", ...
    sentinel_master: str | None = None
    sentinel_password: str | None = None
    timeout_s: float = 2.0
    setting_prefix: str = "storage.redis_"   # how errors name the settings

    @classmethod
    def from_storage(cls, c) -> "RedisSettings":
        """From a store.config.StorageConfig."""
        return cls(c.redis_url, c.redis_host, c.redis_port, c.redis_db, c.redis_username, c.redis_password,
                   c.redis_tls, c.redis_tls_ca_file, c.redis_tls_cert_file, c.redis_tls_key_file,
                   tuple(c.redis_sentinels), c.redis_sentinel_master, c.redis_sentinel_password,
                   c.redis_timeout_s)

    def check(self) -> None:
        """Static checks (no I/O beyond reading that the files exist); errors name the setting."""
        p = self.setting_prefix
        if self.sentinels and not self.sentinel_master:
            raise StoreConfigError(f"{p}sentinel_master: required with {p}sentinels")
        for addr in self.sentinels:
            parse_address(addr, f"{p}sentinels")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise StoreConfigError(f"{p}tls_key_file: a client certificate needs both tls_cert_file and tls_key_file")
        for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
            path = getattr(self, key)
            if path and not Path(path).is_file():
                raise StoreConfigError(f"{p}{key}: {path} does not exist")


def parse_address(addr: str, setting: str) -> tuple[str, int]:
    host, sep, port = addr.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise StoreConfigError(f"{setting}: expected host:port, got {addr!r}")
    return host, int(port)


def _tls_options(s: RedisSettings) -> dict:
    opts = {}
    if s.tls_ca_file:
        opts["ssl_ca_certs"] = s.tls_ca_file
    if s.tls_cert_file:
        opts.update(ssl_certfile=s.tls_cert_file, ssl_keyfile=s.tls_key_file)
    return opts


class _SentinelRedis(aioredis.Redis):
    """A master client that also closes its connections to the sentinels."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        owner = self.auto_close_connection_pool   # not a single-connection client() borrowing the pool
        await super().aclose(close_connection_pool)
        if owner:
            for sentinel in self.connection_pool.sentinel_manager.sentinels:
                await sentinel.aclose()


def connect(s: RedisSettings, timeout_s: float | None = None, fail_fast: bool = True) -> aioredis.Redis:
    """A client (nothing connects until the first command).

    fail_fast: no retries, so an unreachable Redis surfaces at once (the store answers 503 and its local
    index keeps serving); otherwise redis-py's default retries (the rate limiter's choice).
    """
    s.check()
    timeout = timeout_s or s.timeout_s
    opts: dict = dict(socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=False)
    if fail_fast:
        opts["retry"] = Retry(NoBackoff(), 0)
    tls = s.tls or bool(s.url and s.url.startswith("rediss://"))
    if tls:
        opts.update(_tls_options(s))
    if s.sentinels:
        conn = dict(opts, db=s.db, username=s.username, password=s.password, ssl=tls)
        sentinel_opts = dict(socket_timeout=timeout, socket_connect_timeout=timeout,
                             password=s.sentinel_password, ssl=tls, **(_tls_options(s) if tls else {}))
        sentinel = Sentinel([parse_address(a, "sentinels") for a in s.sentinels],
                            sentinel_kwargs=sentinel_opts, **conn)
        return sentinel.master_for(s.sentinel_master, redis_class=_SentinelRedis)
    if s.url:
        if s.username:
            opts["username"] = s.username
        if s.password:
            opts["password"] = s.password
        return aioredis.Redis.from_url(s.url, **opts)
    return aioredis.Redis(host=s.host, port=s.port, db=s.db, username=s.username, password=s.password,
                          ssl=tls, **opts)


@contextlib.contextmanager
def unavailable():
    """Connection trouble becomes the one typed error the router maps to 503."""
    try:
        yield
    except AuthenticationError as exc:
        raise StoreConfigError(f"storage.redis_password: redis refused the credentials: {exc}") from None
    except NoPermissionError as exc:
        raise StoreConfigError(f"storage.redis_username: the redis user lacks a permission: {exc}") from None
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise StorageUnavailable(f"redis unreachable: {exc}") from None
