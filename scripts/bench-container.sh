#!/usr/bin/env bash
# Container registry benchmark: our server against Distribution's reference registry
# (`docker-registry` 2.8 from Debian) on the same machine, driven by the same clients.
#
#   scripts/bench-container.sh [FORGE_SERVER]
#
# FORGE_SERVER is the path of a release forge-server binary (built beforehand, e.g. with
# `cargo build --release -p forge-server`; this script builds nothing). Without it only the
# docker-registry half runs. Each registry starts on a loopback port with a fresh data
# directory (ours: SQLite), and is measured on:
#   - push: `skopeo copy` of a single-layer image of SIZE_MIB MiB from an oci: layout (s)
#   - pull: `skopeo copy` of it back out to an oci: directory (s)
#   - manifest HEADs, manifest GETs and blob GETs (the image's ~500-byte config) per second
#     over CONNECTIONS keep-alive connections (ours with a Bearer token from /v2/token, as
#     clients do): wrk for the GETs, ApacheBench for the HEADs (wrk 4.1 waits for the body a
#     HEAD answer announces in Content-Length and never completes a request)
#   - peak RSS of the server while PUSHES pushes of the image run at once, on a fresh
#     instance, so that every push uploads the whole layer (MiB)
# and a markdown table of both, with the ratio ours / reference, is printed at the end.
#
# Environment:
#   SIZE_MIB       size of the image's layer in MiB (1024)
#   PUSHES         concurrent pushes of the memory scenario (8; 0 skips it)
#   CONNECTIONS    wrk connections (64)
#   DURATION       seconds per wrk run (10)
#   TMPDIR         where the image, the registries' data and the pulls go (room: about
#                  (PUSHES + 4) x SIZE_MIB MiB)
# Needs skopeo, docker-registry, wrk, ab, curl and python3 (apt-get install -y skopeo
# docker-registry wrk apache2-utils curl). Everything it starts or creates goes again on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

SIZE_MIB=${SIZE_MIB:-1024}
PUSHES=${PUSHES:-8}
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10}
forge_server=${1:-}

# pick_port
. "$repo/scripts/lib.sh"

log() { printf '[bench-container %4ds] %s\n' "$SECONDS" "$*" >&2; }
die() {
    printf 'bench-container.sh: error: %s\n' "$*" >&2
    exit 1
}

work=""
server_pid=""
declare -a bg_pids=()

# Stops what this run started, by pid, and removes its files.
cleanup() {
    local rc=$?
    set +e
    local pid
    for pid in "${bg_pids[@]}" $server_pid; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    [ -n "$work" ] && rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

missing=()
for tool in skopeo docker-registry wrk ab curl python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] ||
    die "missing ${missing[*]} (apt-get install -y ${missing[*]/#ab/apache2-utils})"
if [ -n "$forge_server" ]; then
    [ -x "$forge_server" ] || die "$forge_server is not an executable forge-server"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/forge-bench-container.XXXXXX")
need_mib=$(((PUSHES + 4) * SIZE_MIB + 256))
avail_mib=$(($(df -Pk "$work" | awk 'NR == 2 { print $4 }') / 1024))
[ "$avail_mib" -ge "$need_mib" ] ||
    die "only $avail_mib MiB free in $work, $need_mib MiB needed (set TMPDIR or SIZE_MIB)"

# skopeo with a scratch HOME (no credentials or registries.conf of the machine's) and no
# signature policy file; its time limit leaves room for a slow 1 GiB transfer.
run_skopeo() {
    HOME=$work/home XDG_RUNTIME_DIR=$work/home \
        skopeo --insecure-policy --command-timeout 1800s "$@"
}
mkdir -p "$work/home"

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

