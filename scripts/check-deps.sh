#!/usr/bin/env bash
# The domain crates must stay free of web and database types: fail if
# packages-core or forge-auth reach actix-web or diesel, even transitively.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
for crate in packages-core forge-auth; do
    for dep in actix-web diesel; do
        set +e
        out=$(cargo tree -p "$crate" -i "$dep" 2>&1 >/dev/null)
        rc=$?
        tree=$(cargo tree -p "$crate" -i "$dep" 2>/dev/null)
        set -e
        if [ -n "$tree" ]; then
            echo "error: $crate depends on $dep:" >&2
            echo "$tree" >&2
            status=1
        elif [ "$rc" -ne 0 ] && ! grep -q 'did not match any packages' <<<"$out"; then
            # Any other failure means the check did not really run.
            echo "error: cargo tree -p $crate -i $dep failed:" >&2
            echo "$out" >&2
            status=1
        fi
    done
done
if [ "$status" -eq 0 ]; then
    echo "dependency direction ok: packages-core and forge-auth use neither actix-web nor diesel"
fi
exit "$status"
