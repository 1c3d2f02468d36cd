#!/usr/bin/env bash
# Starts, on loopback, a registry the way a scaled-out deployment runs it: a PostgreSQL
# cluster, a SeaweedFS object store (`weed mini`), three forge-server instances and nginx
# balancing requests over them. Prints the URL and how to create a user; Ctrl-C stops
# everything and removes the temporary directory.
#
# Environment:
#   CLUSTER_PORT       port nginx listens on (default: a free one)
#   CLUSTER_INSTANCES  number of forge-server instances (default 3)
#   CLUSTER_DIR        keep everything in this directory instead of a temporary one
#   CLUSTER_LOCAL      1 = instances share a local data directory instead of the bucket
#   CLUSTER_BIN        run this forge-server executable instead of building one (release)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

CARGO=${CARGO:-cargo}
instances=${CLUSTER_INSTANCES:-3}

# find_pg_bin, pick_port and write_balancer_conf
. scripts/lib.sh
# The Python environment with SeaweedFS's `weed`.
. scripts/test-env.sh

pids=()
pg_data=""
run_pg=()
own_root=""
root=""

log() { printf 'cluster: %s\n' "$*"; }

cleanup() {
    trap - EXIT INT TERM
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
        "${run_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "$own_root" ]; then
        rm -rf "$own_root"
    fi
    log "stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until `curl` gets an answer from URL (any status), up to SECONDS.
wait_http() {
    local url=$1 seconds=$2 i
    for ((i = 0; i < seconds * 10; i++)); do
        if curl -s -o /dev/null "$url"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

command -v nginx >/dev/null || { echo "error: nginx is needed (apt-get install nginx)" >&2; exit 1; }
pg_bin=$(find_pg_bin) || { echo "error: PostgreSQL server binaries are needed" >&2; exit 1; }
test_env_setup >/dev/null

if [ -n "${CLUSTER_DIR:-}" ]; then
    root=$CLUSTER_DIR
    mkdir -p "$root"
else
    root=$(mktemp -d "${TMPDIR:-/tmp}/forge-cluster.XXXXXX")
    own_root=$root
fi
log "working directory $root (logs in $root/*.log)"

if [ -n "${CLUSTER_BIN:-}" ]; then
    bin=$CLUSTER_BIN
else
    log "building forge-server (release)"
    "$CARGO" build --release -q -p forge-server
    bin=$repo/target/release/forge-server
fi

# --- PostgreSQL -------------------------------------------------------------------------
pg_data=$root/pg
mkdir -p "$pg_data"
if [ "$(id -u)" -eq 0 ]; then
    pg_user=postgres
    id "$pg_user" >/dev/null 2>&1 || pg_user=nobody
    chown "$pg_user" "$pg_data"
    chmod 700 "$pg_data"
    # initdb and the server run as that user and must reach their directory.
    chmod 755 "$root"
    run_pg=(runuser -u "$pg_user" --)
fi
"${run_pg[@]}" "$pg_bin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 --locale=C \
    >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; exit 1; }
pg_port=$(pick_port)
"${run_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_data/postgres.log" -w -t 60 \
    -o "-p $pg_port -h 127.0.0.1 -k $pg_data -c max_connections=200" start >/dev/null
database_url="postgres://postgres@127.0.0.1:$pg_port/postgres"
log "PostgreSQL on 127.0.0.1:$pg_port"

# --- SeaweedFS --------------------------------------------------------------------------
s3_key=forge
s3_secret=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
s3_bucket=forge
s3_port=$(pick_port)
mkdir -p "$root/seaweedfs"
AWS_ACCESS_KEY_ID=$s3_key AWS_SECRET_ACCESS_KEY=$s3_secret \
    weed mini -dir="$root/seaweedfs" -bucket="$s3_bucket" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$s3_port" -master.port="$(pick_port)" -volume.port="$(pick_port)" \
    -filer.port="$(pick_port)" -webdav.port="$(pick_port)" -admin.port="$(pick_port)" \
    -s3.port.iceberg="$(pick_port)" -metricsPort="$(pick_port)" -master.telemetry=false \
    >"$root/seaweedfs.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$s3_port/" 60 || {
    tail -20 "$root/seaweedfs.log" >&2
    echo "error: SeaweedFS did not start" >&2
    exit 1
}
log "SeaweedFS S3 on http://127.0.0.1:$s3_port, bucket $s3_bucket"

# The instances share the bucket when this forge-server has the S3 backend, and otherwise
# (or with CLUSTER_LOCAL=1) one local data directory.
export FORGE_DATABASE_URL=$database_url
export FORGE_DATA_DIR=$root/data
storage_env=()
# `config check` names every setting with its variable.
settings=$(env -u FORGE_DATABASE_URL -u FORGE_DATA_DIR "$bin" config check 2>/dev/null || true)
if [ "${CLUSTER_LOCAL:-0}" != 1 ] && grep -q "FORGE_STORAGE_TYPE" <<<"$settings"; then
    storage_env=(
        FORGE_STORAGE_TYPE=s3
        FORGE_STORAGE_S3_ENDPOINT="http://127.0.0.1:$s3_port"
        FORGE_STORAGE_S3_BUCKET="$s3_bucket"
        FORGE_STORAGE_S3_ACCESS_KEY_ID="$s3_key"
        FORGE_STORAGE_S3_SECRET_ACCESS_KEY="$s3_secret"
        FORGE_STORAGE_S3_PATH_STYLE=true
    )
    storage_note="bucket $s3_bucket on SeaweedFS"
else
    storage_note="the shared local directory $FORGE_DATA_DIR"
fi
# SeaweedFS answers before it has created the bucket, and `migrate` checks the bucket too:
# try again for a while.
migrated=0
for ((i = 0; i < 60; i++)); do
    if env "${storage_env[@]}" "$bin" migrate >"$root/migrate.log" 2>&1; then
        migrated=1
        break
    fi
    sleep 1
done
if [ "$migrated" != 1 ]; then
    cat "$root/migrate.log" >&2
    echo "error: forge-server migrate failed" >&2
    exit 1
fi

# --- forge-server instances -------------------------------------------------------------
instance_ports=()
for ((i = 1; i <= instances; i++)); do
    port=$(pick_port)
    env "${storage_env[@]}" FORGE_LISTEN="127.0.0.1:$port" RUST_LOG=${RUST_LOG:-info} \
        "$bin" serve >"$root/forge-$i.log" 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$port/api/healthz" 60 || {
        tail -20 "$root/forge-$i.log" >&2
        echo "error: instance $i did not start" >&2
        exit 1
    }
    instance_ports+=("$port")
    log "forge-server $i on 127.0.0.1:$port"
