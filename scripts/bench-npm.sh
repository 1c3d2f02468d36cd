#!/usr/bin/env bash
# npm registry benchmark: our server against verdaccio on the same machine, in the same run,
# driven by the same clients.
#
#   scripts/bench-npm.sh [FORGE_SERVER]
#
# FORGE_SERVER is the path of a release forge-server binary (built beforehand, e.g. with
# `cargo build --release -p forge-server`; this script builds nothing). Without it only the
# verdaccio half runs. verdaccio (VERDACCIO_VERSION, pinned) is installed with npm into
# target/bench-npm/ the first time and taken from there afterwards. Both servers start on
# loopback with fresh data directories and run for the whole benchmark: verdaccio with its
# htpasswd auth (one user, created through the npm login endpoint, JWT API tokens), no
# uplinks, publish for authenticated users; ours on SQLite with a `write:package` token of
# its own user. Each is measured on:
#   - publish: PACKAGES small unscoped packages (a package.json and an index.js each), the
#     publish documents generated once (bench/npm_bench.py) and the same bytes PUT to both,
#     PUBLISH_CONCURRENCY at a time on keep-alive connections, Bearer token (s, all of them;
#     after 8 packages of other names published untimed)
#   - install: a cold `npm install` (fresh --cache and node_modules, no lockfile,
#     --prefer-online --no-audit --no-fund) of a project depending on INSTALL_DEPS of them,
#     with the token in .npmrc, INSTALL_RUNS times, alternating between the servers (which
#     goes first changes each run); the median (s), and the ratio of each pair
#   - packument GETs of one package per second over CONNECTIONS keep-alive connections with
#     wrk (bench/lua/oci.lua), anonymous, once with the Accept header `npm install` sends
#     (abbreviated form) and once with `Accept: application/json` (full form); p50 and p99;
#     and the same for its tarball (no target: it says where an install's time goes)
#   - RSS of each server process after start-up, and its peak over the whole run (VmHWM)
# and a markdown table of both, with ratios and the target (≥ 1 × verdaccio), is printed.
#
# Environment:
#   PACKAGES             packages published (200)
#   INSTALL_DEPS         dependencies of the installed project (100)
#   INSTALL_RUNS         cold installs per server, alternating; the median is reported (7)
#   PUBLISH_CONCURRENCY  publish requests in flight at once (8)
#   CONNECTIONS          wrk connections (64)
#   DURATION             seconds per wrk run (10)
#   WARMUP               seconds of untimed wrk load of each form before the runs (2)
#   VERDACCIO_VERSION    the verdaccio installed and run (6.8.0)
#   VERDACCIO_DIR        where it is installed (target/bench-npm/verdaccio-VERSION)
#   TMPDIR               where the packages, the servers' data and the installs go
# Needs node and npm, wrk, curl and python3 (apt-get install -y nodejs npm wrk curl), and the
# npm registry for the first install of verdaccio. Everything it starts or creates goes again
# on exit, except the verdaccio installation.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

PACKAGES=${PACKAGES:-200}
INSTALL_DEPS=${INSTALL_DEPS:-100}
INSTALL_RUNS=${INSTALL_RUNS:-7}
PUBLISH_CONCURRENCY=${PUBLISH_CONCURRENCY:-8}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
VERDACCIO_VERSION=${VERDACCIO_VERSION:-6.8.0}
VERDACCIO_DIR=${VERDACCIO_DIR:-$repo/target/bench-npm/verdaccio-$VERDACCIO_VERSION}
forge_server=${1:-}
# What `npm install` sends (npm 7 and later): the abbreviated packument, else the full one.
ACCEPT_INSTALL="application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
ACCEPT_FULL="application/json"

# pick_port
. "$repo/scripts/lib.sh"

log() { printf '[bench-npm %4ds] %s\n' "$SECONDS" "$*" >&2; }
die() {
    printf 'bench-npm.sh: error: %s\n' "$*" >&2
    exit 1
}