# run_wrk KEY METHOD PATH AUTHORIZATION ACCEPT: requests per second into result[KEY].
run_wrk() {
    local key=$1 method=$2 path=$3 authorization=$4 accept=$5 out line
    if ! out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$repo/bench/lua/oci.lua" \
        "http://$host" -- "$method" "$path" "$authorization" "$accept" 2>&1); then
        printf '%s\n' "$out" >&2
        note "$key: wrk failed"
        return 0
    fi
    line=$(grep '^BENCH ' <<<"$out" | tail -n 1) || {
        note "$key: wrk printed no summary"
        return 0
    }
    local requests=0 duration_us=1 p99_us=0 status=0 connect=0 read=0 write=0 kv
    for kv in ${line#BENCH }; do
        case $kv in
        requests=*) requests=${kv#*=} ;;
        duration_us=*) duration_us=${kv#*=} ;;
        p99_us=*) p99_us=${kv#*=} ;;
        status=*) status=${kv#*=} ;;
        connect=*) connect=${kv#*=} ;;
        read=*) read=${kv#*=} ;;
        write=*) write=${kv#*=} ;;
        esac
    done
    result[$key]=$(awk -v n="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", n / (d / 1e6) }')
    result[$key.p99]=$(awk -v u="$p99_us" 'BEGIN { printf "%.2f", u / 1000 }')
    local errors=$((status + connect + read + write))
    log "$key: ${result[$key]} requests/s, p99 ${result[$key.p99]} ms, $errors of $requests failed"
    if [ "$errors" -gt 0 ]; then
        note "$key: $errors of $requests requests failed (HTTP status $status, connect $connect, read $read, write $write): the rate is not comparable"
    fi
}

# run_ab KEY PATH AUTHORIZATION ACCEPT: HEAD requests per second into result[KEY].
run_ab() {
    local key=$1 path=$2 authorization=$3 accept=$4 out
    local headers=(-H "Accept: $accept")
    [ -z "$authorization" ] || headers+=(-H "Authorization: $authorization")
    if ! out=$(ab -i -k -q -c "$CONNECTIONS" -t "$DURATION" -n 100000000 "${headers[@]}" \
        "http://$host$path" 2>&1); then
        printf '%s\n' "$out" >&2
        note "$key: ab failed"
        return 0
    fi
    local complete failed non2xx rps p99
    complete=$(awk '/^Complete requests:/ { print $3 }' <<<"$out")
    failed=$(awk '/^Failed requests:/ { print $3 }' <<<"$out")
    non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' <<<"$out")
    rps=$(awk '/^Requests per second:/ { printf "%.0f", $4 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    result[$key]=${rps:-0}
    result[$key.p99]=${p99:-–}
    local errors=$((${failed:-0} + ${non2xx:-0}))
    log "$key: ${result[$key]} requests/s, p99 ${result[$key.p99]} ms, $errors of ${complete:-0} failed"
    if [ "$errors" -gt 0 ]; then
        note "$key: $errors of ${complete:-0} HEADs failed or were not 2xx: the rate is not comparable"
    fi
}

# --- servers ---------------------------------------------------------------------------------

# Waits until $host answers /v2/ at all, failing early if the server exits; notes an answer
# other than 200 or 401 (a server without the registry).
wait_v2() {
    local name=$1 logfile=$2 i code
    for i in $(seq 1 300); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$host/v2/" || true)
        case $code in
        200 | 401) return 0 ;;
        000) ;;
        *)
            note "$name answered GET /v2/ with $code"
            return 0
            ;;
        esac
        if ! kill -0 "$server_pid" 2>/dev/null; then
            tail -n 20 "$logfile" >&2 || true
            die "$name exited during start-up"
        fi
        sleep 0.1
    done
    tail -n 20 "$logfile" >&2 || true
    die "$name did not answer http://$host/v2/ within 30 s"
}

# start_server TARGET INSTANCE: a fresh docker-registry or forge-server; sets host, creds,
# auth_header and server_pid.
start_server() {
    local target=$1 instance=$2 dir=$work/$1-$2 port
    mkdir -p "$dir/data"
    port=$(pick_port)
    host=127.0.0.1:$port
    creds=()
    auth_header=""
    case $target in
    reference)
        cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $host
  secret: forge-bench-container
EOF
        docker-registry serve "$dir/config.yml" >"$dir/server.log" 2>&1 &
        server_pid=$!
        wait_v2 docker-registry "$dir/server.log"
        ;;
    ours)
        local env=(FORGE_LISTEN="$host" FORGE_DATA_DIR="$dir/data" RUST_LOG=warn)
        env "${env[@]}" "$forge_server" serve >"$dir/server.log" 2>&1 &
        server_pid=$!
        wait_v2 forge-server "$dir/server.log"
        env "${env[@]}" "$forge_server" admin user create --username bench \
            --password bench-password-1 --email bench@example.com >/dev/null
        creds=(bench:bench-password-1)
        # The Bearer token clients use; Basic (also accepted on every route) if none comes.
        local token
        token=$(curl -fsS -u bench:bench-password-1 "http://$host/v2/token?service=container_registry&scope=repository:bench/big:pull" |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])' 2>/dev/null) || token=""
        if [ -n "$token" ]; then
            auth_header="Bearer $token"
        else
            note "ours: no token from /v2/token; wrk sends Basic credentials"
            auth_header="Basic $(printf 'bench:bench-password-1' | base64 -w0)"
        fi
        ;;
    esac
    log "$target ($instance) on $host"
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# The skopeo options for the current registry, for the side given (dest, src or none).
creds_opt() {
    if [ ${#creds[@]} -gt 0 ]; then
        case $1 in
        dest) echo "--dest-creds=${creds[0]}" ;;
        src) echo "--src-creds=${creds[0]}" ;;
        *) echo "--creds=${creds[0]}" ;;
        esac
    else
        case $1 in
        dest) echo "--dest-no-creds" ;;
        src) echo "--src-no-creds" ;;
        *) echo "--no-creds" ;;
        esac
    fi
}

