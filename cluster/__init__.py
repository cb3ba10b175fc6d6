"""The local cluster: the shipped compose topology run as processes on one machine, from the shipped configs.

nginx (TLS, HTTP/2) -> N routers (`python -m router`) -> M Triton instances (`python -m vomid.launch_triton`), Redis
master + replica + three Sentinels, Prometheus with the alert rules. `scripts/deploy.sh --local ...` drives it from
the shell; `LocalCluster` is the same thing for the tests and the chaos run. Each process is started from the file
its image uses (config/production.yaml, compose/nginx/nginx.conf, compose/prometheus/prometheus.yml,
compose/redis/*), templated only for addresses and secret paths (cluster/render.py).
"""
