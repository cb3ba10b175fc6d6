"""Where the redis backend keeps what (one key prefix per store), and the scripts that change it atomically.

  <p>:meta     hash: format, key_ids (main keys every data key is wrapped under), dim
  <p>:u:<id>   hash: r (record sealed under the user's data key, bound to id + version), k (the data
               key's wraps under the main key(s)), v (version), lu (day of last use, for retention)
  <p>:users    zset: ids by creation time (paging)
  <p>:events   stream of {op, id, v}, trimmed to redis_stream_maxlen
  <p>:nodes    hash: node id -> {"write_key", "keys", "t"}, each open store's heartbeat (key rotation)
A change is one script: it compares the version its caller read (optimistic concurrency), writes the
hash, the zset and the stream entry together, and returns the stream id. Deleting the hash destroys the
user's wrapped data key with the record (crypto-shredding).
"""
from __future__ import annotations

FORMAT = "2"
HEARTBEAT_S = 5.0            # how often an open store refreshes its entry in <p>:nodes
NODE_ALIVE_S = 3 * HEARTBEAT_S

WRITE = """
local cur = redis.call('HGET', KEYS[1], 'v') or '0'
if cur ~= ARGV[2] then return {0, cur} end
local v = tonumber(cur) + 1
if ARGV[1] == 'put' then
  redis.call('HSET', KEYS[1], 'r', ARGV[3], 'v', v, 'lu', ARGV[8])
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'k', ARGV[4]) end
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
else
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[6])
end
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'op', ARGV[1], 'id', ARGV[6], 'v', v)
return {1, id}
"""

# Record a use (retention) of a user that still exists; never creates a hash for a deleted one.
TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'lu', ARGV[1])
return 1
"""

# Replace a user's wraps only if they are still the ones the caller read (key rotation).
REWRAP = """
if redis.call('HGET', KEYS[1], 'k') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'k', ARGV[2])
return 1
"""


class Keys:
    def __init__(self, prefix: str):
        self.meta, self.users, self.events, self.nodes, self.sweep_lock = (
            f"{prefix}:{k}" for k in ("meta", "users", "events", "nodes", "retention-lock"))
        self._user = f"{prefix}:u:"

    def user(self, user_id: str) -> str:
        return self._user + user_id
