#!/usr/bin/env python3
"""Writes an OCI image layout (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
that skopeo can push: `skopeo copy oci:DIR:TAG docker://HOST/owner/image:TAG`.

The image is either one image manifest (`application/vnd.oci.image.manifest.v1+json`) or, with
--index, an image index (`application/vnd.oci.image.index.v1+json`) of two platforms,
linux/amd64 and linux/arm64, each with its own config, layers and manifest (push it with
`skopeo copy --multi-arch all`).

Every layer is a real tar holding one file of random bytes, and the config lists the layers'
diff ids, so the image is valid. By default the tar is wrapped in gzip at level 0 (stored
blocks: fast even for 1 GiB) as `application/vnd.oci.image.layer.v1.tar+gzip`: skopeo pushes a
compressed layer unchanged, so the registry receives exactly the layout's blobs and, without a
format conversion, its manifest bytes. With --compression none the layers are plain
`application/vnd.oci.image.layer.v1.tar`; skopeo then gzips them itself on the way to a
registry, and the pushed digests are no longer the layout's (its --digestfile tells the pushed
manifest digest). Either way `--format v2s2` works: the layers become
`application/vnd.docker.image.rootfs.diff.tar.gzip` and only the manifest changes.
--raw-layers writes bare random bytes instead of a tar.

Only the standard library is used. On success one JSON document goes to standard output:

    {"layout": DIR, "tag": TAG, "ref": "oci:DIR:TAG", "media_type": ..., "digest": <top>,
     "size": <bytes of the top manifest>, "manifest_digest": <the manifest, or null for an
     index>, "index_digest": <the index, or null>, "manifests": [{"platform", "digest", "size",
     "config_digest", "layers": [{"digest", "size"}]}], "layer_digests": [...],
     "blobs": [every blob written]}

Run with --help for the options.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import sys
import tarfile
import tempfile
from pathlib import Path

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
# Fixed, so that the same --seed gives the same digests on every run.
CREATED = "2024-01-01T00:00:00Z"
# Random data is produced and written in pieces of this size, so a 1 GiB layer costs no memory.
PIECE = 1 << 20


def compact(doc: dict) -> bytes:
    """The bytes a document is stored and pushed as (its digest is over exactly these)."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


