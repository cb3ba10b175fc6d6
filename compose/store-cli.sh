#!/bin/sh
# store-cli.sh COMMAND [ARGS]: `python -m store COMMAND` with the routers' own storage settings, inside the router
# image (the backup service and scripts/deploy.sh backup|restore run it). The store CLI reads a `storage:` section;
# the routers' Redis settings (Sentinels, master name) live in config/production.yaml's `redis:` section and the
# password in the redis_password secret, so this resolves them the way the router does (router.config) and hands
# the store CLI the result in a private temporary file.
set -eu
VOIMID_REDIS_PASSWORD=$(cat /run/secrets/redis_password)
VOIMID_REDIS_SENTINEL_PASSWORD=$VOIMID_REDIS_PASSWORD
export VOIMID_REDIS_PASSWORD VOIMID_REDIS_SENTINEL_PASSWORD
exec python - "$@" <<'PY'
import dataclasses, json, sys, tempfile
from router.config import load_config
from store.cli import main
storage = dataclasses.asdict(load_config("/etc/vomid/production.yaml").storage)
with tempfile.NamedTemporaryFile("w", suffix=".json") as settings:  # mode 0600, in the container's /tmp
    json.dump(storage, settings)
    settings.flush()
    sys.exit(main([sys.argv[1], "--config", settings.name, *sys.argv[2:]]))
PY
