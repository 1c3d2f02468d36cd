#!/usr/bin/env bash
# The crate layout of docs/ARCHITECTURE.md, enforced:
# - packages-core depends on no other crate of the workspace;
# - packages-core and forge-auth reach neither actix-web nor diesel, even transitively;
# - packages-service reaches no web framework, template or OpenAPI crate, even transitively;
# - a format crate (crates/formats/*) depends on no other format, on packages-web or on
#   forge-server;
# - nothing but forge-server and the test and bench crates depends on a format crate.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0

# Transitive checks: `cargo tree -i DEP` prints who pulls DEP in.
forbid_transitive() {
    local crate=$1 dep=$2 out rc tree
    if ! cargo metadata --format-version 1 --no-deps 2>/dev/null | grep -q "\"name\":\"$crate\""; then
        return 0
    fi
    set +e
    out=$(cargo tree -p "$crate" -e normal -i "$dep" 2>&1 >/dev/null)
    rc=$?
    tree=$(cargo tree -p "$crate" -e normal -i "$dep" 2>/dev/null)
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
}

for crate in packages-core forge-auth; do
    for dep in actix-web diesel; do
        forbid_transitive "$crate" "$dep"
    done
done
for dep in actix-web actix-http maud utoipa; do
    forbid_transitive packages-service "$dep"
done

# Direct dependencies between workspace crates, from cargo metadata.
metadata=$(cargo metadata --format-version 1 --no-deps)
if ! python3 - "$metadata" <<'PY'; then
import json, os, sys

meta = json.loads(sys.argv[1])
root = meta["workspace_root"]
members = {p["name"]: p for p in meta["packages"]}
formats = {
    name for name, p in members.items()
    if os.path.relpath(p["manifest_path"], root).startswith("crates/formats/")
}
errors = []

def deps(name, kinds):
    return {
        d["name"] for d in members[name]["dependencies"]
        if d["name"] in members and d["kind"] in kinds
    }

core = deps("packages-core", (None, "build"))
if core:
    errors.append(f"packages-core depends on workspace crates: {', '.join(sorted(core))}")
for f in sorted(formats):
    bad = deps(f, (None, "build", "dev")) & (formats - {f} | {"packages-web", "forge-server"})
    if bad:
        errors.append(f"format crate {f} depends on {', '.join(sorted(bad))}")
allowed = {"forge-server", "forge-e2e", "forge-bench"}
for name in sorted(members):
    if name in formats or name in allowed:
        continue
    bad = deps(name, (None, "build", "dev")) & formats
    if bad:
        errors.append(f"{name} depends on format crate(s) {', '.join(sorted(bad))}; "
                      "formats are reached through the registered list")
if not formats:
    errors.append("no format crate found under crates/formats/: the check did not run")
for e in errors:
    print(f"error: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
    status=1
fi

if [ "$status" -eq 0 ]; then
    echo "dependency direction ok: core, auth and service free of web and database crates;" \
        "formats independent of each other, of the pages and of the binary"
fi
exit "$status"