class Layout:
    """An OCI layout directory being written: blobs land in blobs/sha256/<hex>."""

    def __init__(self, root: Path):
        self.root = root
        self.blob_dir = root / "blobs" / "sha256"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.blobs: list[str] = []

    def _note(self, digest: str) -> None:
        if digest not in self.blobs:
            self.blobs.append(digest)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        hexdigest = hashlib.sha256(data).hexdigest()
        path = self.blob_dir / hexdigest
        if not path.exists():
            path.write_bytes(data)
        digest = f"sha256:{hexdigest}"
        self._note(digest)
        return digest, len(data)

    def put_layer(self, write, compress: bool) -> tuple[str, int, str]:
        """Writes a layer through `write(sink)` (sink.write(bytes)), gzip-compressed or not;
        answers its digest, its size and its diff id (the digest of the uncompressed bytes)."""
        out = _HashingFile(tempfile.NamedTemporaryFile(dir=self.blob_dir, delete=False))
        try:
            if compress:
                # Level 0 (stored blocks): a valid gzip stream at the cost of a CRC, so that
                # even a 1 GiB layer is written at disk speed. mtime=0 keeps it repeatable.
                with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=0, mtime=0) as gz:
                    sink = _HashingFile(gz)
                    write(sink)
                diff_id = sink.hash.hexdigest()
            else:
                write(out)
                diff_id = out.hash.hexdigest()
            out.file.close()
            hexdigest = out.hash.hexdigest()
            os.replace(out.file.name, self.blob_dir / hexdigest)
        except BaseException:
            out.file.close()
            os.unlink(out.file.name)
            raise
        digest = f"sha256:{hexdigest}"
        self._note(digest)
        return digest, out.size, f"sha256:{diff_id}"

    def write_index(self, descriptor: dict, tag: str) -> None:
        """Points the layout's index.json at `descriptor` under `tag`, keeping other tags."""
        index_path = self.root / "index.json"
        manifests = []
        if index_path.exists():
            existing = json.loads(index_path.read_text())
            manifests = [
                m
                for m in existing.get("manifests", [])
                if (m.get("annotations") or {}).get(REF_NAME) != tag
            ]
        entry = dict(descriptor)
        entry["annotations"] = {REF_NAME: tag}
        manifests.append(entry)
        top = {"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}
        (self.root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        index_path.write_text(json.dumps(top, indent=2) + "\n")


class _HashingFile:
    def __init__(self, file):
        self.file = file
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.file.write(data)


def random_source(seed: int | None):
    """A function giving n random bytes: os.urandom, or a seeded generator for repeatable
    images."""
    if seed is None:
        return os.urandom
    rng = random.Random(seed)
    return rng.randbytes


def write_tar_layer(sink, name: str, size: int, randbytes) -> None:
    """An uncompressed tar with one regular file `name` of `size` random bytes, streamed."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 1704067200  # CREATED
    info.uname = info.gname = "root"
    sink.write(info.tobuf(format=tarfile.PAX_FORMAT))
    left = size
    while left > 0:
        piece = min(PIECE, left)
        sink.write(randbytes(piece))
        left -= piece
    padding = (-size) % tarfile.BLOCKSIZE
    sink.write(b"\0" * padding)
    # The end of the archive: two empty blocks (tarfile pads to a 10 KiB record; not needed).
    sink.write(b"\0" * (2 * tarfile.BLOCKSIZE))


def write_raw_layer(sink, size: int, randbytes) -> None:
    left = size
    while left > 0:
        piece = min(PIECE, left)
        sink.write(randbytes(piece))
        left -= piece


def build_image(layout: Layout, arch: str, args, randbytes) -> dict:
    """Writes the layers, config and manifest of one platform; returns what the summary
    says about it plus the manifest's descriptor."""
    layers, diff_ids = [], []
    compress = args.compression == "gzip"
    for n in range(args.layers):
        if args.raw_layers:
            writer = lambda sink: write_raw_layer(sink, args.layer_size, randbytes)
        else:
            name = f"data/{arch}-layer{n}.bin"
            writer = lambda sink: write_tar_layer(sink, name, args.layer_size, randbytes)
        digest, size, diff_id = layout.put_layer(writer, compress)
        media_type = LAYER_TAR_GZIP if compress else LAYER_TAR
        layers.append({"mediaType": media_type, "digest": digest, "size": size})
        diff_ids.append(diff_id)

    config_doc = {
        "architecture": arch,
        "os": "linux",
        "created": CREATED,
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Labels": {"forge.test": args.label}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": "tests/python/oci_layout.py"}]
        * len(layers),
    }
    config_digest, config_size = layout.put_bytes(compact(config_doc))

    manifest_doc = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers,
        "annotations": {"org.opencontainers.image.created": CREATED},
    }
    manifest_digest, manifest_size = layout.put_bytes(compact(manifest_doc))
    descriptor = {
        "mediaType": MANIFEST,
        "digest": manifest_digest,
        "size": manifest_size,
        "platform": {"architecture": arch, "os": "linux"},
    }
    summary = {
        "platform": f"linux/{arch}",
        "digest": manifest_digest,
        "size": manifest_size,
        "config_digest": config_digest,
        "layers": [{"digest": l["digest"], "size": l["size"]} for l in layers],
    }
    return {"descriptor": descriptor, "summary": summary}


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Write an OCI image layout with random layers and print a JSON summary."
    )
    parser.add_argument("dir", type=Path, help="layout directory (created; other tags kept)")
    parser.add_argument("--tag", default="latest", help="ref name in index.json (latest)")
    parser.add_argument("--layers", type=int, default=2, help="layers per image (2)")
    parser.add_argument(
        "--layer-size",
        type=int,
        default=64 * 1024,
        help="bytes of random data per layer (65536); a tar layer is a little larger",
    )
    parser.add_argument(
        "--index",
        action="store_true",
        help="an image index of linux/amd64 and linux/arm64 instead of one manifest",
    )
    parser.add_argument(
        "--compression",
        choices=["gzip", "none"],
        default="gzip",
        help="gzip (stored, level 0; the default) or none. skopeo gzips uncompressed layers "
        "when it pushes to a registry, so with none the pushed blobs and manifest differ "
        "from the layout's",
    )
    parser.add_argument(
        "--raw-layers",
        action="store_true",
        help="layers of bare random bytes instead of tar archives",
    )
    parser.add_argument(
        "--seed", type=int, help="seed the random data, for the same digests every run"
    )
    parser.add_argument(
        "--label",
        default="",
        help="value of the config label forge.test (different labels, different images)",
    )
    args = parser.parse_args()
    if args.layers < 1 or args.layer_size < 0:
        parser.error("--layers must be at least 1 and --layer-size not negative")

    layout = Layout(args.dir)
    randbytes = random_source(args.seed)

    if args.index:
        images = [build_image(layout, arch, args, randbytes) for arch in ("amd64", "arm64")]
        index_doc = {
            "schemaVersion": 2,
            "mediaType": INDEX,
            "manifests": [i["descriptor"] for i in images],
        }
        top_digest, top_size = layout.put_bytes(compact(index_doc))
        top = {"mediaType": INDEX, "digest": top_digest, "size": top_size}
        manifest_digest, index_digest = None, top_digest
    else:
        images = [build_image(layout, "amd64", args, randbytes)]
        top = {k: v for k, v in images[0]["descriptor"].items() if k != "platform"}
        manifest_digest, index_digest = top["digest"], None
    layout.write_index(top, args.tag)

    manifests = [i["summary"] for i in images]
    summary = {
        "layout": str(args.dir),
        "tag": args.tag,
        "ref": f"oci:{args.dir}:{args.tag}",
        "media_type": top["mediaType"],
        "digest": top["digest"],
        "size": top["size"],
        "manifest_digest": manifest_digest,
        "index_digest": index_digest,
        "manifests": manifests,
        "layer_digests": [l["digest"] for m in manifests for l in m["layers"]],
        "blobs": layout.blobs,
    }
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
