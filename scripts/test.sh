#!/usr/bin/env bash
# Runs the whole test suite. Unless FORGE_TEST_DATABASE_URL already points at a
# PostgreSQL server, a throwaway cluster is started on a free loopback port so the
# PostgreSQL variants of the tests run too; it is removed again on exit.
#
# Environment:
#   FORGE_TEST_DATABASE_URL      use this server instead of starting one
#   FORGE_TEST_REQUIRE_POSTGRES  1 = fail instead of skipping when no PostgreSQL exists
#   FORGE_TEST_PG_MARKER         file the end-to-end tests append one line to per
#                                PostgreSQL test that ran (set here when unset)
#   FORGE_TEST_REQUIRE_BROWSER   1 = fail instead of skipping when Chromium is missing
#   FORGE_TEST_BROWSER_MARKER    file the browser tests append one line to per run
#                                (set here when unset)
#   FORGE_TEST_PYPI_MARKER       file the real-client PyPI tests (twine, pip, uv) append one
#                                line to per scenario that ran (set here when unset)
#   FORGE_TEST_NPM_MARKER        file the real-client npm tests (npm, pnpm, yarn 1 and 4) append
#                                one line to per scenario that ran
#   FORGE_TEST_REQUIRE_NPM_CLIENTS  1 = fail instead of skipping when those clients are missing
#   FORGE_TEST_CARGO_MARKER      the same for the real-cargo tests
#   FORGE_TEST_REQUIRE_CARGO_CLIENTS  1 = fail instead of skipping when cargo is missing
#   FORGE_TEST_REQUIRE_S3        1 = fail instead of skipping when SeaweedFS (weed) is missing
#   FORGE_TEST_S3_MARKER         the same for the object storage (S3) tests
# Extra arguments are passed to `cargo test --workspace`.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
pg_root=""
pg_data=""
pg_bin=""
run_pg=()
own_marker=""
own_browser_marker=""
own_pypi_marker=""

