#!/bin/sh
# make-tls-cert.sh DIR [NAME...]: a self-signed certificate for nginx, DIR/tls_cert + DIR/tls_key (mode 0600 key),
# valid for the given host names (default localhost) and 127.0.0.1, for 825 days. Keeps existing files.
# For production, put your CA-issued certificate and key in those two files instead.
# Used by init-secrets.sh (compose) and by `scripts/deploy.sh --local`.
set -eu
dir=${1:?usage: make-tls-cert.sh DIR [HOSTNAME...]}
shift
[ "$#" -gt 0 ] || set -- localhost
if [ -s "$dir/tls_cert" ] && [ -s "$dir/tls_key" ]; then
  exit 0
fi
command -v openssl >/dev/null || { echo "make-tls-cert.sh: openssl is needed" >&2; exit 1; }
san="IP:127.0.0.1"
for name in "$@"; do san="$san,DNS:$name"; done
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
  -subj "/CN=$1" -addext "subjectAltName=$san" -addext "basicConstraints=critical,CA:TRUE" \
  -keyout "$dir/tls_key" -out "$dir/tls_cert" 2>/dev/null
chmod 0644 "$dir/tls_cert"
echo "made a self-signed certificate for $* in $dir/tls_cert (clients: trust this file, or use your own CA's)" >&2