done

# --- nginx ------------------------------------------------------------------------------
lb_port=${CLUSTER_PORT:-$(pick_port)}
write_balancer_conf "$root/nginx" "$lb_port" "${instance_ports[@]}"
nginx -p "$root/nginx" -c "$root/nginx/nginx.conf" -e "$root/nginx/error.log" &
pids+=($!)
wait_http "http://127.0.0.1:$lb_port/api/healthz" 20 || {
    cat "$root/nginx/error.log" >&2
    echo "error: nginx did not start" >&2
    exit 1
}

cat <<EOF

  forge-packages is up at http://127.0.0.1:$lb_port
  ($instances instances behind nginx; PostgreSQL on port $pg_port; content in $storage_note)

  Create a user and upload a file:
    FORGE_DATABASE_URL=$database_url FORGE_DATA_DIR=$FORGE_DATA_DIR \\
      $bin admin user create --username alice --password 'change-me-now' --email alice@example.com
    curl --user alice:change-me-now --upload-file README.md \\
      http://127.0.0.1:$lb_port/api/packages/alice/generic/demo/1.0/README.md

  Ctrl-C stops everything.
EOF

# Exits (and cleans up) when any part dies or on Ctrl-C.
wait -n "${pids[@]}" || true
log "a process exited; stopping the rest"
