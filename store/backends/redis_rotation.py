"""Online main-key rotation for the redis backend, safe to interrupt at any step and to run again.

Each user's data key is stored wrapped under the main key. Phase 1 adds a wrap under the new key to every
user; the commit records in <p>:meta that the new key is the one every record carries; phase 2 drops the
old wraps. Each user's change is one compare-and-set script, so concurrent writes of running routers are
never lost, and reads keep working: before the commit every record still has its old-key wrap (the old
key alone opens the store), after it every record has a new-key wrap. The commit is refused while a live
router (heartbeat in <p>:nodes) does not hold the new key, or while a record is wrapped under a key this
command does not hold. The end report says whether anything still uses the old key: records wrapped only
under it (written meanwhile by a router still writing with it) or routers writing with it.

Procedure: give every router the new key as a read key (storage.encryption_old_keys), run rotate-key,
make the new key every router's storage.encryption_key, run rotate-key again: it exits 0 once nothing
uses the old key, which may then be destroyed.
"""
from __future__ import annotations

import json
import logging
import time

from redis.exceptions import RedisError

from .. import faults
from ..crypto import Cipher
from ..datakeys import unwrap, wrap, wrap_key_ids, wraps_of
from ..errors import CorruptData, RotationIncomplete, StorageUnavailable, StoreConfigError
from .redis_layout import NODE_ALIVE_S, REWRAP

log = logging.getLogger(__name__)
_CHUNK = 1000
_PASSES = 10


async def _live_nodes(store, max_age_s: float = NODE_ALIVE_S) -> list[dict]:
    raw = await store._r.hgetall(store._k.nodes)
    now = time.time()
    nodes = []
    for node_id, value in raw.items():
        info = json.loads(value)
        if node_id.decode() != store.node_id and now - info.get("t", 0) <= max_age_s:
            nodes.append({"id": node_id.decode(), **info})
    return nodes


async def _pass(store, script, both: Cipher, new_id: str, strip: bool) -> tuple[int, list[str]]:
    """One sweep over every user: (wraps changed, users whose data key this command cannot unwrap)."""
    r, k = store._r, store._k
    ids = [b.decode() for b in await r.zrange(k.users, 0, -1)]
    changed, unreadable = 0, []
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        async with r.pipeline(transaction=False) as pipe:
            for u in chunk:
                pipe.hget(k.user(u), "k")
            current = await pipe.execute()
        updates = []
        for uid, wraps in zip(chunk, current):
            if wraps is None:
                continue   # deleted meanwhile
            kids = wrap_key_ids(wraps)
            if kids == [new_id] or (not strip and new_id in kids):
                continue
            try:
                dk = unwrap(wraps, both, uid)
            except (CorruptData, StoreConfigError):
                unreadable.append(uid)
                continue
            mine = [w for w in wraps_of(wraps) if w[:8].hex() == new_id] or [wrap(dk, both, uid)]
            updates.append((uid, wraps, mine[0] if strip else wraps + mine[0]))
        async with r.pipeline(transaction=False) as pipe:
            for uid, old, new in updates:
                await script(keys=[k.user(uid)], args=[old, new], client=pipe)
            results = await pipe.execute() if updates else []
        changed += sum(results)
        faults.point("rotate.redis.chunk")
    return changed, unreadable


async def _sweep(store, script, both: Cipher, new_id: str, strip: bool) -> list[str]:
    """Passes until one changes nothing (users created or changed meanwhile are caught by the next)."""
    for _ in range(_PASSES):
        changed, unreadable = await _pass(store, script, both, new_id, strip)
        if not changed:
            return unreadable
    raise RotationIncomplete(f"users kept changing during {_PASSES} passes; run rotate-key again") \
        if strip else StoreConfigError("storage.encryption_key: users kept changing during the rotation; run "
                                       "rotate-key again (the old key still opens the store)")


async def rotate(store, new: Cipher) -> int:
    r, k, old = store._r, store._k, store._cipher
    both = old.with_primary(new)
    script = r.register_script(REWRAP)
    unreadable = await _sweep(store, script, both, new.key_id, strip=False)
    if unreadable:
        raise StoreConfigError(f"storage.encryption_old_keys: {len(unreadable)} users (e.g. {unreadable[0]}) are "
                               "wrapped under keys this command does not hold; nothing was committed")
    faults.point("rotate.redis.added")
    lacking = [n["id"] for n in await _live_nodes(store) if new.key_id not in n.get("keys", [])]
    if lacking:
        raise StoreConfigError(f"storage.encryption_old_keys: routers {', '.join(lacking)} do not hold the new key "
                               f"{new.key_id}; add it to their encryption_old_keys and restart them, then run "
                               "rotate-key again (nothing was committed: the old key still opens the store)")
    await r.hset(k.meta, "key_ids", new.key_id)   # the commit point
    store._view.cipher = both
    try:
        faults.point("rotate.redis.committed")
        unreadable = await _sweep(store, script, both, new.key_id, strip=True)
        users = await r.zcard(k.users)
        writers = [n["id"] for n in await _live_nodes(store) if n.get("write_key") != new.key_id]
    except (OSError, RedisError, StorageUnavailable) as exc:
        raise RotationIncomplete(f"rotation committed to key id {new.key_id} (the new key is now required), but "
                                 f"dropping the old wraps failed: {exc}; run rotate-key again") from None
    if unreadable or writers:
        raise RotationIncomplete(
            f"rotation committed to key id {new.key_id}, but the old key is still in use: "
            f"{len(unreadable)} unreadable records, routers still writing with an old key: "
            f"{', '.join(writers) or 'none'}. Make the new key their storage.encryption_key, restart them and run "
            "rotate-key again; keep the old key until it reports that nothing uses it")
    log.info("re-wrapped %d users under key id %s; no record and no router uses key id %s any more: it can be "
             "destroyed", users, new.key_id, old.key_id)
    store._view.cipher = new
    return users
