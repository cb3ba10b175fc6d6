"""`python -m cluster COMMAND --dir DIR`: the local side of scripts/deploy.sh (deploy.sh --local ... calls this).

deploy [--routers N --tritons M --model-repository R] | status | logs [SERVICE] [-f] | backup [FILE] |
restore FILE [--merge] | restart [SERVICE] | scale N | kill SERVICE | down
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import settings.env
from cluster import store_ops
from cluster.local import ClusterError, LocalCluster
from cluster.spec import REPO, ClusterSpec, ClusterState

DEFAULT_DIR = REPO / "var" / "cluster"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="scripts/deploy.sh --local", description=__doc__.splitlines()[0])
    top.add_argument("--dir", type=Path, default=Path(settings.env.variable("CLUSTER_DIR") or DEFAULT_DIR),
                     help="the cluster's state, configs, secrets, data and logs (default var/cluster)")
    sub = top.add_subparsers(dest="command", required=True)
    deploy = sub.add_parser("deploy", help="start every service that is not running, wait until healthy")
    deploy.add_argument("--routers", type=int, default=2)
    deploy.add_argument("--tritons", type=int, default=2)
    deploy.add_argument("--model-repository", type=Path, default=REPO / "model_repository")
    sub.add_parser("status", help="every process with its health")
    logs = sub.add_parser("logs", help="the last lines of one service's log (all services without a name)")
    logs.add_argument("service", nargs="?")
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true")
    backup = sub.add_parser("backup", help="an encrypted backup of the store (default DIR/backups/<time>.vmb)")
    backup.add_argument("file", type=Path, nargs="?")
    restore = sub.add_parser("restore", help="load a backup into the store")
    restore.add_argument("file", type=Path)
    restore.add_argument("--merge", action="store_true", help="upsert into a non-empty store")
    restore.add_argument("--keys-from-escrow", type=Path, metavar="KEYS",
                         help="the backup's key escrow (FILE.keys): only after every Redis node lost its data")
    restart = sub.add_parser("restart", help="restart one service (all without a name)")
    restart.add_argument("service", nargs="?")
    scale = sub.add_parser("scale", help="run N router replicas")
    scale.add_argument("replicas", type=int)
    kill = sub.add_parser("kill", help="SIGKILL one service, as a crash would")
    kill.add_argument("service")
    sub.add_parser("down", help="stop every service (data, secrets and logs stay)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return COMMANDS[args.command](args)
    except (ClusterError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _deploy(args) -> int:
    spec = ClusterSpec(directory=args.dir, model_repository=args.model_repository, routers=args.routers,
                       tritons=args.tritons)
    if not (spec.directory / "cluster.json").exists() and not (spec.model_repository / "speaker").is_dir():
        raise ClusterError(f"no model repository in {spec.model_repository}: export one first "
                           "(python -m tools.export --output model_repository ...) or pass --model-repository")
    cluster = LocalCluster.create(spec)
    cluster.deploy()
    print(f"up: {cluster.url} (CA certificate {cluster.cafile}; admin key in {cluster.secrets_dir / 'admin_key'})")
    print(f"prometheus: {cluster.prometheus_url}")
    return _status(args)


def _status(args) -> int:
    rows = LocalCluster.open(args.dir).status()
    print(f"{'SERVICE':<12} {'PID':>7}  {'STATE':<9} {'HEALTH':<60} ADDRESS")
    for row in rows:
        state = "healthy" if row["healthy"] else "running" if row["running"] else "stopped"
        print(f"{row['name']:<12} {row['pid'] or '-':>7}  {state:<9} {row['health'][:60]:<60} {row['address']}")
    return 0 if all(row["healthy"] for row in rows) else 3


def _logs(args) -> int:
    cluster = LocalCluster.open(args.dir)
    names = [args.service] if args.service else cluster.state.names()
    for name in names:
        cluster.state.kind(name)
        if len(names) > 1:
            print(f"==> {name} <==")
        print(cluster.log_tail(name, args.lines))
    if args.follow and args.service:
        with cluster.log_path(args.service).open(errors="replace") as handle:
            handle.seek(0, os.SEEK_END)
            while True:
                line = handle.readline()
                if line:
                    print(line, end="", flush=True)
                else:
                    time.sleep(0.5)  # tail -f
    return 0


def _backup(args) -> int:
    cluster = LocalCluster.open(args.dir)
    path = args.file or cluster.directory / "backups" / time.strftime("vomid-%Y%m%dT%H%M%SZ.vmb", time.gmtime())
    count = store_ops.backup(cluster, path)
    print(f"backed up {count} users to {path} (encrypted with the store's key); their data keys are escrowed in "
          f"{store_ops.escrow_path(path)}")
    return 0


def _restore(args) -> int:
    count = store_ops.restore(LocalCluster.open(args.dir), args.file, merge=args.merge,
                              escrow=args.keys_from_escrow)
    print(f"restored {count} users from {args.file}")
    return 0


def _restart(args) -> int:
    cluster = LocalCluster.open(args.dir)
    for name in [args.service] if args.service else cluster.state.names():
        cluster.restart(name)
        print(f"restarted {name}")
    return 0


def _scale(args) -> int:
    cluster = LocalCluster.open(args.dir)
    cluster.scale(args.replicas)
    print(f"{args.replicas} router replicas: {', '.join(cluster.state.names('router'))}")
    return 0


def _kill(args) -> int:
    pid = LocalCluster.open(args.dir).kill(args.service)
    print(f"sent SIGKILL to {args.service} (pid {pid})")
    return 0


def _down(args) -> int:
    LocalCluster(ClusterState.load(args.dir)).down()
    print("stopped every service")
    return 0


COMMANDS = {"deploy": _deploy, "status": _status, "logs": _logs, "backup": _backup, "restore": _restore,
            "restart": _restart, "scale": _scale, "kill": _kill, "down": _down}

if __name__ == "__main__":
    sys.exit(main())