work=""
verdaccio_pid=""
ours_pid=""

# Stops what this run started, by pid, and removes its files.
cleanup() {
    local rc=$?
    set +e
    local pid
    for pid in $verdaccio_pid $ours_pid; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    [ -n "$work" ] && rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

missing=()
for tool in node npm wrk curl python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]} (apt-get install -y ${missing[*]/#node/nodejs})"
if [ -n "$forge_server" ]; then
    [ -x "$forge_server" ] || die "$forge_server is not an executable forge-server"
fi
[ "$INSTALL_DEPS" -le "$PACKAGES" ] || die "INSTALL_DEPS ($INSTALL_DEPS) is more than PACKAGES ($PACKAGES)"

# --- verdaccio, installed once ---------------------------------------------------------------

verdaccio_js=$VERDACCIO_DIR/node_modules/verdaccio/bin/verdaccio
installed_version() {
    node -p "require(process.argv[1]).version" \
        "$VERDACCIO_DIR/node_modules/verdaccio/package.json" 2>/dev/null || true
}
if [ "$(installed_version)" != "$VERDACCIO_VERSION" ]; then
    log "installing verdaccio@$VERDACCIO_VERSION into $VERDACCIO_DIR"
    rm -rf "$VERDACCIO_DIR"
    mkdir -p "$VERDACCIO_DIR"
    npm install --prefix "$VERDACCIO_DIR" --no-audit --no-fund --no-update-notifier \
        --save-exact --loglevel=error "verdaccio@$VERDACCIO_VERSION" >&2 ||
        die "npm install verdaccio@$VERDACCIO_VERSION failed"
    [ "$(installed_version)" = "$VERDACCIO_VERSION" ] || die "verdaccio $VERDACCIO_VERSION did not install"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/forge-bench-npm.XXXXXX")

# --- results ---------------------------------------------------------------------------------

declare -A result=()
declare -a notes=()
note() {
    notes+=("$*")
    log "note: $*"
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
mib_of_kib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

# Notes processes other than this run's that use more than a fifth of a core over one second,
# since they take cores from the servers and the clients (as scripts/bench.sh does).
check_quiet() {
    local what=$1 busy
    command -v top >/dev/null || return 0
    busy=$(top -b -n 2 -d 1 -w 200 | awk '
        /^top -/ { n++ }
        n == 2 && $1 ~ /^[0-9]+$/ && $9 + 0 > 20 &&
            $12 !~ /^(forge-server|node|npm.*|wrk|curl|python3|top|bench-npm\.sh|kworker.*)$/ {
            printf "%s%s (%s%%)", sep, $12, $9; sep = ", "
        }')
    [ -z "$busy" ] || note "before $what, other processes were busy: $busy"
}

# run_wrk KEY PATH ACCEPT: requests per second into result[KEY], p50 and p99 in ms.
run_wrk() {
    local key=$1 path=$2 accept=$3 out line
    if ! out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$repo/bench/lua/oci.lua" \
        "http://$host" -- GET "$path" "" "$accept" 2>&1); then
        printf '%s\n' "$out" >&2
        note "$key: wrk failed"
        return 0
    fi
    line=$(grep '^BENCH ' <<<"$out" | tail -n 1) || {
        note "$key: wrk printed no summary"
        return 0
    }
    local requests=0 duration_us=1 p50_us=0 p99_us=0 status=0 connect=0 read=0 write=0 timeout=0 kv
    for kv in ${line#BENCH }; do
        case $kv in
        requests=*) requests=${kv#*=} ;;
        duration_us=*) duration_us=${kv#*=} ;;
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
    local errors=$((status + connect + read + write))
    log "$key: ${result[$key]} requests/s, p50 ${result[$key.p50]} ms, p99 ${result[$key.p99]} ms, $errors of $requests failed"
    if [ "$errors" -gt 0 ]; then
        note "$key: $errors of $requests requests failed (HTTP status $status, connect $connect, read $read, write $write): the rate is not comparable"
    fi
    [ "$timeout" -eq 0 ] || note "$key: wrk saw requests unanswered after 2 s $timeout times"
}

# --- servers ---------------------------------------------------------------------------------

# wait_http URL PID: waits until URL answers 2xx; returns 1 if PID exits first (a
# port picked as free can be taken by another program before the server binds it: the
# caller then tries another). The process must still run a moment after the answer, since
# the program on a taken port may answer the URL too.
wait_http() {
    local url=$1 pid=$2 i
    for i in $(seq 1 600); do
        if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
            sleep 0.2
            kill -0 "$pid" 2>/dev/null || return 1
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    die "nothing answered $url within 60 s"
}

# Sets, for each target, host.T, registry.T (the URL npm is configured with, ending in /),
# path.T (the registry's path), token.T and pid.T.
declare -A srv=()

# failed_start NAME PID LOG ATTEMPT: after a server exited during start-up.
failed_start() {
    wait "$2" 2>/dev/null || true
    log "$1 exited during start-up (attempt $4 of 5): $(tail -c 300 "$3")"
    [ "$4" -lt 5 ] || die "$1 did not start"
}

start_verdaccio() {
    local dir=$work/verdaccio port host attempt
    mkdir -p "$dir/storage"
    # JWT API tokens: a request is authenticated by the token's signature. Without
    # `security.api.jwt` verdaccio 6 issues its legacy AES tokens and checks the password
    # against htpasswd (bcrypt) on every authenticated request.
    cat >"$dir/config.yaml" <<EOF
storage: $dir/storage
auth:
  htpasswd:
    file: $dir/htpasswd
    max_users: 10
uplinks: {}
packages:
  '@*/*':
    access: \$all
    publish: \$authenticated
    unpublish: \$authenticated
  '**':
    access: \$all
    publish: \$authenticated
    unpublish: \$authenticated
security:
  api:
    jwt:
      sign:
        expiresIn: 7d
web:
  enable: false
server:
  keepAliveTimeout: 60
max_body_size: 100mb
log: { type: stdout, format: json, level: error }
EOF
    for attempt in 1 2 3 4 5; do
        port=$(pick_port)
        host=127.0.0.1:$port
        node "$verdaccio_js" --config "$dir/config.yaml" --listen "$host" >"$dir/server.log" 2>&1 &
        verdaccio_pid=$!
        wait_http "http://$host/-/ping" "$verdaccio_pid" && break
        failed_start verdaccio "$verdaccio_pid" "$dir/server.log" "$attempt"
        verdaccio_pid=""
    done
    # The user, through the endpoint `npm adduser` uses; the answer carries its token.
    local answer token
    answer=$(curl -fsS -X PUT -H 'Content-Type: application/json' \
        --data '{"_id":"org.couchdb.user:bench","name":"bench","password":"bench-password-1","email":"bench@example.com","type":"user","roles":[]}' \
        "http://$host/-/user/org.couchdb.user:bench") || die "verdaccio: creating the user failed"
    token=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])' <<<"$answer") ||
        die "verdaccio: no token in $answer"
    srv[verdaccio.host]=$host
    srv[verdaccio.registry]=http://$host/
    srv[verdaccio.path]=/
    srv[verdaccio.token]=$token
    srv[verdaccio.pid]=$verdaccio_pid
    result[verdaccio.rss_base]=$(mib_of_kib "$(status_kib "$verdaccio_pid" VmRSS)")
    log "verdaccio $VERDACCIO_VERSION on $host (pid $verdaccio_pid)"
}

start_ours() {
    local dir=$work/ours port host attempt env
    for attempt in 1 2 3 4 5; do
        rm -rf "$dir"
        mkdir -p "$dir/data"
        port=$(pick_port)
        host=127.0.0.1:$port
        env=(FORGE_LISTEN="$host" FORGE_DATA_DIR="$dir/data" RUST_LOG=warn)
        env "${env[@]}" "$forge_server" serve >"$dir/server.log" 2>&1 &
        ours_pid=$!
        wait_http "http://$host/api/healthz" "$ours_pid" && break
        failed_start forge-server "$ours_pid" "$dir/server.log" "$attempt"
        ours_pid=""
    done
    env "${env[@]}" "$forge_server" admin user create --username bench \
        --password bench-password-1 --email bench@example.com >/dev/null
    local token
    token=$(env "${env[@]}" "$forge_server" admin user generate-access-token --username bench \
        --token-name bench --scopes write:package | tail -n 1)
    [ -n "$token" ] || die "forge-server: no token"
    srv[ours.host]=$host
    srv[ours.registry]=http://$host/api/packages/bench/npm/
    srv[ours.path]=/api/packages/bench/npm/
    srv[ours.token]=$token
    srv[ours.pid]=$ours_pid
    result[ours.rss_base]=$(mib_of_kib "$(status_kib "$ours_pid" VmRSS)")
    log "forge-server on $host (pid $ours_pid)"
}

# --- scenarios -------------------------------------------------------------------------------

publish() {
    local target=$1 out rc=0
    # A few packages of other names first, untimed: the first requests of a fresh process
    # (verdaccio's JavaScript not yet compiled, our connection pool) are not what is compared.
    python3 "$repo/bench/npm_bench.py" publish "${srv[$target.registry]}" "${srv[$target.token]}" \
        "$work/warm" "$PUBLISH_CONCURRENCY" >/dev/null 2>"$work/warm-$target.err" ||
        note "$target: the warm-up publish failed: $(head -c 300 "$work/warm-$target.err")"
    log "$target: publish of $PACKAGES packages, $PUBLISH_CONCURRENCY at a time"
    out=$(python3 "$repo/bench/npm_bench.py" publish "${srv[$target.registry]}" \
        "${srv[$target.token]}" "$work/gen" "$PUBLISH_CONCURRENCY" 2>"$work/publish-$target.err") || rc=$?
    local line
    line=$(grep '^seconds=' <<<"$out" || true)
    log "$target: $line"
    if [ "$rc" -ne 0 ]; then
        note "$target: publish failed ($line): $(head -c 400 "$work/publish-$target.err")"
        return 0
    fi
    result[$target.publish]=$(sed -n 's/^seconds=\([0-9.]*\) .*/\1/p' <<<"$line" |
        awk '{ printf "%.2f", $1 }')
    # The packument names the tarball under the server's registry and the tarball is there.
    local url=${srv[$target.registry]}${first_pkg} tarball code
    tarball=$(curl -fsS "$url" | python3 -c '
import json, sys
print(json.load(sys.stdin)["versions"]["1.0.0"]["dist"]["tarball"])') || {
        note "$target: the packument of $first_pkg after the publish is not readable"
        return 0
    }
    case $tarball in
    "${srv[$target.registry]}"*) ;;
    *) note "$target: dist.tarball $tarball is not under ${srv[$target.registry]}" ;;
    esac
    srv[$target.tarball_path]=/${tarball#http://*/}
    code=$(curl -s -o /dev/null -w '%{http_code}' "$tarball")
    [ "$code" = 200 ] || note "$target: GET $tarball answered $code"
}

# install_once TARGET RUN: one cold install into a fresh project, HOME and cache; its time is
# appended to times.TARGET.
declare -A times=()
install_once() {
    local target=$1 run=$2 t0 t1 dir=$work/install-$1-$2
    mkdir -p "$dir/project" "$dir/home"
    cp "$work/project/package.json" "$dir/project/"
    {
        echo "registry=${srv[$target.registry]}"
        echo "${srv[$target.registry]#http:}:_authToken=${srv[$target.token]}"
    } >"$dir/project/.npmrc"
    : >"$dir/home/.npmrc"
    log "$target: cold npm install of $INSTALL_DEPS packages (run $run of $INSTALL_RUNS)"
    t0=$(now)
    if (cd "$dir/project" && env -i PATH="$PATH" HOME="$dir/home" \
        npm install --cache "$dir/cache" --no-audit --no-fund --prefer-online \
        --ignore-scripts --no-update-notifier --no-progress --loglevel=error \
        >"$dir/npm.log" 2>&1); then
        t1=$(now)
        local got count
        count=$(find "$dir/project/node_modules" -mindepth 1 -maxdepth 1 -name 'forge-bench-pkg-*' | wc -l)
        got=$(cd "$dir/project" && node -e "process.stdout.write(require('$first_pkg'))" 2>&1) || true
        if [ "$count" -ne "$INSTALL_DEPS" ] || [ "$got" != "$first_pkg" ]; then
            note "$target: install run $run left $count of $INSTALL_DEPS packages; require('$first_pkg') gave '$got'"
            result[$target.install_failed]=1
        fi
        times[$target]="${times[$target]:-}$(elapsed "$t0" "$t1") "
        log "$target: install took $(elapsed "$t0" "$t1") s"
    else
        note "$target: npm install (run $run) failed: $(tail -c 400 "$dir/npm.log")"
        result[$target.install_failed]=1
    fi
    rm -rf "$dir"
}

# The median of each target's install times into result[TARGET.install].
install_summary() {
    local target=$1
    [ -z "${result[$target.install_failed]:-}" ] && [ -n "${times[$target]:-}" ] || return 0
    result[$target.install]=$(tr ' ' '\n' <<<"${times[$target]}" | grep . | sort -g |
        awk '{ v[NR] = $1 } END { printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    result[$target.install_all]=$(sed 's/ $//; s/ /, /g' <<<"${times[$target]}")
}

requests() {
    local target=$1 path=${srv[$1.path]}$first_pkg out
    host=${srv[$target.host]}
    # What each form is, for the record: status, Content-Type, size.
    out=$(curl -s -o /dev/null -w '%{http_code} %{content_type} %{size_download}' \
        -H "Accept: $ACCEPT_INSTALL" "http://$host$path")
    result[$target.abbrev_info]=$out
    log "$target: abbreviated packument: $out"
    [ "${out%% *}" = 200 ] || note "$target: the abbreviated packument GET answered ${out%% *}"
    out=$(curl -s -o /dev/null -w '%{http_code} %{content_type} %{size_download}' \
        -H "Accept: $ACCEPT_FULL" "http://$host$path")
    result[$target.full_info]=$out
    log "$target: full packument: $out"
    [ "${out%% *}" = 200 ] || note "$target: the full packument GET answered ${out%% *}"
    # Untimed first: verdaccio's JavaScript is compiled as it runs, and the first seconds
    # of load are slower than the rest.
    log "$target: wrk warm-up, ${WARMUP} s of each form"
    wrk -t2 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$repo/bench/lua/oci.lua" "http://$host" -- \
        GET "$path" "" "$ACCEPT_INSTALL" >/dev/null 2>&1 || true
    wrk -t2 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$repo/bench/lua/oci.lua" "http://$host" -- \
        GET "$path" "" "$ACCEPT_FULL" >/dev/null 2>&1 || true
    log "$target: wrk packument GET (abbreviated), $CONNECTIONS connections, ${DURATION} s"
    run_wrk "$target.get_abbrev" "$path" "$ACCEPT_INSTALL"
    log "$target: wrk packument GET (full), $CONNECTIONS connections, ${DURATION} s"
    run_wrk "$target.get_full" "$path" "$ACCEPT_FULL"
    if [ -n "${srv[$target.tarball_path]:-}" ]; then
        wrk -t2 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$repo/bench/lua/oci.lua" "http://$host" -- \
            GET "${srv[$target.tarball_path]}" "" "" >/dev/null 2>&1 || true
        log "$target: wrk tarball GET, $CONNECTIONS connections, ${DURATION} s"
        run_wrk "$target.get_tarball" "${srv[$target.tarball_path]}" ""
    fi
}

rss() {
    local target=$1 pid=${srv[$1.pid]}
    kill -0 "$pid" 2>/dev/null || return 0
    result[$target.rss]=$(mib_of_kib "$(status_kib "$pid" VmHWM)")
    log "$target: RSS $(mib_of_kib "$(status_kib "$pid" VmRSS)") MiB now, peak ${result[$target.rss]} MiB"
}

# --- main ------------------------------------------------------------------------------------

log "generating $PACKAGES publish documents"
python3 "$repo/bench/npm_bench.py" generate "$work/gen" "$PACKAGES" >"$work/gen.txt"
gen_bytes=$(sed -n 's/.*bytes=//p' "$work/gen.txt")
python3 "$repo/bench/npm_bench.py" generate "$work/warm" 8 forge-bench-warm- >/dev/null
first_pkg=$(head -n 1 "$work/gen/names.txt")
mkdir -p "$work/project"
head -n "$INSTALL_DEPS" "$work/gen/names.txt" | python3 -c '
import json, sys
deps = {name.strip(): "^1.0.0" for name in sys.stdin if name.strip()}
print(json.dumps({"name": "forge-bench-consumer", "version": "1.0.0", "private": True,
                  "dependencies": deps}, indent=2))' >"$work/project/package.json"

targets=(verdaccio)
start_verdaccio
if [ -n "$forge_server" ]; then
    targets+=(ours)
    start_ours
else
    note "no forge-server binary given: only verdaccio was measured"
fi
check_quiet "the publishes and installs"
published=()
for target in "${targets[@]}"; do
    publish "$target"
    [ -z "${result[$target.publish]:-}" ] || published+=("$target")
done
# The installs alternate between the servers, which of them goes first changing from run to
# run, so that a change in what else the machine does falls on both alike: npm itself takes
# most of each install's time, and successive installs on this machine get slower (by
# 5-10 % a run, with either server, whose own CPU time per install stays the same).
order=("${published[@]}")
for run in $(seq 1 "$INSTALL_RUNS"); do
    for target in "${order[@]}"; do
        install_once "$target" "$run"
    done
    [ ${#order[@]} -lt 2 ] || order=("${order[1]}" "${order[0]}")
done
for target in "${published[@]}"; do
    install_summary "$target"
done
# Each run's pair (the two installs back to back) as ours ÷ verdaccio: a change in the
# machine's load between the pairs drops out.
if [ -n "${result[verdaccio.install]:-}" ] && [ -n "${result[ours.install]:-}" ]; then
    result[install_pairs]=$(paste -d' ' <(tr ' ' '\n' <<<"${times[verdaccio]}" | grep .) \
        <(tr ' ' '\n' <<<"${times[ours]}" | grep .) |
        awk '$1 > 0 { r[++n] = $2 / $1 } END {
            for (i = 2; i <= n; i++) {
                v = r[i]
                for (j = i - 1; j >= 1 && r[j] > v; j--) r[j + 1] = r[j]
                r[j + 1] = v
            }
            for (i = 1; i <= n; i++) printf "%s%.2f", (i > 1 ? ", " : ""), r[i]
            m = n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
            printf "; median %.2f", m }') || result[install_pairs]=""
fi
check_quiet "the request runs"
for target in "${published[@]}"; do
    requests "$target"
done
for target in "${targets[@]}"; do
    rss "$target"
done
for target in "${targets[@]}"; do
    if ! kill -0 "${srv[$target.pid]}" 2>/dev/null; then
        code=0
        wait "${srv[$target.pid]}" 2>/dev/null || code=$?
        note "$target exited during the run (exit status $code): $(tail -c 300 "$work/$target/server.log")"
    fi
done

# --- report ----------------------------------------------------------------------------------

cell() { printf '%s' "${result[$1]:-–}"; }
# ours ÷ verdaccio
ratio() {
    local ref=${result[verdaccio.$1]:-} ours=${result[ours.$1]:-}
    if [ -n "$ref" ] && [ -n "$ours" ]; then
        awk -v a="$ours" -v b="$ref" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "–" }'
    else
        printf '–'
    fi
}
# How many times verdaccio's performance ours gives (≥ 1 meets the target): verdaccio ÷ ours
# for a time, ours ÷ verdaccio for a rate or an "info" rate (one without a target).
versus() {
    local key=$1 kind=$2 ref=${result[verdaccio.$1]:-} ours=${result[ours.$1]:-}
    if [ -z "$ref" ] || [ -z "$ours" ]; then
        printf '–'
        return 0
    fi
    awk -v a="$ours" -v b="$ref" -v k="$kind" 'BEGIN {
        x = (k == "time") ? (a > 0 ? b / a : 0) : (b > 0 ? a / b : 0)
        verdict = (k == "info") ? "no target" : (x >= 1 ? "met" : "not met")
        printf "%.2f× (%s)", x, verdict }'
}
row() { printf '| %s | %s | %s | %s | %s |\n' "$1" "$(cell "verdaccio.$2")" "$(cell "ours.$2")" "$(ratio "$2")" "${3:-–}"; }

echo
echo "## npm registry: forge-server against verdaccio $VERDACCIO_VERSION"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, node $(node --version), npm $(npm --version), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown). Both servers on loopback for the whole run (verdaccio: htpasswd user, JWT API tokens, no uplinks; ours: SQLite, a \`write:package\` token). Publish: the same $PACKAGES generated documents ($((gen_bytes / 1024)) KiB in all) PUT to both by bench/npm_bench.py, $PUBLISH_CONCURRENCY at a time on keep-alive connections (not \`npm publish\`). Install: cold \`npm install\` of $INSTALL_DEPS of them with the token in \`.npmrc\`, fresh cache, no lockfile, median of $INSTALL_RUNS runs alternating between the servers. Packument and tarball GETs: wrk -t2, $CONNECTIONS connections, ${DURATION} s after ${WARMUP} s of warm-up, anonymous. Ratio = ours ÷ verdaccio (lower is better for s, ms and MiB; higher for requests/s); \"vs verdaccio\" = verdaccio ÷ ours for times and ours ÷ verdaccio for rates, so ≥ 1× meets the target."
echo
echo "| Measure | verdaccio | forge-server | Ratio (ours ÷ verdaccio) | vs verdaccio (target ≥ 1×) |"
echo "|---|---:|---:|---:|---:|"
row "publish of $PACKAGES packages, $PUBLISH_CONCURRENCY concurrent PUTs (s)" publish "$(versus publish time)"
row "cold \`npm install\` of $INSTALL_DEPS packages, median (s)" install "$(versus install time)"
row "packument GET, abbreviated (install Accept), $CONNECTIONS connections (requests/s)" get_abbrev "$(versus get_abbrev rate)"
row "… p50 latency (ms)" get_abbrev.p50
row "… p99 latency (ms)" get_abbrev.p99
row "packument GET, full (\`Accept: application/json\`), $CONNECTIONS connections (requests/s)" get_full "$(versus get_full rate)"
row "… p50 latency (ms)" get_full.p50
row "… p99 latency (ms)" get_full.p99
row "tarball GET, $CONNECTIONS connections (requests/s)" get_tarball "$(versus get_tarball info)"
row "… p99 latency (ms)" get_tarball.p99
row "RSS after start-up (MiB)" rss_base
row "peak RSS over the run, VmHWM (MiB)" rss "memory stated, no target"
echo
for target in "${targets[@]}"; do
    echo "- $target: installs took $(cell "$target.install_all") s; packument $(cell "$target.abbrev_info") (abbreviated: status, type, bytes), $(cell "$target.full_info") (full)."
done
if [ -n "${result[install_pairs]:-}" ]; then
    echo "- install, ours ÷ verdaccio run by run (each pair back to back, verdaccio first in odd runs, ours in even), sorted: ${result[install_pairs]}."
fi
if [ ${#notes[@]} -gt 0 ]; then
    for n in "${notes[@]}"; do
        echo "- $n"
    done
fi
