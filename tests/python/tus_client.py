"""Uploads a file to a tus server with tuspy, the protocol's Python client, unmodified.

The upload's URL is kept in a tuspy URL store (a small JSON file), so running the script
again with the same store and file resumes the upload where the server says it stands,
as a client does after it was killed or the server restarted.

usage: tus_client.py ENDPOINT FILE STORE AUTHORIZATION CHUNK_SIZE [STOP_AT]

Prints the upload's URL and the offset reached as JSON.
"""

import json
import sys

from tusclient import client
from tusclient.storage import filestorage


def main():
    endpoint, path, store, authorization, chunk_size = sys.argv[1:6]
    stop_at = int(sys.argv[6]) if len(sys.argv) > 6 else None
    tus = client.TusClient(endpoint, headers={"Authorization": authorization})
    uploader = tus.uploader(
        file_path=path,
        chunk_size=int(chunk_size),
        store_url=True,
        url_storage=filestorage.FileStorage(store),
        metadata={"filename": path.rsplit("/", 1)[-1]},
        # A request cut off by a kill may still hold the upload for a moment (423).
        retries=5,
        retry_delay=1,
    )
    # Uploader.upload, with each offset reached reported on stderr.
    uploader.stop_at = stop_at or uploader.get_file_size()
    if not uploader.url:
        uploader.set_url(uploader.create_url())
        uploader.offset = 0
    print(f"start at {uploader.offset}", file=sys.stderr, flush=True)
    while uploader.offset < uploader.stop_at:
        uploader.upload_chunk()
        print(f"offset {uploader.offset}", file=sys.stderr, flush=True)
    print(json.dumps({"url": uploader.url, "offset": uploader.offset}))


if __name__ == "__main__":
    main()
