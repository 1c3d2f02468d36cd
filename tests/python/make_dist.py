"""Writes a small wheel and sdist of one project into a directory, with the standard library
only, so the PyPI tests need no build backend (and no index) to make them.

    python3 make_dist.py OUT_DIR NAME VERSION

The wheel holds one module, named after the project, whose VALUE names the version; its
METADATA declares Requires-Python >=3.8 so the index has something to escape.
"""

import base64
import hashlib
import io
import re
import sys
import tarfile
import zipfile


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def main() -> None:
    out, name, version = sys.argv[1:4]
    dist = re.sub(r"[-_.]+", "_", name).lower()
    module = dist
    metadata = (
        "Metadata-Version: 2.1\n"
        f"Name: {name}\n"
        f"Version: {version}\n"
        "Summary: A package for the registry's tests\n"
        "Requires-Python: >=3.8\n"
        "\n"
        "Long description.\n"
    ).encode()
    files = {
        f"{module}/__init__.py": f'VALUE = "{name} {version}"\n'.encode(),
        f"{dist}-{version}.dist-info/METADATA": metadata,
        f"{dist}-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: make_dist\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record_name = f"{dist}-{version}.dist-info/RECORD"
    record = "".join(f"{path},{record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{record_name},,\n"
    with zipfile.ZipFile(f"{out}/{dist}-{version}-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as whl:
        for path, data in files.items():
            whl.writestr(path, data)
        whl.writestr(record_name, record)
    with tarfile.open(f"{out}/{dist}-{version}.tar.gz", "w:gz") as sdist:
        for path, data in {
            "PKG-INFO": metadata,
            f"{module}/__init__.py": files[f"{module}/__init__.py"],
        }.items():
            info = tarfile.TarInfo(f"{dist}-{version}/{path}")
            info.size = len(data)
            sdist.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    main()
