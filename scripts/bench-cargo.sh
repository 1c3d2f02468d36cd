#!/usr/bin/env bash
# Cargo sparse index benchmark: our server's index files against nginx serving the same bytes
# from disk, and the time of the real `cargo publish` against our server.
#
#   scripts/bench-cargo.sh FORGE_SERVER
#
# FORGE_SERVER is the path of a release forge-server binary (built beforehand, e.g. with
# `cargo build --release -p forge-server`; this script builds nothing). The run:
#   - starts our server on loopback (SQLite, a fresh data directory, FORGE_WORKERS=2,
#     RUST_LOG=warn) with a user `bench` and a `write:package` token of its own;
#   - publishes CRATES generated crates VERSIONS times each (versions 1.0.0, 1.1.0, …) with
#     the toolchain's own cargo, `cargo publish --no-verify --registry forge`, one at a time,
#     from one fresh CARGO_HOME whose config.toml names the index
#     `sparse+http://127.0.0.1:PORT/api/packages/bench/cargo/` and lets only `cargo:token`
#     provide credentials (the token in CARGO_REGISTRIES_FORGE_TOKEN). The names cover every
#     index layout (1/, 2/, 3/c/, ab/cd/, some in mixed case) and most crates depend on the
#     first ones (normal, renamed and optional `dep:` dependencies), so cargo resolves against
#     the index while packaging. Each publish's wall time includes cargo's wait until the
#     index lists the new version; the median is reported;
#   - fetches every crate's index file from our server and writes the same bytes at the same
#     paths into the document root of an nginx on another loopback port (2 workers, as ours,
#     `etag on`, sendfile, no access log), and checks that both answer the same bytes, and 304
#     to their own ETag;
#   - drives each server with wrk (bench/lua/cargo_index.lua: rotating over all the index
#     files, with cargo's `Accept` and `cargo-protocol` headers), CONNECTIONS keep-alive
#     connections, anonymous (the owner is public), for DURATION seconds after WARMUP seconds
#     untimed: (a) full fetches (no validators, 200 with the file), (b) revalidations with
#     `If-None-Match` set to that server's own ETag of each file (304);
#   - reads the peak RSS (VmHWM) of our server over the whole run, and of nginx's processes.
# A markdown table (requests/s, p50 and p99, ratios ours ÷ nginx, publish times, memory) is
# printed at the end. About 1.5 minutes on 2 cores.
#
# Environment:
#   CRATES        crates published (50)
#   VERSIONS      versions published of each (3)
#   CONNECTIONS   wrk connections (64)
#   DURATION      seconds per wrk run (10)
#   WARMUP        seconds of untimed load of each kind before the runs (2)
#   TMPDIR        where the crates, the servers' data and the document root go
#   PERF_DIR      record a perf profile of our server during each of its wrk runs into this
#                 directory (ours.full.perf, ours.revalidate.perf; the figures are then lower)
# Needs cargo (rustup's toolchain or one on PATH), nginx, wrk, curl and python3 (apt-get
# install -y nginx wrk curl). Touches nothing on crates.io. Everything it starts or creates
# goes again on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

CRATES=${CRATES:-50}
VERSIONS=${VERSIONS:-3}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
forge_server=${1:-}
OWNER=bench

# pick_port
. "$repo/scripts/lib.sh"

log() { printf '[bench-cargo %4ds] %s\n' "$SECONDS" "$*" >&2; }
die() {
    printf 'bench-cargo.sh: error: %s\n' "$*" >&2
    exit 1
}

work=""
ours_pid=""
nginx_pid=""

# Stops what this run started, by pid, and removes its files.
cleanup() {
    local rc=$?
    set +e
    local pid
    for pid in $nginx_pid $ours_pid; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    [ -n "$work" ] && rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -n "$forge_server" ] || die "usage: scripts/bench-cargo.sh FORGE_SERVER (a release forge-server binary)"
[ -x "$forge_server" ] || die "$forge_server is not an executable forge-server"
forge_server=$(cd "$(dirname "$forge_server")" && pwd)/$(basename "$forge_server")
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
missing=()
[ -x "$NGINX" ] || missing+=(nginx)
for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]} (apt-get install -y ${missing[*]})"
[ "$CRATES" -ge 1 ] && [ "$VERSIONS" -ge 1 ] || die "CRATES and VERSIONS must be at least 1"

