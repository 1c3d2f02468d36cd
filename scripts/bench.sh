#!/usr/bin/env bash
# Load benchmark of the registry against nginx on the same machine: builds in release mode,
# starts our server (SQLite, and PostgreSQL when its server binaries are installed) and nginx
# on loopback serving the same files, drives both with the same clients (curl for single
# large transfers, wrk for many small requests) and rewrites the results part of
# docs/PERFORMANCE.md. Installs nothing except nginx and wrk through apt when they are
# missing (and only when root). Everything it starts or creates goes again on exit.
#
# Each measured figure of P1 to P4 (nginx and our backends) and of the S3 scenarios (ours and
# the references) is the median of BENCH_REPEAT runs, the runs one after the other within a
# server's phase; results.txt keeps the median under the figure's key and the single values
# under <key>.runs, from which the report shows the spread. P5 and P6 run once. The 1-minute
# load average is recorded before each phase (nginx, each backend, S3).
# A default run (3 repeats, 10 s per wrk run, 1 GiB, a million versions for P6) takes about
# 13 minutes on 2 cores plus the release build; the repeats add about 3 of them.
#
# Environment (defaults are what docs/PERFORMANCE.md reports):
#   BENCH_REPEAT        runs per measured figure of P1-P4 and S3-P1/S3-P2, the median counts (3)
#   BENCH_DURATION      seconds per wrk run (10)
#   BENCH_P6_DURATION   seconds per wrk run at a million versions (BENCH_DURATION)
#   BENCH_BIG_MIB       size of the large file in MiB (1024)
#   BENCH_HASH_MIB      MiB hashed for each hashing rate (512)
#   BENCH_BACKENDS      backends of our server to measure ("sqlite postgres")
#   BENCH_P5_BACKENDS   backends on which the memory scenario runs ("sqlite")
#   BENCH_P6_VERSIONS   versions stored for the growth scenario (1000000)
#   BENCH_PG_OPTS       extra postgres server options
#   BENCH_S3            1: also the object-store scenarios on SeaweedFS (S3-P1, S3-P2, S3-P5),
#                       against boto3 and curl on the same SeaweedFS (1; 0 skips them)
#   BENCH_S3_P5_MIBS    file sizes per client of S3-P5, in MiB ("1024 2048"; "" skips S3-P5)
#   BENCH_DOC           document to update (docs/PERFORMANCE.md)
#   BENCH_SETTLE_MAX    longest wait, in seconds, for the disk to go quiet before a phase
#                       and before each scenario that writes or follows writes (120)
#   BENCH_PERF_DIR      record a perf profile of our server during each wrk run into this
#                       directory (slows the server down; for finding where time goes)
#   TMPDIR              where the files and data go (must have room; see the df check)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

CARGO=${CARGO:-cargo}
REPEAT=${BENCH_REPEAT:-3}
# 10 s rather than 20 s per wrk run: three repeats of 10 s say more about the noise than one of
# 20 s, for about the same time.
DURATION=${BENCH_DURATION:-10}
P6_DURATION=${BENCH_P6_DURATION:-$DURATION}
BIG_MIB=${BENCH_BIG_MIB:-1024}
HASH_MIB=${BENCH_HASH_MIB:-512}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
P5_BACKENDS=${BENCH_P5_BACKENDS:-sqlite}
P6_VERSIONS=${BENCH_P6_VERSIONS:-1000000}
# The server's SQLite runs in WAL mode with synchronous=NORMAL: a commit does not wait for
# the disk. synchronous_commit=off gives PostgreSQL the same durability (a power cut may lose
# the last commits, never consistency); fsync and full-page writes stay on.
PG_OPTS=${BENCH_PG_OPTS:--c synchronous_commit=off}
DOC=${BENCH_DOC:-docs/PERFORMANCE.md}
S3=${BENCH_S3:-1}
# Set but empty means no S3-P5 at all.
S3_P5_MIBS=${BENCH_S3_P5_MIBS-1024 2048}
# Versions stored before the small-request scenarios run, so that P3/P4 are the "1k"
# point of the growth comparison.
BASE_VERSIONS=1000
P5_CLIENTS=8
SETTLE_MAX=${BENCH_SETTLE_MAX:-120}
# Uploads spend a few seconds after the last byte (fsync, hashing tail); GETs not at all.
CURL_MAX_TIME=600

work=""
pg_root=""
pg_data=""
pg_bin=""
pg_url=""
run_pg=()
nginx_pid=""
ours_pid=""
weed_pid=""
# Added to the server's environment by start_ours (the object-store settings).
ours_extra_env=()
declare -a bg_pids=()

log() { printf '[bench %4ds] %s\n' "$SECONDS" "$*"; }
die() {
    printf 'bench.sh: error: %s\n' "$*" >&2
    exit 1
}