# --- scenarios -------------------------------------------------------------------------------

transfers() {
    local target=$1 t0 t1
    log "$target: push of the $SIZE_MIB MiB image"
    t0=$(now)
    if run_skopeo copy --quiet --dest-tls-verify=false "$(creds_opt dest)" \
        "oci:$work/image:big" "docker://$host/bench/big:1" >"$work/push.log" 2>&1; then
        t1=$(now)
        result[$target.push]=$(elapsed "$t0" "$t1")
        log "$target: push took ${result[$target.push]} s"
    else
        note "$target: the push failed: $(tail -c 300 "$work/push.log")"
        return 0
    fi
    sync
    log "$target: pull of the image to an oci: directory"
    t0=$(now)
    if run_skopeo copy --quiet --src-tls-verify=false "$(creds_opt src)" \
        "docker://$host/bench/big:1" "oci:$work/pull:big" >"$work/pull.log" 2>&1; then
        t1=$(now)
        result[$target.pull]=$(elapsed "$t0" "$t1")
        log "$target: pull took ${result[$target.pull]} s"
    else
        note "$target: the pull failed: $(tail -c 300 "$work/pull.log")"
    fi
    rm -rf "$work/pull"
    sync
}

requests() {
    local target=$1 code accept="application/vnd.oci.image.manifest.v1+json"
    local auth=()
    [ -z "$auth_header" ] || auth=(-H "Authorization: $auth_header")
    code=$(curl -s -o /dev/null -w '%{http_code}' -I "${auth[@]}" -H "Accept: $accept" \
        "http://$host/v2/bench/big/manifests/1")
    [ "$code" = 200 ] || note "$target: manifest HEAD answered $code before the wrk run"
    code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "http://$host/v2/bench/big/blobs/$config_digest")
    [ "$code" = 200 ] || note "$target: config blob GET answered $code before the wrk run"
    log "$target: ab manifest HEAD, $CONNECTIONS connections, ${DURATION} s"
    run_ab "$target.head" /v2/bench/big/manifests/1 "$auth_header" "$accept"
    log "$target: wrk manifest GET, $CONNECTIONS connections, ${DURATION} s"
    run_wrk "$target.manifest_get" GET /v2/bench/big/manifests/1 "$auth_header" "$accept"
    log "$target: wrk blob GET, $CONNECTIONS connections, ${DURATION} s"
    run_wrk "$target.get" GET "/v2/bench/big/blobs/$config_digest" "$auth_header" ""
}

