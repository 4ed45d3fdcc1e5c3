#!/bin/sh
# Writes backends.vcl for every address API_HOST resolves to (compose's replicas, or a
# Kubernetes Service's one address) and purge_token.vcl from EDGE_PURGE_TOKEN (the secret
# the API sends with its purges; unset, no purge is taken), then runs varnishd in the
# foreground.
set -eu
API_HOST="${API_HOST:-api}"
API_PORT="${API_PORT:-8000}"
CACHE_SIZE="${CACHE_SIZE:-256m}"
VCL_DIR="${VCL_DIR:-/etc/varnish}"
BACKENDS_DIR="${BACKENDS_DIR:-/var/lib/varnish-backends}"
mkdir -p "$BACKENDS_DIR"
out="${BACKENDS_DIR}/backends.vcl"
tries=0
until addresses=$(getent ahostsv4 "$API_HOST" | awk '{print $1}' | sort -u) && [ -n "$addresses" ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { echo "entrypoint: $API_HOST does not resolve" >&2; exit 1; }
    sleep 1
done
{
    n=0
    for address in $addresses; do
        cat <<VCL
backend api_$n {
    .host = "$address";
    .port = "$API_PORT";
    .probe = { .url = "/health/ready"; .interval = 5s; .timeout = 2s; .window = 5; .threshold = 3; }
}
VCL
        n=$((n + 1))
    done
    echo "sub vcl_init {"
    echo "    new api = directors.round_robin();"
    i=0
    while [ "$i" -lt "$n" ]; do echo "    api.add_backend(api_$i);"; i=$((i + 1)); done
    echo "}"
} > "$out"
token="${EDGE_PURGE_TOKEN:-}"
{
    echo "sub purge_token {"
    if [ -n "$token" ]; then
        # the API's own check (settings.py): nothing the VCL string would need quoted
        printf '%s' "$token" | grep -Eqx '[A-Za-z0-9._~+/=-]{32,256}' \
            || { echo "entrypoint: EDGE_PURGE_TOKEN must be 32 to 256 of A-Za-z0-9._~+/=-" >&2; exit 1; }
        echo "    if (req.http.edge-purge-token == {\"$token\"}) { set req.http.x-purge-allowed = \"yes\"; }"
    else
        echo "entrypoint: EDGE_PURGE_TOKEN is not set: every purge is refused" >&2
    fi
    echo "}"
} > "${BACKENDS_DIR}/purge_token.vcl"
# -p before -f: the VCL is compiled where -f stands, with the parameters given so far.
exec varnishd -F -a :6081 -s "malloc,${CACHE_SIZE}" -p http_gzip_support=off \
    -p vcl_path="${BACKENDS_DIR}:${VCL_DIR}" -f "${VCL_DIR}/default.vcl"
