#!/bin/sh
# Starts one Redis node (`entrypoint.sh server`) or one Sentinel (`entrypoint.sh sentinel`) from the shipped
# config in $REDIS_CONF_DIR, adding what must not be in git or differs per node:
#   - the password from $REDIS_PASSWORD_FILE (requirepass, masterauth, Sentinel's auth-pass); redis-cli reads it
#     from REDISCLI_AUTH, never from its command line;
#   - the address this node announces ($REDIS_ANNOUNCE_HOST, default the hostname) and its port;
#   - the current master, asked from the Sentinels ($REDIS_SENTINELS), else $REDIS_INITIAL_MASTER: a node that
#     restarts after a failover comes back as a replica of the promoted master, never as a second master.
# The same script runs in the compose/k8s containers and in `scripts/deploy.sh --local` (which sets the paths,
# ports and $REDIS_BIND for its processes on one host).
set -eu
role=${1:?usage: entrypoint.sh server|sentinel}
conf_dir=${REDIS_CONF_DIR:-/usr/local/etc/redis}
run_dir=${REDIS_RUN_DIR:-/tmp}
data_dir=${REDIS_DATA_DIR:-/data}
master_name=${REDIS_MASTER_NAME:-vomid}
initial_master=${REDIS_INITIAL_MASTER:-redis-0.redis:6379}
sentinels=${REDIS_SENTINELS:-sentinel-0.sentinel:26379 sentinel-1.sentinel:26379 sentinel-2.sentinel:26379}
me=${REDIS_ANNOUNCE_HOST:-$(hostname)}
password=$(cat "${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}")
export REDISCLI_AUTH="$password"
mkdir -p "$run_dir"
umask 077  # the generated config holds the password

# host port of the master the Sentinels agree on now; nothing when none answers (a fresh cluster).
current_master() {
  for sentinel in $sentinels; do
    answer=$(redis-cli -h "${sentinel%:*}" -p "${sentinel##*:}" --raw \
             SENTINEL get-master-addr-by-name "$master_name" 2>/dev/null | tr '\n' ' ') || continue
    set -- $answer
    if [ "$#" = 2 ] && [ "$2" -gt 0 ] 2>/dev/null; then
      echo "$1 $2"
      return 0
    fi
  done
  return 1
}

master=$(current_master) || master="${initial_master%:*} ${initial_master##*:}"
case "$role" in
  server)
    port=${REDIS_PORT:-6379}
    conf="$run_dir/redis.conf"
    cp "$conf_dir/redis.conf" "$conf"
    {
      echo "port $port"
      echo "dir $data_dir"
      if [ -n "${REDIS_BIND:-}" ]; then echo "bind $REDIS_BIND"; fi
      echo "requirepass $password"
      echo "masterauth $password"
      echo "replica-announce-ip $me"
      echo "replica-announce-port $port"
      if [ "$master" != "$me $port" ]; then echo "replicaof $master"; fi
    } >> "$conf"
    exec redis-server "$conf"
    ;;
  sentinel)
    port=${REDIS_PORT:-26379}
    conf="$run_dir/sentinel.conf"
    # Sentinel rewrites its config at run time: give it a private copy with the current master.
    sed -e "s/^sentinel monitor $master_name .*/sentinel monitor $master_name $master ${REDIS_QUORUM:-2}/" \
        -e "s|^dir .*|dir $run_dir|" "$conf_dir/sentinel.conf" > "$conf"
    {
      echo "port $port"
      if [ -n "${REDIS_BIND:-}" ]; then echo "bind $REDIS_BIND"; fi
      # A stable id per node: a restarted Sentinel is the same voter, not one more that never answers.
      echo "sentinel myid $(printf '%s:%s' "$me" "$port" | sha1sum | cut -c1-40)"
      echo "sentinel announce-ip $me"
      echo "sentinel announce-port $port"
      echo "sentinel auth-pass $master_name $password"
      echo "sentinel sentinel-pass $password"
      echo "requirepass $password"
    } >> "$conf"
    exec redis-sentinel "$conf"
    ;;
  *)
    echo "unknown role $role (server|sentinel)" >&2
    exit 2
    ;;
esac