# PUSHES pushes of the image at once into their own repositories, sampling the server's RSS;
# the peak also comes from VmHWM, reset first where the kernel allows.
memory() {
    local target=$1 i base peak rss hwm hwm_reset=1 running pid failed=0 t0
    base=$(status_kib "$server_pid" VmRSS)
    echo 5 >"/proc/$server_pid/clear_refs" 2>/dev/null || hwm_reset=0
    local -a pids=()
    t0=$(now)
    for i in $(seq 1 "$PUSHES"); do
        run_skopeo copy --quiet --dest-tls-verify=false "$(creds_opt dest)" \
            "oci:$work/image:big" "docker://$host/bench/p$i:1" >"$work/p$i.log" 2>&1 &
        pids+=($!)
        bg_pids+=($!)
    done
    peak=$base
    running=1
    while [ "$running" -eq 1 ]; do
        running=0
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && running=1
        done
        rss=$(status_kib "$server_pid" VmRSS || echo 0)
        [ "${rss:-0}" -gt "$peak" ] && peak=$rss
        sleep 0.1
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || {
            failed=$((failed + 1))
            log "$target: push $((i + 1)) failed: $(tail -c 300 "$work/p$((i + 1)).log")"
        }
    done
    bg_pids=()
    hwm=$(status_kib "$server_pid" VmHWM)
    if [ "$hwm_reset" = 1 ]; then
        [ "$hwm" -gt "$peak" ] && peak=$hwm
    else
        note "$target: VmHWM could not be reset; the peak is the highest 100 ms sample"
    fi
    local base_mib peak_mib
    base_mib=$(awk -v k="$base" 'BEGIN { printf "%.0f", k / 1024 }')
    peak_mib=$(awk -v k="$peak" 'BEGIN { printf "%.0f", k / 1024 }')
    log "$target: $PUSHES pushes at once in $(elapsed "$t0" "$(now)") s, RSS $base_mib MiB before, peak $peak_mib MiB, $failed failed"
    if [ "$failed" -eq 0 ]; then
        result[$target.rss_base]=$base_mib
        result[$target.rss]=$peak_mib
    else
        note "$target: $failed of $PUSHES concurrent pushes failed; no peak RSS reported"
    fi
}

bench() {
    local target=$1
    start_server "$target" main
    transfers "$target"
    if [ -n "${result[$target.push]:-}" ]; then
        requests "$target"
    fi
    stop_server
    rm -rf "$work/$target-main"
    if [ "$PUSHES" -gt 0 ]; then
        # A fresh instance on another port: skopeo's blob cache knows no copy of the layer
        # there, so each push uploads it instead of mounting it from bench/big.
        start_server "$target" memory
        log "$target: $PUSHES concurrent pushes of $SIZE_MIB MiB, sampling RSS"
        memory "$target"
        stop_server
        rm -rf "$work/$target-memory"
    fi
}

# --- main ------------------------------------------------------------------------------------

log "writing a single-layer image of $SIZE_MIB MiB"
python3 "$repo/tests/python/oci_layout.py" "$work/image" --tag big --layers 1 \
    --layer-size $((SIZE_MIB << 20)) >"$work/image.json"
config_digest=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["manifests"][0]["config_digest"])' <"$work/image.json")
sync

targets=(reference)
if [ -n "$forge_server" ]; then
    targets+=(ours)
else
    note "no forge-server binary given: only docker-registry was measured"
fi
for target in "${targets[@]}"; do
    bench "$target"
done

# --- report ----------------------------------------------------------------------------------

cell() { printf '%s' "${result[$1]:-–}"; }
ratio() {
    local ref=${result[reference.$1]:-} ours=${result[ours.$1]:-}
    if [ -n "$ref" ] && [ -n "$ours" ]; then
        awk -v a="$ours" -v b="$ref" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "–" }'
    else
        printf '–'
    fi
}
row() { printf '| %s | %s | %s | %s |\n' "$1" "$(cell "reference.$2")" "$(cell "ours.$2")" "$(ratio "$2")"; }

ref_version=$(docker-registry --version 2>/dev/null | awk '{ print $NF }')
echo
echo "## Container registry: forge-server against docker-registry $ref_version"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, skopeo $(skopeo --version | awk '{ print $3 }'), image of one $SIZE_MIB MiB layer; wrk -t2 and ab -k, $CONNECTIONS connections, ${DURATION} s per run. Ratio: ours / reference (lower is better for seconds and MiB, higher for requests/s)."
echo
echo "| Measure | docker-registry | forge-server | Ratio |"
echo "|---|---:|---:|---:|"
row "skopeo push, $SIZE_MIB MiB (s)" push
row "skopeo pull to oci:, $SIZE_MIB MiB (s)" pull
row "manifest HEAD, $CONNECTIONS connections, ab (requests/s)" head
row "manifest HEAD p99 (ms)" head.p99
row "manifest GET, $CONNECTIONS connections, wrk (requests/s)" manifest_get
row "manifest GET p99 (ms)" manifest_get.p99
row "blob GET (config), $CONNECTIONS connections, wrk (requests/s)" get
row "blob GET p99 (ms)" get.p99
if [ "$PUSHES" -gt 0 ]; then
    row "RSS before the concurrent pushes (MiB)" rss_base
    row "peak RSS, $PUSHES concurrent pushes of $SIZE_MIB MiB (MiB)" rss
fi
if [ ${#notes[@]} -gt 0 ]; then
    echo
    for n in "${notes[@]}"; do
        echo "- $n"
    done
fi
