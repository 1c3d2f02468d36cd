#!/usr/bin/env python3
"""Helper of scripts/bench-npm.sh: writes the publish documents once, then sends them.

    npm_bench.py generate DIR COUNT [PREFIX]
        DIR/bodies/NAME.json: npm's publish document (as `npm publish` builds it: the
        manifest with dist.integrity/shasum, dist-tags, and the tarball base64 in
        _attachments) for COUNT unscoped packages PREFIX000 ... (PREFIX: forge-bench-pkg-)
        at version 1.0.0,
        each a package.json and an index.js; DIR/names.txt lists them in order. The tarballs
        are deterministic (fixed mtime, uid, gzip header), so every run sends the same bytes.

    npm_bench.py publish REGISTRY TOKEN DIR CONCURRENCY
        PUT REGISTRY/NAME of every document in DIR/names.txt, CONCURRENCY requests at a time,
        each worker on its own keep-alive connection, with `Authorization: Bearer TOKEN` as
        npm sends it. Prints one line `seconds=S ok=N failed=M` (S from the first request to
        the last answer) and the first failures on stderr; exits 1 when any failed.
"""

import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import sys
import tarfile
import threading
import time
import urllib.parse

VERSION = "1.0.0"
# The publish document names a tarball URL under the registry npm publishes to; the same
# bytes go to both servers, so it names neither. Both serve their own URL in packuments.
PLACEHOLDER_REGISTRY = "http://registry.invalid/"


def tarball(name: str) -> bytes:
    manifest = {
        "name": name,
        "version": VERSION,
        "description": f"Benchmark package {name}",
        "main": "index.js",
        "license": "MIT",
    }
    files = {
        "package/package.json": (json.dumps(manifest, indent=2) + "\n").encode(),
        "package/index.js": f"module.exports = {json.dumps(name)};\n".encode(),
    }
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 499162500  # npm's fixed mtime (1985-10-26)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def document(name: str) -> bytes:
    tgz = tarball(name)
    file_name = f"{name}-{VERSION}.tgz"
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()
    manifest = {
        "name": name,
        "version": VERSION,
        "description": f"Benchmark package {name}",
        "main": "index.js",
        "license": "MIT",
        "_id": f"{name}@{VERSION}",
        "readme": "ERROR: No README data found!",
        "_nodeVersion": "20.0.0",
        "_npmVersion": "10.0.0",
        "dist": {
            "integrity": integrity,
            "shasum": hashlib.sha1(tgz).hexdigest(),
            "tarball": f"{PLACEHOLDER_REGISTRY}{name}/-/{file_name}",
        },
    }
    doc = {
        "_id": name,
        "name": name,
        "description": manifest["description"],
        "dist-tags": {"latest": VERSION},
        "versions": {VERSION: manifest},
        "access": None,
        "_attachments": {
            file_name: {
                "content_type": "application/octet-stream",
                "data": base64.b64encode(tgz).decode(),
                "length": len(tgz),
            }
        },
    }
    return json.dumps(doc).encode()


def generate(out_dir: str, count: int, prefix: str) -> None:
    bodies = os.path.join(out_dir, "bodies")
    os.makedirs(bodies, exist_ok=True)
    names = [f"{prefix}{i:03d}" for i in range(count)]
    total = 0
    for name in names:
        body = document(name)
        total += len(body)
        with open(os.path.join(bodies, name + ".json"), "wb") as f:
            f.write(body)
    with open(os.path.join(out_dir, "names.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    print(f"packages={count} bytes={total}")


def publish(registry: str, token: str, in_dir: str, concurrency: int) -> int:
    url = urllib.parse.urlsplit(registry)
    base_path = url.path if url.path.endswith("/") else url.path + "/"
    with open(os.path.join(in_dir, "names.txt")) as f:
        names = [line.strip() for line in f if line.strip()]
    bodies = {}
    for name in names:
        with open(os.path.join(in_dir, "bodies", name + ".json"), "rb") as f:
            bodies[name] = f.read()

    lock = threading.Lock()
    queue = list(reversed(names))
    failures = []
    ok = [0]

    def worker() -> None:
        conn = None
        while True:
            with lock:
                if not queue:
                    break
                name = queue.pop()
            headers = {
                "Content-Type": "application/json",
                "Accept": "*/*",
                "Authorization": f"Bearer {token}",
                "npm-command": "publish",
                "User-Agent": "forge-bench-npm",
            }
            for attempt in (1, 2):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
                    conn.request("PUT", base_path + name, body=bodies[name], headers=headers)
                    resp = conn.getresponse()
                    answer = resp.read()
                    status = resp.status
                    break
                except (ConnectionError, http.client.HTTPException, OSError) as e:
                    # A keep-alive connection the server closed: once more on a new one.
                    if conn is not None:
                        conn.close()
                    conn = None
                    if attempt == 2:
                        status, answer = 0, str(e).encode()
            with lock:
                if 200 <= status < 300:
                    ok[0] += 1
                else:
                    failures.append(f"{name}: {status} {answer[:200]!r}")
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(max(1, concurrency))]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - start
    print(f"seconds={seconds:.3f} ok={ok[0]} failed={len(failures)}")
    for line in failures[:5]:
        print(line, file=sys.stderr)
    return 1 if failures else 0


def main() -> int:
    args = sys.argv[1:]
    if len(args) in (3, 4) and args[0] == "generate":
        generate(args[1], int(args[2]), args[3] if len(args) == 4 else "forge-bench-pkg-")
        return 0
    if len(args) == 5 and args[0] == "publish":
        return publish(args[1], args[2], args[3], int(args[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
