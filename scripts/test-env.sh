# Sourced by scripts/test.sh (and other scripts): puts the Python clients and servers the suites
# drive (tests/python/requirements.txt) into a virtual environment and its bin/ on PATH.
# The environment is rebuilt when the requirements change.
#
#   FORGE_TEST_VENV   where the environment lives (default: target/test-venv)

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