# Stops what this run started: by pid, never by name.
cleanup() {
    local rc=$?
    set +e
    local pid
    for pid in "${bg_pids[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in $ours_pid $nginx_pid $weed_pid; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
        "${run_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1
    fi
    [ -n "$pg_root" ] && rm -rf "$pg_root"
    if [ -n "$work" ]; then
        log "removing $work"
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools -----------------------------------------------------------------------------------

ensure_tools() {
    local missing=()
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v curl >/dev/null || missing+=(curl)
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "bench.sh: missing ${missing[*]}; install with: apt-get install -y ${missing[*]}"
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        if ! { apt-get update && apt-get install -y "${missing[@]}"; }; then
            die "apt-get install -y ${missing[*]} failed"
        fi
    else
        die "install ${missing[*]} and run again"
    fi
}

# find_pg_bin and pick_port
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- results ---------------------------------------------------------------------------------

res() { printf '%s=%s\n' "$1" "$2" >>"$results"; }
note() {
    res note "$*"
    log "note: $*"
}

# median DECIMALS VALUE...: the middle value, or the mean of the two middle ones.
median() {
    local decimals=$1
    shift
    printf '%s\n' "$@" | sort -g | awk -v d="$decimals" '
        { v[NR] = $1 }
        END { printf "%." d "f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# record_runs KEY DECIMALS VALUE...: KEY is the median of the values of the runs that gave
# one, KEY.runs the values themselves (when the figure is repeated at all); nothing without
# values. The caller notes runs that gave no value.
record_runs() {
    local key=$1 decimals=$2
    shift 2
    [ $# -gt 0 ] || return 0
    local med
    med=$(median "$decimals" "$@")
    res "$key" "$med"
    if [ "$REPEAT" -gt 1 ]; then
        res "$key.runs" "$*"
        log "$key: median $med of $*"
    fi
}

# Notes a figure of which fewer than REPEAT runs gave a value: its median rests on fewer.
check_runs() {
    [ "$2" -eq "$REPEAT" ] || note "$1: only $2 of $REPEAT runs gave a figure"
}

# The 1-minute load average before a phase: another busy process on the machine shows here
# even when check_quiet's one-second look missed it.
record_load() {
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    res "meta.load.$1" "$load"
    log "load average before the $1 phase: $load"
}

# Parses the BENCH line of a wrk run into wrk_rps, wrk_p99 (ms) and wrk_errors (requests that
# got no answer or an HTTP error status); slow requests are noted. Fails without a summary.
parse_wrk() {
    local label=$1 out=$2 line
    line=$(grep '^BENCH ' <<<"$out" | tail -n 1) || {
        note "$label: wrk printed no summary"
        return 1
    }
    local requests=0 duration_us=1 p99_us=0 max_us=0 connect=0 read=0 write=0 status=0 timeout=0 kv
    for kv in ${line#BENCH }; do
        case $kv in
        requests=*) requests=${kv#*=} ;;
        duration_us=*) duration_us=${kv#*=} ;;
        p99_us=*) p99_us=${kv#*=} ;;
        max_us=*) max_us=${kv#*=} ;;
        connect=*) connect=${kv#*=} ;;
        read=*) read=${kv#*=} ;;
        write=*) write=${kv#*=} ;;
        status=*) status=${kv#*=} ;;
        timeout=*) timeout=${kv#*=} ;;
        esac
    done
    local max
    wrk_errors=$((connect + read + write + status))
    wrk_rps=$(awk -v n="$requests" -v d="$duration_us" 'BEGIN { printf "%.1f", n / (d / 1e6) }')
    wrk_p99=$(awk -v u="$p99_us" 'BEGIN { printf "%.3f", u / 1000 }')
    max=$(awk -v u="$max_us" 'BEGIN { printf "%.0f", u / 1000 }')
    log "$label: $wrk_rps requests/s, p99 $wrk_p99 ms, max $max ms, $requests requests, $wrk_errors failed"
    if [ "$wrk_errors" -gt 0 ]; then
        note "$label: $wrk_errors of $requests requests failed (HTTP error status $status, connect $connect, read $read, write $write)"
    fi
    if [ "$timeout" -gt 0 ]; then
        note "$label: wrk saw requests unanswered after 2 s $timeout times; the slowest took $max ms"
    fi
}

# wrk_once KEY LABEL CONNECTIONS SECONDS SCRIPT URL [SCRIPT ARGS...]: one wrk run, parsed into
# wrk_rps, wrk_p99 and wrk_errors by parse_wrk; fails when it gave no figure. With
# BENCH_PERF_DIR, our server is profiled during runs whose key is not nginx's.
wrk_once() {
    local key=$1 label=$2 conns=$3 secs=$4 script=$5 url=$6 out perf_pid=""
    shift 6
    if [ -n "${BENCH_PERF_DIR:-}" ] && [ -n "$ours_pid" ] && [[ $key != nginx* ]]; then
        # DWARF call graphs: release builds keep no frame pointers.
        perf record -F 99 --call-graph dwarf,16384 -p "$ours_pid" \
            -o "$BENCH_PERF_DIR/${label// run /.}.perf" -- sleep "$secs" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    if ! out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$repo/bench/lua/$script" "$url" \
        -- "$@" 2>&1); then
        printf '%s\n' "$out" >&2
        note "$label: wrk failed"
        [ -z "$perf_pid" ] || wait "$perf_pid" || true
        return 1
    fi
    [ -z "$perf_pid" ] || wait "$perf_pid" || true
    printf '== %s\n%s\n' "$label" "$out" >>"$work/wrk.log"
    parse_wrk "$label" "$out"
}

# run_wrk KEY CONNECTIONS SECONDS SCRIPT URL [SCRIPT ARGS...]: REPEAT wrk runs (`REPEAT=1
# run_wrk ...` for one); <key>.rps and .p99_ms are the medians, .errors the failed requests of
# all runs together. "{i}" in the script arguments becomes the run's number, so that the
# uploads of each run go to new paths.
#
# With ALONGSIDE="REFKEY REFURL", each run is followed by one run of the same script against
# REFURL (a reference server), recorded under REFKEY: the two alternate, so a machine that
# speeds up or slows down during the phase moves both alike and their ratio stays fair.
run_wrk() {
    local key=$1 conns=$2 secs=$3 script=$4 url=$5
    shift 5
    local i t k label ph='{i}'
    local -a keys=("$key") urls=("$url")
    if [ -n "${ALONGSIDE:-}" ]; then
        keys+=("${ALONGSIDE%% *}")
        urls+=("${ALONGSIDE#* }")
    fi
    # Per key: the rates and p99s of its runs (space-separated) and its failed requests.
    local -A rates=() p99s=() errors=()
    for i in $(seq 1 "$REPEAT"); do
        for t in "${!keys[@]}"; do
            k=${keys[t]}
            label=$k
            [ "$REPEAT" -eq 1 ] || label="$k run $i"
            if wrk_once "$k" "$label" "$conns" "$secs" "$script" "${urls[t]}" "${@//"$ph"/$i}"; then
                rates[$k]+="$wrk_rps "
                p99s[$k]+="$wrk_p99 "
                errors[$k]=$((${errors[$k]:-0} + wrk_errors))
            fi
        done
    done
    for k in "${keys[@]}"; do
        record_wrk "$k" "${errors[$k]:-0}" "${rates[$k]:-}" "${p99s[$k]:-}"
    done
}

# record_wrk KEY ERRORS "RATES" "P99S": the medians of a figure's runs and its failed requests.
record_wrk() {
    local key=$1 errors=$2
    local -a rps p99
    read -ra rps <<<"$3"
    read -ra p99 <<<"$4"
    check_runs "$key" ${#rps[@]}
    [ ${#rps[@]} -gt 0 ] || return 0
    record_runs "$key.rps" 1 "${rps[@]}"
    # Its own median: the p99 of the run with the median rate need not be the median p99.
    record_runs "$key.p99_ms" 3 "${p99[@]}"
    res "$key.errors" "$errors"
}

# curl_transfer METHOD URL [CURL ARGS...]: prints MiB/s of one transfer (size over the
# whole request time, so a server that is slow to answer after the last byte pays for it).
curl_transfer() {
    local method=$1 url=$2
    shift 2
    local out code total up down body=$work/curl.out
    # A downloaded body goes nowhere: writing it to disk would measure the disk.
    [ "$method" = GET ] && body=/dev/null
    : >"$work/curl.out"
    out=$(curl -sS --max-time "$CURL_MAX_TIME" -o "$body" \
        -w '%{http_code} %{time_total} %{size_upload} %{size_download}' "$@" "$url") || return 1
    read -r code total up down <<<"$out"
    if [ "${code:0:1}" != 2 ]; then
        echo "bench.sh: $method $url answered $code: $(head -c 300 "$work/curl.out")" >&2
        return 1
    fi
    local size=$up
    [ "$method" = GET ] && size=$down
    if [ "$size" != "$((BIG_MIB << 20))" ]; then
        echo "bench.sh: $method $url moved $size bytes, expected $((BIG_MIB << 20))" >&2
        return 1
    fi
    awk -v s="$size" -v t="$total" 'BEGIN { printf "%.1f", s / 1048576 / t }'
}

# measure_big KEY METHOD URL [CURL ARGS...]: REPEAT transfers, <key>.mibs their median. "{i}"
# in the URL becomes the run's number (a new version for each upload). A function named by
# after_each (`after_each=f measure_big ...`) runs after each transfer.
measure_big() {
    local key=$1 method=$2 url=$3 i label mibs ph='{i}'
    shift 3
    local -a runs=()
    for i in $(seq 1 "$REPEAT"); do
        label=$key
        [ "$REPEAT" -eq 1 ] || label="$key run $i"
        if mibs=$(curl_transfer "$method" "${url//"$ph"/$i}" "$@"); then
            runs+=("$mibs")
            log "$label: $mibs MiB/s"
        else
            note "$label: the $method failed"
        fi
        [ -z "${after_each:-}" ] || "$after_each"
        # Writeback of what was just written must not compete with the next measurement.
        sync
    done
    check_runs "$key" ${#runs[@]}
    record_runs "$key.mibs" 1 "${runs[@]}"
}

# measure_get_pairs KEY URL REFKEY REFURL: REPEAT pairs of GETs, ours and then the
# reference's right after it, so that both sides of the ratio see the same drift of the
# machine's speed (as P3's alternating runs do). Each side keeps its median as measure_big's;
# <KEY>.paired_with names the reference whose runs pair with ours.
measure_get_pairs() {
    local key=$1 url=$2 ref_key=$3 ref_url=$4 i mibs
    local -a runs=() ref_runs=()
    for i in $(seq 1 "$REPEAT"); do
        if mibs=$(curl_transfer GET "$url"); then
            runs+=("$mibs")
            log "$key run $i: $mibs MiB/s"
        else
            note "$key run $i: the GET failed"
        fi
        if mibs=$(curl_transfer GET "$ref_url"); then
            ref_runs+=("$mibs")
            log "$ref_key run $i: $mibs MiB/s"
        else
            note "$ref_key run $i: the GET failed"
        fi
    done
    check_runs "$key" ${#runs[@]}
    check_runs "$ref_key" ${#ref_runs[@]}
    record_runs "$key.mibs" 1 "${runs[@]}"
    record_runs "$ref_key.mibs" 1 "${ref_runs[@]}"
    res "$key.paired_with" "$ref_key"
}

# --- servers ---------------------------------------------------------------------------------

# wait_http URL PID NAME LOG: waits until URL answers 2xx, failing early if PID exits.
wait_http() {
    local url=$1 pid=$2 name=$3 logfile=$4 i
    for i in $(seq 1 300); do
        if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$logfile" >&2 || true
            die "$name exited during start-up"
        fi
        sleep 0.1
    done
    tail -n 20 "$logfile" >&2 || true
    die "$name did not answer $url within 30 s"
}

start_nginx() {
    local dir=$work/nginx
    mkdir -p "$dir/body" "$dir/dav"
    nginx_port=$(pick_port)
    local user_line=""
    # Workers need to write the WebDAV files into this run's directory, which only the
    # current user may enter.
    [ "$(id -u)" -eq 0 ] && user_line="user root;"
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/body;
    fastcgi_temp_path $dir/body;
    uwsgi_temp_path $dir/body;
    scgi_temp_path $dir/body;
    server {
        listen 127.0.0.1:$nginx_port;
        root $work/files;
        location /dav/ {
            root $dir/dav;
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 0;
        }
    }
}
EOF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
    nginx_pid=$!
    wait_http "http://127.0.0.1:$nginx_port/small.bin" "$nginx_pid" nginx "$dir/error.log"
}

stop_nginx() {
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    nginx_pid=""
}

start_postgres() {
    pg_root=$(mktemp -d "${TMPDIR:-/tmp}/forge-bench-pg.XXXXXX")
    pg_data="$pg_root/data"
    if [ "$(id -u)" -eq 0 ]; then
        # initdb refuses to run as root.
        local pg_user=postgres
        id "$pg_user" >/dev/null 2>&1 || pg_user=nobody
        chown "$pg_user" "$pg_root"
        chmod 700 "$pg_root"
        run_pg=(runuser -u "$pg_user" --)
    fi
    "${run_pg[@]}" "$pg_bin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 --locale=C \
        >"$pg_root/initdb.log" 2>&1 || {
        cat "$pg_root/initdb.log" >&2
        die "initdb failed"
    }
    local attempt port
    for attempt in 1 2 3 4 5; do
        port=$(pick_port)
        # shellcheck disable=SC2086 # PG_OPTS is a list of options
        if "${run_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_root/server.log" -w -t 60 \
            -o "-p $port -h 127.0.0.1 -k $pg_root $PG_OPTS" start >/dev/null; then
            pg_url="postgres://postgres@127.0.0.1:$port/postgres"
            log "PostgreSQL on 127.0.0.1:$port ($PG_OPTS)"
            return 0
        fi
        log "PostgreSQL did not start on port $port (attempt $attempt)"
    done
    cat "$pg_root/server.log" >&2 || true
    die "could not start PostgreSQL"
}

stop_postgres() {
    if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
        "${run_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    [ -n "$pg_root" ] && rm -rf "$pg_root"
    pg_root=""
    pg_data=""
}

# Creates the blob store's fan-out directories (<data>/packages/<sha[0:2]>/<sha[2:4]>, see
# docs/ARCHITECTURE.md) as a store in use has them. In a fresh store most of the first
# hundred thousand uploads also create a directory and fsync its parent, which on some file
# systems costs as much as the upload, and would make the first small-upload run slower than
# later ones for a reason that has nothing to do with the number of stored versions.
prefill_fanout() {
    local root=$1 hex a
    hex=$(printf '%02x ' $(seq 0 255))
    mkdir -p "$root"
    for a in $hex; do
        mkdir "$root/$a"
        # shellcheck disable=SC2086 # one argument per directory name
        (cd "$root/$a" && mkdir $hex)
    done
    sync
}

# Starts our server on a fresh data directory; sets ours_port, ours_db and ours_env.
start_ours() {
    local be=$1
    ours_data=$work/data-$be
    mkdir -p "$ours_data"
    [ ${#ours_extra_env[@]} -gt 0 ] || prefill_fanout "$ours_data/packages"
    ours_port=$(pick_port)
    ours_env=(FORGE_LISTEN="127.0.0.1:$ours_port" FORGE_DATA_DIR="$ours_data" RUST_LOG=warn FORGE_WORKERS=2
        "${ours_extra_env[@]}")
    if [ "$be" = postgres ]; then
        ours_env+=(FORGE_DATABASE_URL="$pg_url")
        ours_db=$pg_url
    else
        ours_db=$ours_data/forge.db
    fi
    env "${ours_env[@]}" "$server" serve >"$work/server-$be.log" 2>&1 &
    ours_pid=$!
    wait_http "http://127.0.0.1:$ours_port/api/healthz" "$ours_pid" "forge-server ($be)" \
        "$work/server-$be.log"
}

stop_ours() {
    kill "$ours_pid" 2>/dev/null || true
    wait "$ours_pid" 2>/dev/null || true
    ours_pid=""
    if [ -s "$work/server-$1.log" ]; then
        log "server log ($1), last lines:"
        tail -n 5 "$work/server-$1.log"
    fi
    # Only the large files go now, for room: removing tens of thousands of small files takes
    # a while on some file systems and is left to the end.
    find "$ours_data" -type f -size +64M -delete
}

admin() { env "${ours_env[@]}" "$server" admin "$@"; }

mib_of_kib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# Notes processes other than this run's that use more than a fifth of a core over one second,
# since they take cores from the servers and the clients.
check_quiet() {
    local what=$1 busy
    command -v top >/dev/null || return 0
    busy=$(top -b -n 2 -d 1 -w 200 | awk '
        /^top -/ { n++ }
        n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 > 20 &&
            $12 !~ /^(forge-server|forge-bench|nginx|wrk|curl|postgres|top|bench\.sh|kworker.*)$/ {
            printf "%s%s (%s%%)", sep, $12, $9; sep = ", "
        }')
    [ -z "$busy" ] || note "before $what, other processes were busy: $busy"
    # A busy disk is waited out by settle_disk, which notes it only if it stays busy.
}

# --- scenarios -------------------------------------------------------------------------------

# Waits until tasks have waited on the disk less than 1 % of the last 10 s (the kernel's
# pressure stall figure), at most SETTLE_MAX seconds. Gigabytes written or deleted by the
# scenario before (P5's 8 GiB, P1's temporary copies, a dropped data directory) keep the disk
# busy for a minute or more after their requests finished: writeback, and the discards this
# file system issues for freed blocks. Every fsync meanwhile waits behind them, so a small
# upload run started at once measured the previous scenario rather than the server, and
# nginx's phase, which comes first, never had that handicap.
settle_disk() {
    local what=$1 start=$SECONDS io
    sync
    [ -r /proc/pressure/io ] || return 0
    while :; do
        io=$(awk '$1 == "some" { sub("avg10=", "", $2); print $2 }' /proc/pressure/io)
        awk -v p="$io" 'BEGIN { exit !(p < 1) }' && break
        if [ $((SECONDS - start)) -ge "$SETTLE_MAX" ]; then
            note "before $what, tasks still waited on the disk ${io} % of the last 10 s after ${SETTLE_MAX} s"
            break
        fi
        sleep 1
    done
    [ $((SECONDS - start)) -eq 0 ] || log "disk quiet before $what after $((SECONDS - start)) s"
}

seed() {
    local be=$1 prefix=$2 count=$3 out
    out=$("$bench" seed --database-url "$ours_db" --owner bench --prefix "$prefix" \
        --count "$count")
    log "seeded $count versions on $be: $(tr '\n' ' ' <<<"$out")"
    res "$be.seed.$prefix.s" "$(sed -n 's/^seconds=//p' <<<"$out")"
    if [ "$be" = postgres ]; then
        # A bulk insert wakes autovacuum, which would then compete for the cores during the
        # measurement; rows that arrive over months would not. Vacuum now instead.
        local start=$SECONDS
        "$pg_bin/psql" -q -X -v ON_ERROR_STOP=1 -d "$pg_url" -c 'VACUUM (ANALYZE)' >/dev/null
        log "vacuumed PostgreSQL in $((SECONDS - start)) s"
    fi
}

# P5: peak RSS while several clients upload the large file (or FILE of MIB MiB) at once;
# the figures go under KEY.p5.
# memory_scenario KEY [FILE MIB]
memory_scenario() {
    local be=$1 file=${2:-$work/files/big.bin} mib=${3:-$BIG_MIB} base lifetime i peak rss hwm
    base=$(status_kib "$ours_pid" VmRSS)
    lifetime=$(status_kib "$ours_pid" VmHWM)
    # Writing 5 resets VmHWM to the current RSS, so the high-water mark covers these uploads
    # only; the sampling below is the fallback where that is not allowed.
    local hwm_reset=1
    echo 5 >"/proc/$ours_pid/clear_refs" 2>/dev/null || hwm_reset=0
    local start=$SECONDS
    local -a curls=()
    for i in $(seq 1 "$P5_CLIENTS"); do
        curl -sS --max-time "$CURL_MAX_TIME" -o "$work/p5-$i.out" -w '%{http_code}' \
            -H "Authorization: token $token" -T "$file" \
            "http://127.0.0.1:$ours_port/api/packages/bench/generic/p5/$i/big.bin" \
            >"$work/p5-$i.code" 2>"$work/p5-$i.err" &
        curls+=($!)
        bg_pids+=($!)
    done
    peak=$base
    local running=1
    while [ "$running" -eq 1 ]; do
        running=0
        for i in "${curls[@]}"; do
            kill -0 "$i" 2>/dev/null && running=1
        done
        rss=$(status_kib "$ours_pid" VmRSS || echo 0)
        [ "${rss:-0}" -gt "$peak" ] && peak=$rss
        sleep 0.1
    done
    local failed=0
    for i in "${curls[@]}"; do
        wait "$i" || true
    done
    bg_pids=()
    for i in $(seq 1 "$P5_CLIENTS"); do
        [ "$(cat "$work/p5-$i.code")" = 201 ] || {
            failed=$((failed + 1))
            log "P5 upload $i: HTTP $(cat "$work/p5-$i.code") $(cat "$work/p5-$i.err" "$work/p5-$i.out" | head -c 300)"
        }
    done
    local secs=$((SECONDS - start))
    hwm=$(status_kib "$ours_pid" VmHWM)
    if [ "$hwm_reset" = 1 ]; then
        [ "$hwm" -gt "$peak" ] && peak=$hwm
    else
        note "P5 ($be): VmHWM could not be reset; the peak is the highest of the 100 ms samples"
    fi
    res "$be.p5.base_mib" "$(mib_of_kib "$base")"
    res "$be.p5.peak_mib" "$(mib_of_kib "$peak")"
    res "$be.p5.errors" "$failed"
    log "P5 $be: baseline $(mib_of_kib "$base") MiB, peak $(mib_of_kib "$peak") MiB (VmHWM $(mib_of_kib "$hwm") MiB), $P5_CLIENTS × $mib MiB in ${secs} s, $failed failed"
    note "P5 ($be): $P5_CLIENTS uploads of $mib MiB at once took ${secs} s ($(awk -v n="$P5_CLIENTS" -v m="$mib" -v s="$secs" 'BEGIN { printf "%.0f", n * m / (s > 0 ? s : 1) }') MiB/s together); the server's peak RSS over the whole run before P5 was $(mib_of_kib "$lifetime") MiB."
    [ "$failed" -eq 0 ] || note "P5 ($be): $failed of $P5_CLIENTS uploads failed"
    sync
}

# Creates the user the runs upload as and sets token.
make_user() {
    # Default bcrypt cost on purpose: the uploads authenticate with a token.
    admin user create --username bench --password 'bench-password-1' --email bench@example.com >/dev/null
    token=$(admin user generate-access-token --username bench --token-name bench --scopes write:package | tail -n 1)
    [ -n "$token" ] || die "no token"
}

bench_ours() {
    local be=$1
    local base_url
    record_load "$be"
    check_quiet "the $be runs"
    start_ours "$be"
    base_url="http://127.0.0.1:$ours_port/api/packages/bench/generic"
    log "forge-server ($be) on 127.0.0.1:$ours_port"
    make_user
    local auth=(-H "Authorization: token $token")
    curl -fsS -o /dev/null "${auth[@]}" -T "$work/files/small.bin" "$base_url/p3/1.0/small.bin"
    seed "$be" s1k- "$BASE_VERSIONS"
    res "$be.p3.versions" "$BASE_VERSIONS"

    # Each run uploads a new version (1.1, 1.2, …): the same content, so the store keeps one
    # blob, but every run streams, hashes and commits the whole file as the first did.
    settle_disk "P1 on $be"
    log "P1 $be: PUT $BIG_MIB MiB, $REPEAT runs"
    measure_big "$be.p1" PUT "$base_url/p1/1.{i}/big.bin" "${auth[@]}" -T "$work/files/big.bin"
    log "P2 $be: GET $BIG_MIB MiB (warm-up, then $REPEAT runs)"
    curl -fsS -o /dev/null "$base_url/p1/1.1/big.bin" || note "P2 ($be): warm-up GET failed"
    measure_big "$be.p2" GET "$base_url/p1/1.1/big.bin"

    # nginx's runs alternate with ours: P3's target is a ratio of two CPU-bound rates, which
    # drift together with the machine's speed when measured side by side, not when minutes
    # apart.
    settle_disk "P3 on $be"
    log "P3 $be: wrk GET 1 KiB, 64 connections, ${DURATION} s, $REPEAT runs, alternating with nginx"
    ALONGSIDE="$be.p3_nginx http://127.0.0.1:$nginx_port/small.bin" \
        run_wrk "$be.p3" 64 "$DURATION" get.lua "$base_url/p3/1.0/small.bin"
    # Versions r1.<run>-<thread>-<n>: no run meets the paths of an earlier one.
    settle_disk "P4 on $be"
    log "P4 $be: wrk PUT 1 KiB with a token, 16 connections, ${DURATION} s, $REPEAT runs"
    run_wrk "$be.p4" 16 "$DURATION" put.lua "http://127.0.0.1:$ours_port" \
        '/api/packages/bench/generic/p4/r1.{i}' "$token"

    if [ "$P6_VERSIONS" -gt "$BASE_VERSIONS" ]; then
        seed "$be" s1m- $((P6_VERSIONS - BASE_VERSIONS))
        res "$be.p6.versions" "$P6_VERSIONS"
        settle_disk "P6 on $be"
        log "P6 $be: P3 and P4 again with $P6_VERSIONS versions, ${P6_DURATION} s each"
        REPEAT=1 run_wrk "$be.p6.p3" 64 "$P6_DURATION" get.lua "$base_url/p3/1.0/small.bin"
        REPEAT=1 run_wrk "$be.p6.p4" 16 "$P6_DURATION" put.lua "http://127.0.0.1:$ours_port" \
            /api/packages/bench/generic/p4/r2 "$token"
    fi

    if [[ " $P5_BACKENDS " == *" $be "* ]]; then
        if [ "$p5_ok" = 1 ]; then
            log "P5 $be: $P5_CLIENTS parallel PUTs of $BIG_MIB MiB, sampling RSS"
            memory_scenario "$be"
        fi
    fi
    stop_ours "$be"
}

# Removes nginx's copy of the large file, so that each PUT creates it anew (as each of ours
# creates a new version) rather than replacing the previous run's.
clear_dav() { rm -rf "$work/nginx/dav/dav"; }

bench_nginx() {
    record_load nginx
    check_quiet "the nginx runs"
    start_nginx
    local url="http://127.0.0.1:$nginx_port"
    log "nginx on 127.0.0.1:$nginx_port"
    settle_disk "P1 on nginx"
    log "P1 nginx: WebDAV PUT $BIG_MIB MiB, $REPEAT runs"
    after_each=clear_dav measure_big nginx.p1 PUT "$url/dav/p1/big.bin" -T "$work/files/big.bin"
    log "P2 nginx: GET $BIG_MIB MiB (warm-up, then $REPEAT runs)"
    curl -fsS -o /dev/null "$url/big.bin"
    measure_big nginx.p2 GET "$url/big.bin"
    settle_disk "P4 on nginx"
    log "P4 nginx: wrk WebDAV PUT 1 KiB, 16 connections, ${DURATION} s, $REPEAT runs"
    run_wrk nginx.p4 16 "$DURATION" put.lua "$url" '/dav/p4/r1.{i}'
    # nginx stays up: each backend's P3 runs alternate with nginx's.
}

# --- object storage --------------------------------------------------------------------------

s3_key=bench
s3_secret='bench-secret-0123456789'
s3_bucket=bench

# A fresh SeaweedFS (`weed mini`, from the test environment) on free ports; sets s3_endpoint.
# A port picked as free can be taken before weed binds it: then again on other ports.
start_seaweed() {
    local dir=$work/weed attempt s3_port
    for attempt in 1 2 3; do
        rm -rf "$dir"
        mkdir -p "$dir"
        s3_port=$(pick_port)
        AWS_ACCESS_KEY_ID=$s3_key AWS_SECRET_ACCESS_KEY=$s3_secret \
            weed mini -dir="$dir" -bucket="$s3_bucket" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
            -s3.port="$s3_port" -s3.port.grpc="$(pick_port)" \
            -master.port="$(pick_port)" -master.port.grpc="$(pick_port)" \
            -volume.port="$(pick_port)" -volume.port.grpc="$(pick_port)" \
            -filer.port="$(pick_port)" -filer.port.grpc="$(pick_port)" \
            -admin.port="$(pick_port)" -admin.port.grpc="$(pick_port)" \
            -webdav.port="$(pick_port)" -s3.port.iceberg="$(pick_port)" -s3.port.lance=0 \
            >"$work/weed.log" 2>&1 &
        weed_pid=$!
        s3_endpoint=http://127.0.0.1:$s3_port
        local i
        for i in $(seq 1 30); do
            kill -0 "$weed_pid" 2>/dev/null || break
            if s3ref wait 2 2>/dev/null; then
                return 0
            fi
        done
        log "SeaweedFS did not start (attempt $attempt): $(grep -m1 -i 'fail\|error' "$work/weed.log")"
        kill "$weed_pid" 2>/dev/null || true
        wait "$weed_pid" 2>/dev/null || true
        weed_pid=""
    done
    tail -n 20 "$work/weed.log" >&2
    die "SeaweedFS did not start"
}

stop_seaweed() {
    kill "$weed_pid" 2>/dev/null || true
    wait "$weed_pid" 2>/dev/null || true
    weed_pid=""
    rm -rf "$work/weed"
}

# Points the next start_ours at the running SeaweedFS, with any extra settings given.
use_seaweed() {
    ours_extra_env=(FORGE_STORAGE_TYPE=s3 FORGE_STORAGE_S3_ENDPOINT="$s3_endpoint"
        FORGE_STORAGE_S3_BUCKET="$s3_bucket" FORGE_STORAGE_S3_ACCESS_KEY_ID="$s3_key"
        FORGE_STORAGE_S3_SECRET_ACCESS_KEY="$s3_secret" FORGE_STORAGE_S3_PREFIX=forge/ "$@")
}

s3ref() {
    BENCH_S3_ENDPOINT=$s3_endpoint BENCH_S3_BUCKET=$s3_bucket \
        AWS_ACCESS_KEY_ID=$s3_key AWS_SECRET_ACCESS_KEY=$s3_secret \
        python3 "$repo/bench/s3ref.py" "$@"
}

# S3-P1, S3-P2 and S3-P5: our server (SQLite) with its content in SeaweedFS, against boto3
# and curl on the same SeaweedFS.
bench_s3() {
    record_load s3
    check_quiet "the S3 runs"
    start_seaweed
    log "SeaweedFS on $s3_endpoint"
    local mibs url base_url code i
    local -a runs=()
    settle_disk "the S3 runs"
    log "S3-P1 reference: boto3 multipart upload of $BIG_MIB MiB, $REPEAT runs"
    for i in $(seq 1 "$REPEAT"); do
        # The same key each time, as a client replacing an object would.
        if mibs=$(s3ref put "$work/files/big.bin" reference/big.bin); then
            runs+=("$mibs")
            log "s3.ref_p1 run $i: $mibs MiB/s"
        else
            note "S3-P1 reference run $i: the boto3 upload failed"
        fi
        sync
    done
    check_runs s3.ref_p1 ${#runs[@]}
    record_runs s3.ref_p1.mibs 1 "${runs[@]}"
    url=$(s3ref presign reference/big.bin)

    use_seaweed
    start_ours s3
    base_url="http://127.0.0.1:$ours_port/api/packages/bench/generic"
    log "forge-server (SQLite + S3) on 127.0.0.1:$ours_port"
    make_user
    log "S3-P1: PUT $BIG_MIB MiB through the server, $REPEAT runs"
    measure_big s3.p1 PUT "$base_url/p1/1.{i}/big.bin" -H "Authorization: token $token" \
        -T "$work/files/big.bin"
    # The reference's GETs moved by a factor of three between runs minutes apart; pairs of
    # runs side by side give the ratio a common footing, as for P3.
    log "S3-P2: GET $BIG_MIB MiB through the server and of a presigned URL straight from SeaweedFS (warm-up, then $REPEAT pairs)"
    curl -fsS -o /dev/null "$base_url/p1/1.1/big.bin" || note "S3-P2: warm-up GET failed"
    curl -fsS -o /dev/null "$url" || note "S3-P2: reference warm-up GET failed"
    measure_get_pairs s3.p2 "$base_url/p1/1.1/big.bin" s3.ref_p2 "$url"
    stop_ours s3

    use_seaweed FORGE_STORAGE_SERVE_DIRECT=true
    start_ours s3-direct
    make_user
    base_url="http://127.0.0.1:$ours_port/api/packages/bench/generic"
    curl -fsS -o /dev/null -H "Authorization: token $token" -T "$work/files/small.bin" \
        "$base_url/p3/1.0/small.bin"
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base_url/p3/1.0/small.bin")
    [ "$code" = 307 ] || note "S3-P2 serve-direct: GET answered $code, not 307"
    log "S3-P2 serve-direct: wrk GET (307), 64 connections, ${DURATION} s, $REPEAT runs"
    run_wrk s3.direct 64 "$DURATION" get.lua "$base_url/p3/1.0/small.bin"
    stop_ours s3-direct

    res meta.s3_p5_mibs "$S3_P5_MIBS"
    local mib file avail
    for mib in $S3_P5_MIBS; do
        # A fresh SeaweedFS each time: deleted objects keep their room until a vacuum.
        stop_seaweed
        avail=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
        if [ "$avail" -lt $(((P5_CLIENTS + 2) * mib * 1024)) ]; then
            note "S3-P5 with $mib MiB skipped: only $((avail / 1024)) MiB free in $work, it needs $(((P5_CLIENTS + 2) * mib)) MiB"
            continue
        fi
        start_seaweed
        file=$work/files/big.bin
        if [ "$mib" != "$BIG_MIB" ]; then
            file=$work/files/p5-$mib.bin
            head -c $((mib << 20)) /dev/urandom >"$file"
        fi
        use_seaweed
        start_ours "s3-p5-$mib"
        make_user
        log "S3-P5: $P5_CLIENTS parallel PUTs of $mib MiB into S3, sampling RSS"
        memory_scenario "s3.m$mib" "$file" "$mib"
        stop_ours "s3-p5-$mib"
        [ "$file" = "$work/files/big.bin" ] || rm -f "$file"
    done
    ours_extra_env=()
    stop_seaweed
}

# --- main ------------------------------------------------------------------------------------

[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive whole number, not '$REPEAT'"
ensure_tools
if [ -n "${BENCH_PERF_DIR:-}" ]; then
    command -v perf >/dev/null || die "BENCH_PERF_DIR needs perf (apt-get install -y linux-perf)"
    mkdir -p "$BENCH_PERF_DIR"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ "$S3" = 1 ]; then
    # SeaweedFS (weed) and boto3 come from the test environment (tests/python/requirements.txt).
    # shellcheck source=scripts/test-env.sh
    . "$(dirname "${BASH_SOURCE[0]}")/test-env.sh"
    test_env_setup >/dev/null || die "could not set up the test environment (weed, boto3)"
fi

# Other work on the machine (a compiler, say) takes cores from the servers: keep a trace.
load_start=$(cut -d' ' -f1 /proc/loadavg)
log "building (release)"
build_start=$SECONDS
"$CARGO" build --release -p forge-server -p forge-bench
build_s=$((SECONDS - build_start))
target_dir=$("$CARGO" metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
server=$target_dir/release/forge-server
bench=$target_dir/release/forge-bench

work=$(mktemp -d "${TMPDIR:-/tmp}/forge-bench.XXXXXX")
results=$work/results.txt
: >"$results"
mkdir -p "$work/files"

# Room: the source file, nginx's copy, the stored blob, and for P5 one temporary file per
# client at once. In the S3 phase, SeaweedFS keeps every run's upload (replaced and deleted
# objects keep their room until a vacuum): the source file and two copies per run.
avail_kib=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
need_mib=$((3 * BIG_MIB))
if [ "$S3" = 1 ] && [ $(((1 + 2 * REPEAT) * BIG_MIB)) -gt "$need_mib" ]; then
    need_mib=$(((1 + 2 * REPEAT) * BIG_MIB))
fi
need_kib=$(((need_mib + 512) * 1024))
[ "$avail_kib" -ge "$need_kib" ] ||
    die "only $((avail_kib / 1024)) MiB free in $work; need $((need_kib / 1024)) MiB (set TMPDIR)"
p5_ok=1
if [ "$avail_kib" -lt $((12 * 1024 * 1024)) ]; then
    p5_ok=0
    note "P5 skipped: only $((avail_kib / 1024 / 1024)) GiB free in $work, it needs 12 GiB"
fi

res meta.build_s "$build_s"
res meta.load_start "$load_start"
res meta.repeat "$REPEAT"
# The backends asked for: one that could not run still gets its rows, marked not measured.
res meta.backends "$BACKENDS"
res meta.big_mib "$BIG_MIB"
res meta.p5_clients "$P5_CLIENTS"
res meta.date "$(date -u '+%Y-%m-%d %H:%M UTC')"
res meta.cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
res meta.cores "$(nproc)"
res meta.mem "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
res meta.kernel "$(uname -sr)"
res meta.fs "$(findmnt -no FSTYPE,OPTIONS -T "$work" 2>/dev/null | awk '{ print $1 " (" $2 ")" }')"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    commit="$commit with uncommitted changes"
fi
res meta.commit "$commit"
res meta.nginx "$("$NGINX" -v 2>&1 | sed 's|.*nginx/||')"
res meta.wrk "$( (wrk --version 2>&1 || true) | awk 'NR == 1 { print $2 }')"
res meta.curl "$(curl --version | awk 'NR == 1 { print $2 }')"

log "generating $BIG_MIB MiB of random data and a 1 KiB file in $work/files"
head -c $((BIG_MIB << 20)) /dev/urandom >"$work/files/big.bin"
head -c 1024 /dev/urandom >"$work/files/small.bin"
sync
log "disk: 1 GiB write + fsync"
disk_s=$(
    TIMEFORMAT=%R
    { time dd if=/dev/zero of="$work/dd" bs=1M count=1024 conv=fsync status=none; } 2>&1
)
rm -f "$work/dd"
res meta.disk_mibs "$(awk -v s="$disk_s" 'BEGIN { printf "%.0f", 1024 / s }')"

log "hashing rate, $HASH_MIB MiB serial and on the upload pipeline's threads"
"$bench" hash-rate --mib "$HASH_MIB" | sed 's/^/hash./' >>"$results"
# The physical limit: OpenSSL's rate for each digest on one core, in 256 KiB blocks (the
# pipeline's chunk size). `speed` prints thousands of bytes per second in its last line.
if command -v openssl >/dev/null; then
    for digest in md5 sha1 sha256 sha512; do
        # A run that counted no block prints nan; one retry, then the figure is left out.
        for _ in 1 2; do
            kbs=$(openssl speed -evp "$digest" -bytes 262144 -seconds 2 2>/dev/null |
                awk 'END { v = $NF; sub(/k$/, "", v); if (v + 0 > 0) print v }')
            [ -n "$kbs" ] && break
        done
        if [ -n "$kbs" ]; then
            res "hash.openssl_${digest}_mibs" "$(awk -v k="$kbs" 'BEGIN { printf "%.1f", k * 1000 / 1048576 }')"
        else
            note "openssl speed gave no rate for $digest"
        fi
    done
    res meta.openssl "$(openssl version | awk '{ print $2 }')"
else
    note "openssl is not installed: no hashing limit to compare the pipeline with"
fi
grep '^hash\.' "$results" | tr '\n' ' '
echo

bench_nginx

for be in $BACKENDS; do
    case $be in
    sqlite) bench_ours sqlite ;;
    postgres)
        if pg_bin=$(find_pg_bin); then
            res meta.postgres "$("$pg_bin/pg_ctl" --version | awk '{ print $3 }')"
            start_postgres
            bench_ours postgres
            stop_postgres
        else
            note "PostgreSQL skipped: no server binaries (initdb, pg_ctl) found"
        fi
        ;;
    *) die "unknown backend $be" ;;
    esac
done
stop_nginx

if [ "$S3" = 1 ]; then
    bench_s3
fi

note "P3/P4 ran with $BASE_VERSIONS versions seeded for the owner and P6 with $P6_VERSIONS, plus the uploads of the runs themselves; wrk -t2, ${DURATION} s per run (P6: ${P6_DURATION} s), client and server share the $(nproc) cores. P1-P4, S3-P1 and S3-P2 (and their references) are the median of $REPEAT runs each, P5 and P6 single runs."
[ "$PG_OPTS" = "" ] || note "PostgreSQL server options: \`$PG_OPTS\`."
[ -z "${BENCH_PERF_DIR:-}" ] || note "perf recorded our server during the wrk runs: those figures are lower than without it."
res meta.total_s "$SECONDS"
"$bench" report --results "$results" --doc "$DOC"
log "wrote $DOC"
# The scenario table of the run, for the terminal.
sed -n '/^## Latest run/,$p' "$DOC" | sed -n '/^| | Scenario/,/^Targets met/p'
