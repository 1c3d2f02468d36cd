"""The reference S3 client of `make bench` (scripts/bench.sh): boto3, the AWS SDK for Python,
with its default transfer settings, against the SeaweedFS the benchmark starts.

    s3ref.py wait [SECONDS]       until the bucket answers a signed HEAD (60 s at most)
    s3ref.py put FILE KEY         multipart upload of FILE; prints MiB/s over the whole upload
    s3ref.py presign KEY          prints a presigned GET URL (for curl, the same client as
                                  for the server's downloads)

Endpoint, bucket and credentials come from BENCH_S3_ENDPOINT, BENCH_S3_BUCKET,
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
"""

import os
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["BENCH_S3_ENDPOINT"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def main():
    bucket = os.environ["BENCH_S3_BUCKET"]
    s3 = client()
    command = sys.argv[1]
    if command == "wait":
        deadline = time.time() + float(sys.argv[2] if len(sys.argv) > 2 else 60)
        while True:
            try:
                s3.head_bucket(Bucket=bucket)
                return
            except Exception as e:  # not up yet, or the bucket not created yet
                if time.time() > deadline:
                    sys.exit(f"bucket {bucket} not ready: {e}")
                time.sleep(0.2)
    elif command == "put":
        path, key = sys.argv[2], sys.argv[3]
        size = os.path.getsize(path)
        # The part size the server uses; concurrency stays boto3's default.
        config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20)
        start = time.monotonic()
        s3.upload_file(path, bucket, key, Config=config)
        seconds = time.monotonic() - start
        head = s3.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] != size:
            sys.exit(f"stored {head['ContentLength']} bytes, sent {size}")
        print(f"{size / 1048576 / seconds:.1f}")
    elif command == "presign":
        print(
            s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": sys.argv[2]}, ExpiresIn=3600
            )
        )
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
