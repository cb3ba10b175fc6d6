#!/usr/bin/env bash
# Edge-VoMID cluster management.
#
#   scripts/deploy.sh [--local [--dir DIR]] COMMAND [ARGS]
#
#   deploy [--routers N --tritons M --model-repository DIR]   start the cluster (idempotent), wait until healthy
#   status                                                    every service/process with its health
#   logs [SERVICE]                                            recent logs (compose: follows)
#   backup [FILE]                                             encrypted store backup (default backups/vomid-<time>.vmb)
#                                                             and the users' data keys in FILE.keys (key escrow)
#   restore FILE [--merge] [--keys-from-escrow KEYS]          load a backup into the (empty) store; the escrow only
#                                                             when every Redis node lost its data
#   restart [SERVICE]                                         restart one service, or all
#   scale N                                                   run N router replicas (the `voimid` service)
#   down                                                      stop everything (volumes/data stay)
#
# Without --local it drives Docker Compose (compose/docker-compose.yml) and needs a Docker engine. With --local it
# runs the same topology as processes on this machine (nginx, routers, Triton, Redis + Sentinel, Prometheus from
# Debian packages and this checkout), from the same config files; see compose/README.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COMPOSE_DIR="$ROOT/compose"

# The old VOMID_ spelling of the variables below still works (deprecated): it is copied to VOIMID_ unless set.
while IFS= read -r legacy; do
  current="VOIMID_${legacy#VOMID_}"
  if [ -z "${!current+x}" ]; then
    export "$current=${!legacy}"
    echo "warning: $legacy is deprecated: set $current" >&2
  fi
done < <(compgen -e | grep '^VOMID_' || true)

local_mode=0
dir_args=()
args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --local) local_mode=1 ;;
    --dir) dir_args=(--dir "$2"); shift ;;
    --dir=*) dir_args=(--dir "${1#--dir=}") ;;
    *) args+=("$1") ;;
  esac
  shift
done
set -- "${args[@]+"${args[@]}"}"
[ "$#" -gt 0 ] || { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

if [ "$local_mode" = 1 ]; then
  python=${VOIMID_PYTHON:-}
  if [ -z "$python" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then python="$ROOT/.venv/bin/python"; else python=python3; fi
  fi
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  exec "$python" -m cluster "${dir_args[@]+"${dir_args[@]}"}" "$@"
fi

if ! docker compose version >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "deploy.sh: no Docker engine with the compose plugin here; use --local to run the cluster as processes" >&2
  exit 1
fi
cd "$COMPOSE_DIR"
compose=(docker compose)
command=$1
shift
case "$command" in
  deploy)
    [ -s secrets/api_keys.txt ] || ./init-secrets.sh
    "${compose[@]}" up -d --build --wait "$@"
    "${compose[@]}" ps
    ;;
  status)
    "${compose[@]}" ps --all --format 'table {{.Service}}\t{{.Name}}\t{{.State}}\t{{.Health}}\t{{.Status}}'
    ;;
  logs)
    "${compose[@]}" logs --tail=200 --follow "$@"
    ;;
  backup)
    file=${1:-backups/vomid-$(date -u +%Y%m%dT%H%M%SZ).vmb}
    mkdir -p "$(dirname "$file")"
    dir=$(cd "$(dirname "$file")" && pwd)
    "${compose[@]}" run --rm --no-deps -T -v "$dir:/backups" backup \
      "sh /usr/local/bin/store-cli.sh backup /backups/$(basename "$file") --escrow-keys /backups/$(basename "$file").keys"
    ;;
  restore)
    file=${1:?usage: deploy.sh restore FILE [--merge] [--keys-from-escrow KEYS]}
    shift
    dir=$(cd "$(dirname "$file")" && pwd)
    extra=() mounts=(-v "$dir:/backups:ro")
    while [ $# -gt 0 ]; do
      case "$1" in
        --keys-from-escrow)
          keys=${2:?--keys-from-escrow KEYS}; shift
          mounts+=(-v "$(cd "$(dirname "$keys")" && pwd):/escrow:ro")
          extra+=(--keys-from-escrow "/escrow/$(basename "$keys")") ;;
        *) extra+=("$1") ;;
      esac
      shift
    done
    "${compose[@]}" run --rm --no-deps -T "${mounts[@]}" backup \
      "sh /usr/local/bin/store-cli.sh restore /backups/$(basename "$file") ${extra[*]}"
    ;;
  restart)
    "${compose[@]}" restart "$@"
    ;;
  scale)
    replicas=${1:?usage: deploy.sh scale N}
    # nginx resolves `voimid` per request and Prometheus discovers replicas by DNS: nothing else to change.
    "${compose[@]}" up -d --no-recreate --wait --scale "voimid=$replicas" voimid
    ;;
  down)
    "${compose[@]}" down
    ;;
  *)
    echo "deploy.sh: unknown command $command" >&2
    exit 2
    ;;
esac