cleanup() {
    if [ -n "$pg_data" ] && [ -f "$pg_data/postmaster.pid" ]; then
        "${run_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "$pg_root" ]; then
        rm -rf "$pg_root"
    fi
    if [ -n "$own_marker" ]; then
        rm -f "$own_marker"
    fi
    if [ -n "$own_browser_marker" ]; then
        rm -f "$own_browser_marker"
    fi
    if [ -n "$own_pypi_marker" ]; then
        rm -f "$own_pypi_marker"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# find_pg_bin and pick_port
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_postgres() {
    pg_root=$(mktemp -d "${TMPDIR:-/tmp}/forge-test-pg.XXXXXX")
    pg_data="$pg_root/data"
    if [ "$(id -u)" -eq 0 ]; then
        # initdb refuses to run as root.
        local pg_user=postgres
        if ! id "$pg_user" >/dev/null 2>&1; then
            pg_user=nobody
        fi
        chown "$pg_user" "$pg_root"
        chmod 700 "$pg_root"
        run_pg=(runuser -u "$pg_user" --)
    fi
    "${run_pg[@]}" "$pg_bin/initdb" -D "$pg_data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
        >"$pg_root/initdb.log" 2>&1 || {
        cat "$pg_root/initdb.log" >&2
        echo "error: initdb failed" >&2
        return 1
    }
    local attempt port
    for attempt in 1 2 3 4 5; do
        port=$(pick_port)
        if "${run_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_root/server.log" -w -t 60 \
            -o "-p $port -h 127.0.0.1 -k $pg_root -F -c full_page_writes=off -c synchronous_commit=off -c max_connections=300" \
            start >/dev/null; then
            export FORGE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
            echo "test.sh: PostgreSQL $("$pg_bin/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port (data in $pg_data)"
            return 0
        fi
        echo "test.sh: PostgreSQL did not start on port $port (attempt $attempt)" >&2
    done
    cat "$pg_root/server.log" >&2 || true
    echo "error: could not start PostgreSQL" >&2
    return 1
}

if [ -z "${FORGE_TEST_DATABASE_URL:-}" ]; then
    if pg_bin=$(find_pg_bin); then
        start_postgres
    elif [ "${FORGE_TEST_REQUIRE_POSTGRES:-0}" = "1" ]; then
        echo "error: FORGE_TEST_REQUIRE_POSTGRES=1 but no PostgreSQL server binaries (initdb, pg_ctl) were found" >&2
        echo "       install PostgreSQL (e.g. apt-get install postgresql) or set FORGE_TEST_DATABASE_URL" >&2
        exit 1
    else
        echo "test.sh: no PostgreSQL found; PostgreSQL tests will be skipped"
    fi
else
    echo "test.sh: using FORGE_TEST_DATABASE_URL from the environment"
fi

if [ -z "${FORGE_TEST_PG_MARKER:-}" ]; then
    own_marker=$(mktemp "${TMPDIR:-/tmp}/forge-test-pg-marker.XXXXXX")
    export FORGE_TEST_PG_MARKER="$own_marker"
fi
if [ -z "${FORGE_TEST_PYPI_MARKER:-}" ]; then
    own_pypi_marker=$(mktemp "${TMPDIR:-/tmp}/forge-test-pypi-marker.XXXXXX")
    export FORGE_TEST_PYPI_MARKER="$own_pypi_marker"
fi

if [ -z "${FORGE_TEST_BROWSER_MARKER:-}" ]; then
    own_browser_marker=$(mktemp "${TMPDIR:-/tmp}/forge-test-browser-marker.XXXXXX")
    export FORGE_TEST_BROWSER_MARKER="$own_browser_marker"
fi

# Python clients and servers (SeaweedFS, pip, twine, ...) in a virtual environment on PATH;
# pnpm and yarn for the npm client tests in FORGE_TEST_NPM_TOOLS.
. "$(dirname "${BASH_SOURCE[0]}")/test-env.sh"
test_env_setup
test_env_npm_setup

# The end-to-end suite runs the real binary as well as the in-process server; built together
# with the suite so both use the same features (its test-only format) and nothing compiles twice.
"$CARGO" build -p forge-server -p forge-e2e
"$CARGO" test --workspace "$@"

pg_ran=0
if [ -f "$FORGE_TEST_PG_MARKER" ]; then
    pg_ran=$(grep -c . "$FORGE_TEST_PG_MARKER" || true)
fi
echo "test.sh: PostgreSQL end-to-end tests run: $pg_ran"
browser_ran=0
if [ -f "$FORGE_TEST_BROWSER_MARKER" ]; then
    browser_ran=$(grep -c . "$FORGE_TEST_BROWSER_MARKER" || true)
fi
echo "test.sh: browser tests run: $browser_ran (screenshots in target/web-screenshots)"
pypi_ran=$(grep -c . "$FORGE_TEST_PYPI_MARKER" 2>/dev/null || true)
echo "test.sh: real-client PyPI tests run: ${pypi_ran:-0}"
if [ -n "${FORGE_TEST_NPM_MARKER:-}" ] && [ -f "$FORGE_TEST_NPM_MARKER" ]; then
    echo "test.sh: real-client npm tests run: $(grep -c . "$FORGE_TEST_NPM_MARKER" || true)"
fi
if [ -n "${FORGE_TEST_CARGO_MARKER:-}" ] && [ -f "$FORGE_TEST_CARGO_MARKER" ]; then
    echo "test.sh: real-client Cargo tests run: $(grep -c . "$FORGE_TEST_CARGO_MARKER" || true)"
fi
if [ -n "${FORGE_TEST_S3_MARKER:-}" ] && [ -f "$FORGE_TEST_S3_MARKER" ]; then
    echo "test.sh: S3 end-to-end tests run: $(grep -c . "$FORGE_TEST_S3_MARKER" || true)"
fi
