#!/bin/sh
# Makes the compose cluster's secrets once: secrets/encryption.key (at-rest key of the voiceprint store) and
# secrets/api_keys.txt (API key hash lines, starting with one admin key, printed once on stdout).
# The files are owned by the router's uid (10001), mode 0400: compose bind-mounts secrets with host ownership.
# Both are made by the project's own commands inside the router image (`python -m store gen-key`,
# `python -m router.keys new`), so the formats never drift. Re-running keeps existing files.
set -eu
cd "$(dirname "$0")"
mkdir -p secrets
docker compose build router-1
docker run --rm --user 0 -v "$PWD/secrets:/secrets" --entrypoint sh vomid/router:latest -ec '
  if [ ! -s /secrets/encryption.key ]; then
    python -m store gen-key --out /secrets/encryption.key
    echo "created secrets/encryption.key (back it up: without it the stored voiceprints are unreadable)" >&2
  fi
  if [ ! -s /secrets/api_keys.txt ]; then
    echo "admin API key (shown only now):" >&2
    python -m router.keys new --scope admin --id admin --file /secrets/api_keys.txt
  fi
  chown 10001:10001 /secrets/encryption.key /secrets/api_keys.txt
  chmod 0400 /secrets/encryption.key /secrets/api_keys.txt'
