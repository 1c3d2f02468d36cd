#!/usr/bin/env python3
"""Drives an OCI registry with oras-py (the `oras` package on PyPI), the way an artifact tool
would, and checks every answer:

(a) chunked push: a random file of several chunks is pushed with `Registry.push(...,
    do_chunked=True, chunk_size=N)` (POST, one `PATCH` per chunk with `Content-Range: start-end`,
    then `PUT ?digest=`), with a manifest that references it; the manifest is read back raw
    (its sha256 must be the Docker-Content-Digest of the PUT) and the file pulled back with
    `Registry.pull` must be byte for byte the pushed one.

(b) referrers (OCI 1.1): two artifact manifests with a `subject` pointing at an image manifest
    (by default the one from (a), or --subject TAG|DIGEST, e.g. an image skopeo pushed) are
    pushed: one through `Registry.push(subject=...)` (artifact type taken from its config's
    media type), one built here with `artifactType` and the empty config, PUT by digest. Then
    `GET /v2/{name}/referrers/{digest}` (oras-py has no call for it; it goes through the
    library's `do_request`, so it uses the same token) must list both, and
    `?artifactType=` only the matching one with `OCI-Filters-Applied: artifactType`.

The registry is HOST:PORT over plain http. Credentials are optional (--user/--password); the
library then follows the registry's Bearer challenge to its token realm itself.

On success one JSON document goes to standard output; on a mismatch the reason goes to
standard error and the exit status is 1 (2 for bad usage).

--allow-no-referrers accepts a registry without the referrers API (the Distribution 2.8
server, `docker-registry`): a 404 from the referrers endpoint and a missing `OCI-Subject`
header are then reported in the JSON instead of failing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import urllib.parse
from pathlib import Path

import oras.defaults
import oras.oci
import oras.provider

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
PAYLOAD_TYPE = "application/vnd.forge.test.payload.v1"
SIGNATURE_CONFIG_TYPE = "application/vnd.forge.test.signature.config.v1+json"
SBOM_TYPE = "application/vnd.forge.test.sbom.v1+json"


class Mismatch(Exception):
    """The registry answered something other than expected."""


def check(condition: bool, why: str) -> None:
    if not condition:
        raise Mismatch(why)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            h.update(piece)
    return "sha256:" + h.hexdigest()


def describe(response) -> str:
    # oras-py answers a made-up Response (no request, no body) when a blob already exists.
    if response.request is None:
        return f"(no request sent) -> {response.status_code}"
    body = response.content[:500].decode("utf-8", "replace") if response.content else ""
    return f"{response.request.method} {response.url} -> {response.status_code} {body!r}"


class Flow:
    def __init__(self, args):
        self.args = args
        self.reg = oras.provider.Registry(hostname=args.registry, insecure=True, tls_verify=False)
        # Nothing from the environment: no proxy (requests would send 127.0.0.1 through
        # HTTP_PROXY unless NO_PROXY says otherwise) and no ~/.netrc credentials.
        self.reg.session.trust_env = False
        if args.user is not None:
            self.reg.auth.set_basic_auth(args.user, args.password or "")
        # Every exchange, for the --trace output and for counting the PATCHes of (a). The
        # Authorization header is reduced to its scheme.
        self.requests: list[dict] = []
        self.reg.session.hooks["response"].append(self._record)
        self.base = f"http://{args.registry}/v2/{args.repo}"
        self.ref_base = f"{args.registry}/{args.repo}"
        self.report: dict = {"registry": args.registry, "repo": args.repo}

    def _record(self, response, *_, **__):
        auth = response.request.headers.get("Authorization", "")
        entry = {
            "method": response.request.method,
            "url": response.request.url,
            "status": response.status_code,
            "auth": auth.split(" ", 1)[0] if auth else None,
        }
        for name in ("Content-Range", "Content-Type", "Content-Length"):
            if name in response.request.headers:
                entry[name.lower()] = response.request.headers[name]
        if response.status_code == 401:
            entry["challenge"] = response.headers.get("WWW-Authenticate")
        self.requests.append(entry)

    def request(self, method: str, url: str, **kwargs):
        return self.reg.do_request(url, method, **kwargs)

    def get_manifest_raw(self, reference: str):
        accept = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
        r = self.request("GET", f"{self.base}/manifests/{reference}", headers={"Accept": accept})
        check(r.status_code == 200, f"manifest {reference}: {describe(r)}")
        digest = sha256_digest(r.content)
        header = r.headers.get("Docker-Content-Digest")
        check(
            header == digest,
            f"manifest {reference}: Docker-Content-Digest {header} but the body hashes to {digest}",
        )
        return r, digest

    # --- (a) ---------------------------------------------------------------------------------

    def chunked(self, work: Path) -> dict:
        args = self.args
        payload = work / "payload.bin"
        payload.write_bytes(os.urandom(args.size))
        payload_digest = file_digest(payload)
        target = f"{self.ref_base}:{args.tag}"
        first = len(self.requests)
        r = self.reg.push(
            target=target,
            files=[f"{payload}:{PAYLOAD_TYPE}"],
            disable_path_validation=True,
            do_chunked=True,
            chunk_size=args.chunk_size,
            manifest_annotations={"org.opencontainers.image.title": "forge oras_flow"},
            quiet=True,
        )
        check(r.status_code == 201, f"manifest PUT: {describe(r)}")
        manifest_bytes = r.request.body
        if isinstance(manifest_bytes, str):
            manifest_bytes = manifest_bytes.encode()
        manifest_digest = sha256_digest(manifest_bytes)
        check(
            r.headers.get("Docker-Content-Digest") == manifest_digest,
            f"manifest PUT answered Docker-Content-Digest {r.headers.get('Docker-Content-Digest')}, "
            f"the bytes sent hash to {manifest_digest}",
        )
        check(bool(r.headers.get("Location")), "manifest PUT answered no Location")

        # The payload's upload: its PATCHes, each with a Content-Range, in order.
        upload = [
            e
            for e in self.requests[first:]
            if e["method"] == "PATCH" and e["status"] in (200, 201, 202, 204)
        ]
        expected = math.ceil(args.size / args.chunk_size)
        check(
            len(upload) == expected,
            f"expected {expected} accepted PATCHes for {args.size} bytes in chunks of "
            f"{args.chunk_size}, saw {len(upload)}: {upload}",
        )
        start = 0
        for e in upload:
            end = min(start + args.chunk_size, args.size) - 1
            check(
                e.get("content-range") == f"{start}-{end}",
                f"PATCH sent Content-Range {e.get('content-range')}, expected {start}-{end}",
            )
            start = end + 1

        # The manifest as stored.
        got, digest = self.get_manifest_raw(args.tag)
        check(
            digest == manifest_digest,
            f"GET manifest {args.tag} hashes to {digest}, pushed {manifest_digest}",
        )
        check(
            got.headers.get("Content-Type", "").split(";")[0] == OCI_MANIFEST,
            f"GET manifest Content-Type {got.headers.get('Content-Type')}, pushed {OCI_MANIFEST}",
        )
        layer = json.loads(got.content)["layers"][0]
        check(
            layer["digest"] == payload_digest and layer["size"] == args.size,
            f"manifest names layer {layer}, pushed {payload_digest} of {args.size} bytes",
        )
        head = self.request("HEAD", f"{self.base}/blobs/{payload_digest}")
        check(head.status_code == 200, f"HEAD blob: {describe(head)}")
        check(
            head.headers.get("Content-Length") == str(args.size),
            f"HEAD blob Content-Length {head.headers.get('Content-Length')}, expected {args.size}",
        )

        # Pulled back through the library.
        out = work / "pulled"
        files = self.reg.pull(target=target, outdir=str(out))
        check(len(files) == 1, f"pull gave {files}, expected one file")
        pulled = file_digest(Path(files[0]))
        check(pulled == payload_digest, f"pulled file hashes to {pulled}, pushed {payload_digest}")
        return {
            "tag": args.tag,
            "size": args.size,
            "chunk_size": args.chunk_size,
            "patches": len(upload),
            "blob_digest": payload_digest,
            "manifest_digest": manifest_digest,
            "manifest_size": len(manifest_bytes),
            "pulled": True,
        }

    # --- (b) ---------------------------------------------------------------------------------

    def referrers(self, work: Path, subject_ref: str) -> dict:
        args = self.args
        got, subject_digest = self.get_manifest_raw(subject_ref)
        media_type = got.headers.get("Content-Type", "").split(";")[0]
        subject = oras.oci.Subject(
            mediaType=media_type, digest=subject_digest, size=len(got.content)
        )
        result: dict = {"subject": {"reference": subject_ref, **subject.__dict__}}
        no_referrers_notes: list[str] = []

        def check_subject_header(r, what):
            header = r.headers.get("OCI-Subject")
            if header is None and args.allow_no_referrers:
                no_referrers_notes.append(f"{what}: no OCI-Subject header")
                return
            check(
                header == subject_digest,
                f"{what}: OCI-Subject {header!r}, expected {subject_digest}",
            )

        # 1. Through the library: the artifact type is its config's media type.
        signature = work / "signature.txt"
        signature.write_text(f"signed {subject_digest}\n")
        config = work / "signature-config.json"
        config.write_text(json.dumps({"signer": "forge-tests"}))
        sig_annotations = {"org.example.kind": "signature"}
        r = self.reg.push(
            target=f"{self.ref_base}:{args.tag}-sig",
            files=[f"{signature}:application/vnd.forge.test.signature.v1"],
            disable_path_validation=True,
            manifest_config=f"{config}:{SIGNATURE_CONFIG_TYPE}",
            manifest_annotations=sig_annotations,
            subject=subject,
            quiet=True,
        )
        check(r.status_code == 201, f"signature manifest PUT: {describe(r)}")
        sig_bytes = r.request.body if isinstance(r.request.body, bytes) else r.request.body.encode()
        sig_digest = sha256_digest(sig_bytes)
        check(
            r.headers.get("Docker-Content-Digest") == sig_digest,
            f"signature PUT answered Docker-Content-Digest {r.headers.get('Docker-Content-Digest')}, "
            f"the bytes sent hash to {sig_digest}",
        )
        check_subject_header(r, "signature PUT")

        # 2. Built here: artifactType and the empty config, PUT by digest (no tag).
        sbom = work / "sbom.json"
        sbom.write_text(json.dumps({"packages": ["forge-demo"], "for": subject_digest}))
        empty = work / "empty.json"
        empty.write_text("{}")
        sbom_layer = oras.oci.NewLayer(str(sbom), media_type=SBOM_TYPE)
        empty_desc = {"mediaType": EMPTY_CONFIG, "digest": file_digest(empty), "size": 2}
        check(
            empty_desc["digest"] == oras.defaults.blank_config_hash,
            "the empty config should be the well-known {} blob",
        )
        container = self.reg.get_container(f"{self.ref_base}:unused")
        for path, desc in ((sbom, sbom_layer), (empty, empty_desc)):
            up = self.reg.upload_blob(str(path), container, desc)
            check(up.status_code in (200, 201), f"blob upload {desc['digest']}: {describe(up)}")
        sbom_annotations = {"org.example.kind": "sbom"}
        sbom_manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SBOM_TYPE,
            "config": empty_desc,
            "layers": [sbom_layer],
            "subject": subject.__dict__,
            "annotations": sbom_annotations,
        }
        sbom_bytes = json.dumps(sbom_manifest, separators=(",", ":")).encode()
        sbom_digest = sha256_digest(sbom_bytes)
        r = self.request(
            "PUT",
            f"{self.base}/manifests/{sbom_digest}",
            data=sbom_bytes,
            headers={"Content-Type": OCI_MANIFEST},
        )
        check(r.status_code == 201, f"sbom manifest PUT by digest: {describe(r)}")
        check(
            r.headers.get("Docker-Content-Digest") == sbom_digest,
            f"sbom PUT answered Docker-Content-Digest {r.headers.get('Docker-Content-Digest')}, "
            f"expected {sbom_digest}",
        )
        check_subject_header(r, "sbom PUT")
        result["artifacts"] = [
            {"digest": sig_digest, "size": len(sig_bytes), "artifactType": SIGNATURE_CONFIG_TYPE},
            {"digest": sbom_digest, "size": len(sbom_bytes), "artifactType": SBOM_TYPE},
        ]

        # 3. The referrers API.
        url = f"{self.base}/referrers/{subject_digest}"
        r = self.request("GET", url, headers={"Accept": OCI_INDEX})
        result["referrers_status"] = r.status_code
        if r.status_code == 404 and args.allow_no_referrers:
            result["referrers_supported"] = False
            result["referrers_answer"] = {
                "status": r.status_code,
                "content_type": r.headers.get("Content-Type"),
                "body": r.text[:500],
            }
            result["notes"] = no_referrers_notes
            return result
        check(r.status_code == 200, f"referrers: {describe(r)}")
        check(
            r.headers.get("Content-Type", "").split(";")[0] == OCI_INDEX,
            f"referrers Content-Type {r.headers.get('Content-Type')}, expected {OCI_INDEX}",
        )
        index = r.json()
        result["referrers_supported"] = True
        result["referrers"] = index
        check(
            index.get("schemaVersion") == 2 and index.get("mediaType") == OCI_INDEX,
            f"referrers answer is not an OCI image index: {index}",
        )
        listed = {m.get("digest"): m for m in index.get("manifests", [])}
        expected = {
            sig_digest: (len(sig_bytes), SIGNATURE_CONFIG_TYPE, sig_annotations),
            sbom_digest: (len(sbom_bytes), SBOM_TYPE, sbom_annotations),
        }
        check(
            set(listed) == set(expected),
            f"referrers lists {sorted(listed)}, expected {sorted(expected)}",
        )
        for digest, (size, artifact_type, annotations) in expected.items():
            m = listed[digest]
            check(m.get("mediaType") == OCI_MANIFEST, f"referrer {digest}: mediaType {m}")
            check(m.get("size") == size, f"referrer {digest}: size {m.get('size')}, expected {size}")
            check(
                m.get("artifactType") == artifact_type,
                f"referrer {digest}: artifactType {m.get('artifactType')}, expected {artifact_type}",
            )
            check(
                (m.get("annotations") or {}) == annotations,
                f"referrer {digest}: annotations {m.get('annotations')}, expected {annotations}",
            )

        # Filtered by artifact type.
        # Percent-encoded as clients do (oras-go: url.Values.Encode): a raw "+" of the media
        # type would read as a space.
        query = urllib.parse.urlencode({"artifactType": SBOM_TYPE})
        r = self.request("GET", f"{url}?{query}", headers={"Accept": OCI_INDEX})
        check(r.status_code == 200, f"referrers?artifactType: {describe(r)}")
        filtered = r.json()
        result["referrers_filtered"] = filtered
        result["filters_applied"] = r.headers.get("OCI-Filters-Applied")
        check(
            r.headers.get("OCI-Filters-Applied") == "artifactType",
            f"referrers?artifactType answered OCI-Filters-Applied {r.headers.get('OCI-Filters-Applied')!r}",
        )
        digests = [m.get("digest") for m in filtered.get("manifests", [])]
        check(digests == [sbom_digest], f"referrers?artifactType lists {digests}, expected [{sbom_digest}]")

        # An unknown subject has no referrers: an empty index, not an error.
        missing = sha256_digest(b"no manifest has this digest")
        r = self.request("GET", f"{self.base}/referrers/{missing}")
        check(r.status_code == 200, f"referrers of an unknown digest: {describe(r)}")
        check(r.json().get("manifests") == [], f"referrers of an unknown digest: {r.text}")
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registry", required=True, help="HOST:PORT (plain http)")
    parser.add_argument("--repo", required=True, help="repository, e.g. user2/oras-test")
    parser.add_argument("--user", help="user name; without it no credentials are sent")
    parser.add_argument("--password", help="password or access token")
    parser.add_argument("--tag", default="chunked", help="tag of the pushed artifact (chunked)")
    parser.add_argument("--chunk-size", type=int, default=1 << 20, help="bytes per PATCH (1 MiB)")
    parser.add_argument(
        "--size",
        type=int,
        help="bytes of the pushed file (default: two and a half chunks, so three PATCHes)",
    )
    parser.add_argument(
        "--subject",
        help="tag or digest in --repo of the image manifest the artifacts refer to "
        "(default: the manifest pushed in step a)",
    )
    parser.add_argument(
        "--skip",
        choices=["chunked", "referrers"],
        action="append",
        default=[],
        help="leave out a step (referrers needs --subject when chunked is skipped)",
    )
    parser.add_argument(
        "--allow-no-referrers",
        action="store_true",
        help="accept a 404 from the referrers API and no OCI-Subject header (Distribution 2.8)",
    )
    parser.add_argument(
        "--library-retries",
        action="store_true",
        help="keep oras-py's retry loop (it sleeps 3 s, 5 s, 11 s, ... after each failed "
        "request, which only hides the first error of a registry under test)",
    )
    parser.add_argument("--trace", action="store_true", help="add every exchange to the JSON")
    args = parser.parse_args()
    if args.size is None:
        args.size = args.chunk_size * 5 // 2
    if args.size < 1 or args.chunk_size < 1:
        parser.error("--size and --chunk-size must be positive")
    if "chunked" in args.skip and "referrers" not in args.skip and not args.subject:
        parser.error("--skip chunked needs --subject for the referrers step")

    if not args.library_retries:
        # The undecorated method: a failure surfaces at once, as what it is.
        oras.provider.Registry.do_request = oras.provider.Registry.do_request.__wrapped__

    flow = Flow(args)
    try:
        with tempfile.TemporaryDirectory(prefix="oras-flow-") as tmp:
            work = Path(tmp)
            # oras-py reads credentials from ~/.docker/config.json (it ignores DOCKER_CONFIG):
            # none of the caller's may leak in.
            os.environ["HOME"] = str(work)
            subject = args.subject
            if "chunked" not in args.skip:
                flow.report["chunked"] = flow.chunked(work)
                subject = subject or flow.report["chunked"]["manifest_digest"]
            if "referrers" not in args.skip:
                flow.report["referrers"] = flow.referrers(work, subject)
    except Mismatch as e:
        print(f"oras_flow: {e}", file=sys.stderr)
        if args.trace:
            print(json.dumps(flow.requests, indent=2), file=sys.stderr)
        return 1
    except Exception as e:  # the library's own errors (ValueError, HTTP errors, ...)
        print(f"oras_flow: {type(e).__name__}: {e}", file=sys.stderr)
        if args.trace:
            print(json.dumps(flow.requests, indent=2), file=sys.stderr)
        return 1
    if args.trace:
        flow.report["requests"] = flow.requests
    json.dump(flow.report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
