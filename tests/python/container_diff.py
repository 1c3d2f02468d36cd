#!/usr/bin/env python3
"""Differential check of a container registry against the reference one: runs the same skopeo
push/pull sequence against our registry (--ours URL, --creds) and against `docker-registry`
(the Distribution 2.8 server from Debian, which this script starts on a loopback port with a
temporary storage directory), and compares what the clients see:

- the manifest digest of every reference (`skopeo inspect --raw | sha256sum`), and the digest
  skopeo reports for each push (--digestfile);
- `skopeo list-tags` of every repository (as sets: Distribution 2.8 does not sort them; ours
  must also list them in lexical order);
- the blobs of a copy back out to an `oci:` directory (every digest, and that each file hashes
  to its name) and the manifest that copy names;
- whether each step succeeded, including `skopeo delete` and an inspect after it.

The sequence: an image (two layers) pushed as OCI and again as Docker schema 2 (--format v2s2),
a two-platform index pushed with --multi-arch all, a registry-to-registry copy into another
repository (skopeo mounts the blobs), the copies back out, the deletion. Repositories are
`{owner}/diff{run}/...`, with a fresh run id, so the check can run again on the same server.

Images come from tests/python/oci_layout.py with a fixed seed, so both registries receive the
very same bytes. Exit status 0 when everything matches, 1 on a difference (each printed),
2 when the check could not run. Standard library only (plus skopeo and docker-registry).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ReferenceRegistry:
    """docker-registry on 127.0.0.1:<free port>, storage and config in a temporary directory."""

    def __init__(self, binary: str, root: Path):
        self.root = root / "docker-registry"
        (self.root / "data").mkdir(parents=True)
        self.port = free_port()
        config = self.root / "config.yml"
        config.write_text(
            f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {self.root / "data"}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{self.port}
  secret: forge-container-diff
"""
        )
        self.log = open(self.root / "registry.log", "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", str(config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        self.host = f"127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.root / "registry.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"docker-registry did not start on {self.host}:\n{tail}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Side:
    """One registry as skopeo sees it."""

    def __init__(self, label: str, host: str, creds: str | None, skopeo: str, work: Path):
        self.label = label
        self.host = host
        self.creds = creds
        self.skopeo = skopeo
        self.work = work / label
        self.work.mkdir()
        self.home = self.work / "home"
        self.home.mkdir()
        self.results: dict[str, object] = {}

    def run(self, *args: str) -> tuple[bool, str, str]:
        cmd = [self.skopeo, "--insecure-policy", "--command-timeout", "600s", *args]
        # A scratch HOME: no credentials or registries.conf of the caller's.
        env = dict(os.environ, HOME=str(self.home), XDG_RUNTIME_DIR=str(self.home))
        env.pop("REGISTRY_AUTH_FILE", None)
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        return p.returncode == 0, p.stdout, p.stderr.strip()

    def creds_args(self, flag: str) -> list[str]:
        # flag: "--creds", "--src-creds" or "--dest-creds"
        return [flag, self.creds] if self.creds else []

    def docker(self, name: str) -> str:
        return f"docker://{self.host}/{name}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def blobs_of(layout: Path) -> dict:
    """Every blob of an OCI layout: digest -> size, checking each file hashes to its name."""
    out = {}
    for f in sorted((layout / "blobs" / "sha256").iterdir()):
        h = hashlib.sha256()
        with f.open("rb") as fh:
            for piece in iter(lambda: fh.read(1 << 20), b""):
                h.update(piece)
        name = f"sha256:{f.name}"
        out[name] = f.stat().st_size if h.hexdigest() == f.name else "CORRUPT"
    return out


def sequence(side: Side, run_id: str, owner: str, layouts: dict) -> None:
    """The steps, each result stored under a key both sides share."""
    r = side.results
    repo = f"{owner}/diff{run_id}"
    app, multi, copy = f"{repo}/app", f"{repo}/multi", f"{repo}/copy"

    def push(key, src, dest, *extra):
        digestfile = side.work / f"{key}.digest"
        ok, _, err = side.run(
            "copy", "--quiet", "--dest-tls-verify=false", *side.creds_args("--dest-creds"),
            "--digestfile", str(digestfile), *extra, src, side.docker(dest),
        )
        r[f"{key}: push"] = "ok" if ok else f"failed: {err[-300:]}"
        r[f"{key}: pushed digest"] = digestfile.read_text().strip() if ok else None

    def inspect(key, ref):
        ok, out, err = side.run(
            "inspect", "--raw", "--tls-verify=false", *side.creds_args("--creds"), side.docker(ref)
        )
        r[f"{key}: inspect --raw sha256"] = (
            "sha256:" + sha256_hex(out.encode()) if ok else f"failed: {err[-300:]}"
        )
        if ok:
            doc = json.loads(out)
            r[f"{key}: mediaType"] = doc.get("mediaType")

    def list_tags(key, name):
        ok, out, err = side.run(
            "list-tags", "--tls-verify=false", *side.creds_args("--creds"), side.docker(name)
        )
        r[f"{key}: list-tags"] = json.loads(out).get("Tags") if ok else f"failed: {err[-300:]}"

    def pull(key, ref, *extra):
        dest = side.work / f"out-{key}"
        ok, _, err = side.run(
            "copy", "--quiet", "--src-tls-verify=false", *side.creds_args("--src-creds"),
            *extra, side.docker(ref), f"oci:{dest}:{key}",
        )
        if not ok:
            r[f"{key}: pull to oci"] = f"failed: {err[-300:]}"
            return
        index = json.loads((dest / "index.json").read_text())
        r[f"{key}: pull to oci"] = "ok"
        r[f"{key}: pulled manifest"] = [m["digest"] for m in index["manifests"]]
        r[f"{key}: pulled blobs"] = blobs_of(dest)

    push("app:v1", layouts["single"], f"{app}:v1")
    push("app:v2s2", layouts["single"], f"{app}:v2s2", "--format", "v2s2")
    push("multi:m", layouts["index"], f"{multi}:m", "--multi-arch", "all")
    # Registry to registry, into another repository of the same owner (blob mounts).
    ok, _, err = side.run(
        "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
        *side.creds_args("--src-creds"), *side.creds_args("--dest-creds"),
        side.docker(f"{app}:v1"), side.docker(f"{copy}:c1"),
    )
    r["copy:c1: registry to registry"] = "ok" if ok else f"failed: {err[-300:]}"
    # The same image under a second tag of the copy repository.
    ok, _, err = side.run(
        "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
        *side.creds_args("--src-creds"), *side.creds_args("--dest-creds"),
        side.docker(f"{app}:v2s2"), side.docker(f"{copy}:c2"),
    )
    r["copy:c2: registry to registry"] = "ok" if ok else f"failed: {err[-300:]}"
    # And c3: the same manifest as c1, so deleting c1 (skopeo deletes by digest) shows
    # whether the other tag of that digest goes with it.
    ok, _, err = side.run(
        "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
        *side.creds_args("--src-creds"), *side.creds_args("--dest-creds"),
        side.docker(f"{copy}:c1"), side.docker(f"{copy}:c3"),
    )
    r["copy:c3: registry to registry"] = "ok" if ok else f"failed: {err[-300:]}"

    for key, ref in (
        ("app:v1", f"{app}:v1"),
        ("app:v2s2", f"{app}:v2s2"),
        ("multi:m", f"{multi}:m"),
        ("copy:c1", f"{copy}:c1"),
        ("copy:c2", f"{copy}:c2"),
        ("copy:c3", f"{copy}:c3"),
    ):
        inspect(key, ref)
    for key, name in (("app", app), ("multi", multi), ("copy", copy)):
        list_tags(key, name)

    pull("app-v1", f"{app}:v1")
    pull("app-v2s2", f"{app}:v2s2")
    pull("multi-m", f"{multi}:m", "--multi-arch", "all")
    pull("copy-c1", f"{copy}:c1")

    ok, _, err = side.run(
        "delete", "--tls-verify=false", *side.creds_args("--creds"), side.docker(f"{copy}:c1")
    )
    r["delete copy:c1"] = "ok" if ok else f"failed: {err[-300:]}"
    inspect("copy:c1 after delete", f"{copy}:c1")
    inspect("copy:c2 after deleting c1", f"{copy}:c2")
    inspect("copy:c3 (c1's digest) after deleting c1", f"{copy}:c3")
    list_tags("copy after delete", copy)
    inspect("app:v1 after deleting copy:c1", f"{app}:v1")


def normalise(key: str, value):
    """Failure messages name the host and port: keep only that it failed. Tag lists are
    compared as sets: Distribution 2.8 lists tags in storage order (it answered c2 before
    c1), while the contract asks ours for lexical order, which is checked apart."""
    if isinstance(value, str) and value.startswith("failed"):
        return "failed"
    if key.endswith("list-tags") and isinstance(value, list):
        return sorted(value)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ours", required=True, help="our registry, http://HOST:PORT")
    parser.add_argument("--creds", help="USER:PASSWORD (or USER:TOKEN) for our registry")
    parser.add_argument("--owner", default="user2", help="owner the repositories go under")
    parser.add_argument(
        "--reference",
        help="a reference registry already running, http://HOST:PORT (default: start "
        "docker-registry)",
    )
    parser.add_argument(
        "--reference-creds", help="USER:PASSWORD for --reference (default: none)"
    )
    parser.add_argument("--skopeo", default=shutil.which("skopeo") or "skopeo")
    parser.add_argument(
        "--docker-registry", default=shutil.which("docker-registry") or "docker-registry"
    )
    parser.add_argument("--python", default=sys.executable, help="runs oci_layout.py")
    parser.add_argument("--layer-size", type=int, default=256 * 1024)
    parser.add_argument(
        "--any-tag-order",
        action="store_true",
        help="do not require ours to list tags in lexical order (to try the script with "
        "another Distribution server as ours)",
    )
    parser.add_argument("--json", action="store_true", help="print both sides' results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    for tool in (args.skopeo,) + (() if args.reference else (args.docker_registry,)):
        if shutil.which(tool) is None:
            print(f"container_diff: {tool} not found", file=sys.stderr)
            return 2

    work = Path(tempfile.mkdtemp(prefix="container-diff-"))
    reference = None
    try:
        layouts = {}
        for name, extra in (("single", []), ("index", ["--index"])):
            out = subprocess.run(
                [args.python, str(HERE / "oci_layout.py"), str(work / name), "--tag", name,
                 "--layer-size", str(args.layer_size), "--seed", "7", "--label", name, *extra],
                capture_output=True, text=True, check=True,
            )
            layouts[name] = json.loads(out.stdout)["ref"]
        if args.reference:
            ref_host = args.reference.split("://", 1)[-1].rstrip("/")
        else:
            reference = ReferenceRegistry(args.docker_registry, work)
            ref_host = reference.host
        ours_host = args.ours.split("://", 1)[-1].rstrip("/")
        run_id = f"{int(time.time())}{os.getpid() % 1000}"
        sides = [
            Side("reference", ref_host, args.reference_creds, args.skopeo, work),
            Side("ours", ours_host, args.creds, args.skopeo, work),
        ]
        for side in sides:
            sequence(side, run_id, args.owner, layouts)
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        print(f"container_diff: could not run: {e}", file=sys.stderr)
        return 2
    finally:
        if reference:
            reference.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"container_diff: kept {work}", file=sys.stderr)

    ref, ours = sides[0].results, sides[1].results
    differences = 0
    for key in ref:
        a, b = normalise(key, ref[key]), normalise(key, ours.get(key))
        if a == b:
            print(f"same      {key}")
        else:
            differences += 1
            print(f"DIFFERENT {key}\n  reference: {ref[key]}\n  ours:      {ours.get(key)}")
    for key, value in ours.items():
        if args.any_tag_order:
            break
        if key.endswith("list-tags") and isinstance(value, list) and value != sorted(value):
            differences += 1
            print(f"UNSORTED  {key}: ours lists {value}, the contract asks for lexical order")
    if args.json:
        print(json.dumps({"reference": ref, "ours": ours}, indent=2))
    print(f"container_diff: {len(ref)} checks, {differences} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
