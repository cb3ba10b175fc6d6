#!/bin/sh
# Makes the compose cluster's secrets once, in secrets/ (git-ignored); re-running keeps existing files.
#   encryption_key    at-rest key of the voiceprint store (back it up: without it nothing stored can be read)
#   api_keys          API key hash lines, starting with one admin key (printed once, here)
#   redis_password    Redis requirepass/masterauth and the Sentinels' password
#   tls_cert/tls_key  nginx's certificate: self-signed for $VOIMID_TLS_HOSTNAMES (default localhost); put your
#                     CA-issued pair in these two files instead for production
#   grafana_admin_password  (printed once, here)
# Files are owned by root, group 10001, mode 0440: every service reads them through `group_add: ["10001"]`.
# The key file and the store key are made by the project's own commands inside the router image.
set -eu
cd "$(dirname "$0")"
mkdir -p secrets
random() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
docker compose build voimid
docker run --rm --user 0 -v "$PWD/secrets:/secrets" --entrypoint sh vomid/router:0.1.0 -ec '
  if [ ! -s /secrets/encryption_key ]; then
    python -m store gen-key --out /secrets/encryption_key
    echo "created secrets/encryption_key (back it up: without it the stored voiceprints are unreadable)" >&2
  fi
  if [ ! -s /secrets/api_keys ]; then
    echo "admin API key (shown only now):" >&2
    python -m router.keys new --scope admin --id admin --file /secrets/api_keys
  fi'
if [ ! -s secrets/redis_password ]; then random > secrets/redis_password; fi
if [ ! -s secrets/grafana_admin_password ]; then
  random > secrets/grafana_admin_password
  echo "Grafana admin password (shown only now): $(cat secrets/grafana_admin_password)" >&2
fi
# shellcheck disable=SC2086
sh ./make-tls-cert.sh secrets ${VOIMID_TLS_HOSTNAMES:-localhost}
for f in encryption_key api_keys redis_password tls_cert tls_key grafana_admin_password; do
  if [ "$(id -u)" = 0 ]; then chown 0:10001 "secrets/$f"; else chgrp 10001 "secrets/$f" 2>/dev/null || sudo chown 0:10001 "secrets/$f"; fi
  chmod 0440 "secrets/$f"
done
