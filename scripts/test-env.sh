# Sourced by scripts/test.sh (and other scripts): puts the Python clients and servers the suites
# drive (tests/python/requirements.txt) into a virtual environment and its bin/ on PATH, and
# the JavaScript package managers the npm client tests drive into a folder of their own.
# Each is rebuilt when its pinned list changes.
#
#   FORGE_TEST_VENV       where the Python environment lives (default: target/test-venv)
#   FORGE_TEST_NPM_TOOLS  where pnpm, yarn 1 and yarn 4 are installed with npm
#                         (default: target/test-npm; its node_modules/ holds them)

# The package managers the npm client tests run, pinned. npm itself (11, with Node 20) is the
# system's. pnpm 11 needs Node 22, hence 10.x; yarn 4 is published as @yarnpkg/cli-dist.
FORGE_TEST_NPM_PACKAGES="pnpm@10.34.9 yarn@1.22.22 @yarnpkg/cli-dist@4.18.1"

test_env_setup() {
    local root venv stamp python
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    venv=${FORGE_TEST_VENV:-$root/target/test-venv}
    stamp="$venv/.requirements"
    python=$(command -v python3 || command -v python) || {
        echo "error: python3 is needed for the end-to-end suites" >&2
        return 1
    }
    if [ ! -x "$venv/bin/python" ] || ! cmp -s "$root/tests/python/requirements.txt" "$stamp"; then
        echo "test-env: installing tests/python/requirements.txt into $venv"
        rm -rf "$venv"
        "$python" -m venv "$venv" || return 1
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r "$root/tests/python/requirements.txt" || return 1
        cp "$root/tests/python/requirements.txt" "$stamp"
    fi
    export FORGE_TEST_VENV="$venv"
    export PATH="$venv/bin:$PATH"
}

# Installs FORGE_TEST_NPM_PACKAGES with the system's npm into FORGE_TEST_NPM_TOOLS and exports
# it. Without npm (and node) nothing is installed or exported: the npm client tests then skip
# themselves, or fail under FORGE_TEST_REQUIRE_NPM_CLIENTS=1.
test_env_npm_setup() {
    local root dir stamp
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    dir=${FORGE_TEST_NPM_TOOLS:-$root/target/test-npm}
    stamp="$dir/.packages"
    if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
        echo "test-env: no npm and node on PATH; the npm client tests will be skipped"
        return 0
    fi
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$FORGE_TEST_NPM_PACKAGES" ]; then
        echo "test-env: installing $FORGE_TEST_NPM_PACKAGES into $dir"
        rm -rf "$dir"
        mkdir -p "$dir" || return 1
        # shellcheck disable=SC2086 # the list is split into its packages on purpose
        npm install --prefix "$dir" --no-audit --no-fund --no-update-notifier --save-exact \
            --loglevel=error $FORGE_TEST_NPM_PACKAGES || return 1
        printf '%s' "$FORGE_TEST_NPM_PACKAGES" >"$stamp"
    fi
    export FORGE_TEST_NPM_TOOLS="$dir"
}