# The toolchain's own cargo and rustc, not rustup's proxies: the runs get a scratch
# environment, and the proxy's own start-up is not what is measured.
if command -v rustup >/dev/null && cargo_bin=$(rustup which cargo 2>/dev/null); then
    rustc_bin=$(rustup which rustc 2>/dev/null || true)
else
    cargo_bin=$(command -v cargo) || die "no cargo on PATH"
    rustc_bin=$(command -v rustc || true)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/forge-bench-cargo.XXXXXX")

# --- results ---------------------------------------------------------------------------------

declare -A result=()
declare -a notes=()
note() {
    notes+=("$*")
    log "note: $*"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
mib_of_kib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# Notes processes other than this run's that use more than a fifth of a core over one second,
# since they take cores from the servers and the clients (as scripts/bench.sh does).
check_quiet() {
    local what=$1 busy
    command -v top >/dev/null || return 0
    busy=$(top -b -n 2 -d 1 -w 200 | awk '
        /^top -/ { n++ }
        n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 > 20 &&
            $12 !~ /^(forge-server|nginx|wrk|curl|cargo|python3|top|bench-cargo\.sh|kworker.*)$/ {
            printf "%s%s (%s%%)", sep, $12, $9; sep = ", "
        }')
    [ -z "$busy" ] || note "before $what, other processes were busy: $busy"
}

# run_wrk KEY HOST LIST MODE: requests per second into result[KEY], p50 and p99 in ms, and
# the bytes read per response.
run_wrk() {
    local key=$1 host=$2 list=$3 mode=$4 out line perf_pid=""
    if [ -n "${PERF_DIR:-}" ] && [[ $key == ours.* ]]; then
        # DWARF call graphs: release builds keep no frame pointers.
        perf record -F 99 --call-graph dwarf,16384 -p "$ours_pid" -o "$PERF_DIR/$key.perf" \
            -- sleep "$DURATION" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    if ! out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -s "$repo/bench/lua/cargo_index.lua" "http://$host" -- "$list" "$mode" 2>&1); then
        printf '%s\n' "$out" >&2
        note "$key: wrk failed"
        return 0
    fi
    [ -z "$perf_pid" ] || wait "$perf_pid" || true
    line=$(grep '^BENCH ' <<<"$out" | tail -n 1) || {
        printf '%s\n' "$out" >&2
        note "$key: wrk printed no summary"
        return 0
    }
    local requests=0 duration_us=1 bytes=0 p50_us=0 p99_us=0 status=0 connect=0 read=0 write=0 timeout=0 kv
    for kv in ${line#BENCH }; do
        case $kv in
        requests=*) requests=${kv#*=} ;;
        duration_us=*) duration_us=${kv#*=} ;;
        bytes=*) bytes=${kv#*=} ;;
        p50_us=*) p50_us=${kv#*=} ;;
        p99_us=*) p99_us=${kv#*=} ;;
        status=*) status=${kv#*=} ;;
        connect=*) connect=${kv#*=} ;;
        read=*) read=${kv#*=} ;;
        write=*) write=${kv#*=} ;;
        timeout=*) timeout=${kv#*=} ;;
        esac
    done
    result[$key]=$(awk -v n="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
    result[$key.p50]=$(awk -v u="$p50_us" 'BEGIN { printf "%.2f", u / 1000 }')
    result[$key.p99]=$(awk -v u="$p99_us" 'BEGIN { printf "%.2f", u / 1000 }')
    result[$key.bytes]=$(awk -v b="$bytes" -v n="$requests" 'BEGIN { printf "%.0f", (n > 0 ? b / n : 0) }')
    local errors=$((status + connect + read + write))
    log "$key: ${result[$key]} requests/s, p50 ${result[$key.p50]} ms, p99 ${result[$key.p99]} ms, ${result[$key.bytes]} bytes per response, $errors of $requests failed"
    if [ "$errors" -gt 0 ]; then
        note "$key: $errors of $requests requests failed (HTTP status $status, connect $connect, read $read, write $write): the rate is not comparable"
    fi
    [ "$timeout" -eq 0 ] || note "$key: wrk saw requests unanswered after 2 s $timeout times"
}

# --- servers ---------------------------------------------------------------------------------

# wait_http URL PID NAME LOG: waits until URL answers 2xx, failing early if PID exits. The
# process must still run a moment later: a port picked as free can be taken by another
# program before the server binds it, and that program may answer the URL too.
wait_http() {
    local url=$1 pid=$2 name=$3 logfile=$4 i
    for i in $(seq 1 600); do
        if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
            sleep 0.2
            if ! kill -0 "$pid" 2>/dev/null; then
                tail -n 20 "$logfile" >&2 || true
                die "$name exited during start-up (did another program take its port?)"
            fi
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$logfile" >&2 || true
            die "$name exited during start-up"
        fi
        sleep 0.1
    done
    tail -n 20 "$logfile" >&2 || true
    die "$name did not answer $url within 60 s"
}

start_ours() {
    local dir=$work/ours
    mkdir -p "$dir/data"
    ours_host=127.0.0.1:$(pick_port)
    local env=(FORGE_LISTEN="$ours_host" FORGE_DATA_DIR="$dir/data" RUST_LOG=warn FORGE_WORKERS=2)
    env "${env[@]}" "$forge_server" serve >"$dir/server.log" 2>&1 &
    ours_pid=$!
    wait_http "http://$ours_host/api/healthz" "$ours_pid" forge-server "$dir/server.log"
    env "${env[@]}" "$forge_server" admin user create --username "$OWNER" \
        --password bench-password-1 --email bench@example.com >/dev/null
    token=$(env "${env[@]}" "$forge_server" admin user generate-access-token --username "$OWNER" \
        --token-name bench --scopes write:package | tail -n 1)
    [ -n "$token" ] || die "forge-server: no token"
    result[ours.rss_base]=$(mib_of_kib "$(status_kib "$ours_pid" VmRSS)")
    index_root=/api/packages/$OWNER/cargo
    log "forge-server on $ours_host (pid $ours_pid), index sparse+http://$ours_host$index_root/"
}

start_nginx() {
    local dir=$work/nginx
    mkdir -p "$dir/temp"
    nginx_host=127.0.0.1:$(pick_port)
    local user_line=""
    # Workers must read the document root inside this run's directory, which only the
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
    etag on;
    default_type text/plain;
    client_body_temp_path $dir/temp;
    proxy_temp_path $dir/temp;
    fastcgi_temp_path $dir/temp;
    uwsgi_temp_path $dir/temp;
    scgi_temp_path $dir/temp;
    server {
        listen $nginx_host;
        root $work/www;
    }
}
EOF
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
    nginx_pid=$!
    wait_http "http://$nginx_host$index_root/config.json" "$nginx_pid" nginx "$dir/error.log"
    log "nginx $("$NGINX" -v 2>&1 | sed 's|.*/||') on $nginx_host (pid $nginx_pid)"
}

# Peak RSS of nginx's master and workers together (MiB).
nginx_hwm_mib() {
    local total=0 pid kib
    for pid in $nginx_pid $(pgrep -P "$nginx_pid" || true); do
        kib=$(status_kib "$pid" VmHWM 2>/dev/null || echo 0)
        total=$((total + ${kib:-0}))
    done
    mib_of_kib "$total"
}

# --- crates ----------------------------------------------------------------------------------

# The crates' names: every index layout first (1/, 2/, 3/c/, some in mixed case), then
# longer names under varied ab/cd/ directories.
names=()
short=(a z fb Q7 fbx k-9)
words=(alpha Bravo charlie delta echo_x Foxtrot golf hotel india Juliet kilo lima)
for i in $(seq 0 $((CRATES - 1))); do
    if [ "$i" -lt ${#short[@]} ]; then
        names+=("${short[$i]}")
    else
        names+=("${words[$((i % ${#words[@]}))]}-bench-$i")
    fi
done

# index_path NAME: the crate's index file below the index root, lowercase.
index_path() {
    local n=${1,,}
    case ${#n} in
    1) echo "1/$n" ;;
    2) echo "2/$n" ;;
    3) echo "3/${n:0:1}/$n" ;;
    *) echo "${n:0:2}/${n:2:2}/$n" ;;
    esac
}

# write_crate I VERSION: the project of crate I at VERSION in $work/crates/NAME. The first
# six have no dependencies; the others depend on a, z or fb, some also on fbx under another
# name and on k-9 as an optional `dep:` dependency (when there are that many crates).
write_crate() {
    local i=$1 version=$2 name=${names[$1]} dir=$work/crates/${names[$1]}
    mkdir -p "$dir/src"
    {
        cat <<EOF
[package]
name = "$name"
version = "$version"
edition = "2021"
rust-version = "1.70"
description = "forge-server cargo benchmark crate $i"
license = "MIT OR Apache-2.0"
keywords = ["bench", "forge"]
publish = ["forge"]

[features]
default = ["std"]
std = []
EOF
        if [ "$i" -ge ${#short[@]} ] && [ "$CRATES" -gt 5 ] && [ $((i % 5)) -eq 0 ]; then
            echo 'extra = ["dep:k-9"]'
        fi
        echo
        echo "[dependencies]"
        if [ "$i" -ge ${#short[@]} ]; then
            echo "${names[$((i % 3))]} = { version = \"1\", registry = \"forge\", default-features = false }"
            if [ $((i % 4)) -eq 0 ]; then
                echo "renamed = { package = \"fbx\", version = \"1.0\", registry = \"forge\" }"
            fi
            if [ $((i % 5)) -eq 0 ]; then
                echo "k-9 = { version = \"1\", registry = \"forge\", optional = true }"
            fi
        fi
    } >"$dir/Cargo.toml"
    cat >"$dir/src/lib.rs" <<EOF
//! Benchmark crate $i ($name $version), published by scripts/bench-cargo.sh.

/// The crate's name and version.
pub fn id() -> &'static str {
    "$name $version"
}

#[cfg(test)]
mod tests {
    #[test]
    fn id() {
        assert!(super::id().ends_with("$version"));
    }
}
EOF
}

# cargo ARGS… in the current directory, in a scratch environment: the run's CARGO_HOME and
# target directory, the token, nothing of the caller's CARGO_*/RUSTC* settings.
run_cargo() {
    local env=(PATH="$PATH" HOME="$work/home" CARGO_HOME="$work/cargo-home"
        CARGO_TARGET_DIR="$work/target" CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never
        CARGO_NET_OFFLINE=false CARGO_REGISTRIES_FORGE_TOKEN="$token")
    [ -z "$rustc_bin" ] || env+=(RUSTC="$rustc_bin")
    env -i "${env[@]}" "$cargo_bin" "$@"
}

publish_all() {
    mkdir -p "$work/home" "$work/cargo-home"
    cat >"$work/cargo-home/config.toml" <<EOF
[registries.forge]
index = "sparse+http://$ours_host$index_root/"

[registry]
global-credential-providers = ["cargo:token"]

[net]
retry = 0
EOF
    local round i version t0 t1 failed=0
    : >"$work/publish-times"
    log "publishing $CRATES crates $VERSIONS times each with $("$cargo_bin" --version)"
    for round in $(seq 0 $((VERSIONS - 1))); do
        version=1.$round.0
        for i in "${!names[@]}"; do
            write_crate "$i" "$version"
            t0=$(now)
            if (cd "$work/crates/${names[$i]}" &&
                run_cargo publish --registry forge --no-verify >"$work/publish.log" 2>&1); then
                t1=$(now)
                elapsed "$t0" "$t1" >>"$work/publish-times"
                echo >>"$work/publish-times"
            else
                failed=$((failed + 1))
                log "cargo publish of ${names[$i]} $version failed: $(tail -c 600 "$work/publish.log")"
                [ "$failed" -lt 5 ] || die "5 publishes failed"
            fi
            if grep -qE 'crates\.io index|index\.crates\.io|static\.crates\.io' "$work/publish.log"; then
                die "cargo publish of ${names[$i]} went to crates.io: $(tail -c 600 "$work/publish.log")"
            fi
        done
        log "round $((round + 1)) of $VERSIONS published"
    done
    [ "$failed" -eq 0 ] || note "$failed of $((CRATES * VERSIONS)) publishes failed"
    local stats
    stats=$(grep . "$work/publish-times" | sort -g | awk '
        { v[NR] = $1; sum += $1 }
        END {
            if (NR == 0) exit 1
            med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            p90 = v[int(NR * 0.9 + 0.999)]
            printf "%.3f %.3f %.3f %.3f %.1f %d", med, v[1], p90, v[NR], sum, NR
        }') || {
        note "no publish succeeded"
        return 0
    }
    read -r result[publish] result[publish.min] result[publish.p90] result[publish.max] \
        result[publish.total] result[publish.count] <<<"$stats"
    log "cargo publish: median ${result[publish]} s, min ${result[publish.min]}, p90 ${result[publish.p90]}, max ${result[publish.max]}, ${result[publish.total]} s for ${result[publish.count]}"
}

# Every crate's index file from our server into the document root, and each server's list of
# paths with its own ETag (for the wrk runs); checks that both serve the same bytes, and 304
# for their own ETag.
mirror() {
    local www=$work/www$index_root name path headers etag
    mkdir -p "$www"
    curl -fsS -o "$www/config.json" "http://$ours_host$index_root/config.json" ||
        die "GET config.json from our server failed"
    grep -q '"auth-required":false' "$www/config.json" ||
        note "config.json of a public owner: $(cat "$www/config.json")"
    : >"$work/list.ours"
    for name in "${names[@]}"; do
        path=$(index_path "$name")
        mkdir -p "$(dirname "$www/$path")"
        headers=$(curl -fsS -D - -o "$www/$path" "http://$ours_host$index_root/$path") ||
            die "GET $index_root/$path from our server failed (anonymous)"
        etag=$(tr -d '\r' <<<"$headers" | awk 'tolower($1) == "etag:" { print $2 }')
        [ -n "$etag" ] || die "our server sent no ETag for $index_root/$path"
        printf '%s\t%s\n' "$index_root/$path" "$etag" >>"$work/list.ours"
    done
    result[files]=${#names[@]}
    result[lines]=$(find "$www" -type f ! -name config.json -exec cat {} + | wc -l)
    result[file_bytes]=$(find "$www" -type f ! -name config.json -printf '%s\n' |
        awk '{ s += $1 } END { printf "%.0f", NR ? s / NR : 0 }')
    log "${result[files]} index files, ${result[lines]} lines, ${result[file_bytes]} bytes on average"
}

# check HOST LIST NAME: each path answers 200 with the mirrored bytes, and 304 to its ETag.
check() {
    local host=$1 list=$2 target=$3 path etag code bad=0
    while IFS=$'\t' read -r path etag; do
        code=$(curl -s -o "$work/check.body" -w '%{http_code}' -H 'cargo-protocol: version=1' \
            "http://$host$path")
        if [ "$code" != 200 ] || ! cmp -s "$work/check.body" "$work/www$path"; then
            bad=$((bad + 1))
            [ "$bad" -gt 3 ] || note "$target: GET $path answered $code or other bytes than the mirror"
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "http://$host$path")
        if [ "$code" != 304 ]; then
            bad=$((bad + 1))
            [ "$bad" -gt 3 ] || note "$target: GET $path with If-None-Match: $etag answered $code, not 304"
        fi
    done <"$list"
    [ "$bad" -eq 0 ] || note "$target: $bad of the checks before the wrk runs failed"
}

# The same paths with nginx's own ETags.
nginx_list() {
    local path etag
    : >"$work/list.nginx"
    while IFS=$'\t' read -r path etag; do
        etag=$(curl -fsS -D - -o /dev/null "http://$nginx_host$path" | tr -d '\r' |
            awk 'tolower($1) == "etag:" { print $2 }')
        [ -n "$etag" ] || die "nginx sent no ETag for $path"
        printf '%s\t%s\n' "$path" "$etag" >>"$work/list.nginx"
    done <"$work/list.ours"
}

requests() {
    local target=$1 host=$2 list=$3 mode
    for mode in full revalidate; do
        wrk -t2 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$repo/bench/lua/cargo_index.lua" \
            "http://$host" -- "$list" "$mode" >/dev/null 2>&1 || true
        log "$target: wrk index GETs ($mode), $CONNECTIONS connections, ${DURATION} s"
        run_wrk "$target.$mode" "$host" "$list" "$mode"
    done
}

# --- main ------------------------------------------------------------------------------------

start_ours
check_quiet "the publishes"
publish_all
[ -n "${result[publish]:-}" ] || die "nothing was published"
mirror
start_nginx
nginx_list
check "$ours_host" "$work/list.ours" ours
check "$nginx_host" "$work/list.nginx" nginx
check_quiet "the request runs"
# nginx first, then ours, each with the other idle.
requests nginx "$nginx_host" "$work/list.nginx"
requests ours "$ours_host" "$work/list.ours"
if kill -0 "$ours_pid" 2>/dev/null; then
    result[ours.rss]=$(mib_of_kib "$(status_kib "$ours_pid" VmHWM)")
    result[ours.rss_end]=$(mib_of_kib "$(status_kib "$ours_pid" VmRSS)")
    log "ours: RSS ${result[ours.rss_end]} MiB now, peak ${result[ours.rss]} MiB"
else
    code=0
    wait "$ours_pid" 2>/dev/null || code=$?
    note "forge-server exited during the run (exit status $code): $(tail -c 300 "$work/ours/server.log")"
fi
result[nginx.rss]=$(nginx_hwm_mib)

# --- report ----------------------------------------------------------------------------------

cell() { printf '%s' "${result[$1]:-–}"; }
# ours ÷ nginx
ratio() {
    local ref=${result[nginx.$1]:-} ours=${result[ours.$1]:-}
    if [ -n "$ref" ] && [ -n "$ours" ]; then
        awk -v a="$ours" -v b="$ref" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "–" }'
    else
        printf '–'
    fi
}
row() { printf '| %s | %s | %s | %s |\n' "$1" "$(cell "nginx.$2")" "$(cell "ours.$2")" "$(ratio "$2")"; }

echo
echo "## Cargo sparse index: forge-server against nginx serving the same files"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $("$cargo_bin" --version | awk '{ print $1, $2 }'), $("$NGINX" -v 2>&1 | sed 's|.*/|nginx |'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown). Ours: SQLite, FORGE_WORKERS=2; nginx: 2 workers, \`etag on\`, sendfile. ${result[publish.count]} publishes (${CRATES} crates × ${VERSIONS} versions), then ${result[files]} index files (${result[lines]} lines, ${result[file_bytes]} bytes on average) fetched in rotation by wrk -t2, $CONNECTIONS connections, ${DURATION} s after ${WARMUP} s of warm-up, anonymous. Ratio = ours ÷ nginx."
echo
echo "| Measure | nginx | forge-server | Ratio (ours ÷ nginx) |"
echo "|---|---:|---:|---:|"
row "index file GET, full fetch (200), $CONNECTIONS connections (requests/s)" full
row "… p50 latency (ms)" full.p50
row "… p99 latency (ms)" full.p99
row "index file GET, revalidation (\`If-None-Match\` → 304), $CONNECTIONS connections (requests/s)" revalidate
row "… p50 latency (ms)" revalidate.p50
row "… p99 latency (ms)" revalidate.p99
printf '| `cargo publish --no-verify`, median of %s (s) | – | %s | – |\n' "$(cell publish.count)" "$(cell publish)"
printf '| … min / p90 / max (s) | – | %s / %s / %s | – |\n' "$(cell publish.min)" "$(cell publish.p90)" "$(cell publish.max)"
echo "| RSS after start-up (MiB) | – | $(cell ours.rss_base) | – |"
row "peak RSS over the run, VmHWM (MiB; nginx: master and workers)" rss
echo
echo "- bytes read per response (status line, headers, body): full $(cell nginx.full.bytes) (nginx) and $(cell ours.full.bytes) (ours); revalidation $(cell nginx.revalidate.bytes) and $(cell ours.revalidate.bytes)."
echo "- the publishes took ${result[publish.total]:-–} s in all; each one's wall time includes cargo's packaging, its resolution against the index, the upload and its wait until the index lists the version."
if [ ${#notes[@]} -gt 0 ]; then
    for n in "${notes[@]}"; do
        echo "- $n"
    done
fi
