"""The files bucket (S3): CE batches, their result files, evidence uploads and quarantine."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from shared import aws


def match_upload_key(layout: re.Pattern[str], key: str) -> re.Match[str] | None:
    """The match of an uploaded object's whole key against its documented layout, or None when the
    key does not follow it or holds ``..`` (a key that names no file of ours is ignored)."""
    if ".." in key:
        return None
    return layout.fullmatch(key)


def default_client() -> Any:
    """The process-wide S3 client (``shared.aws``)."""
    return aws.client("s3")


def reset_default_client() -> None:
    aws.reset_clients()


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    content_type: str
    head: bytes  # the first bytes, for a content sniff


class FilesBucket:
    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        return self._client if self._client is not None else default_client()

    def read(self, key: str, version_id: str | None = None) -> bytes:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        body: bytes = self.client.get_object(**args)["Body"].read()
        return body

    def info(self, key: str, head_bytes: int = 16) -> ObjectInfo | None:
        """Size and type (HEAD), and the first bytes unless empty; None when the object is gone."""
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        size = int(response.get("ContentLength", 0))
        head = b""
        if size > 0:
            ranged = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{head_bytes - 1}")
            head = ranged["Body"].read()
        return ObjectInfo(size=size, content_type=response.get("ContentType", ""), head=head)

    def write_json(self, key: str, document: Any) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(document, indent=2, default=str).encode("utf-8"),
            ContentType="application/json",
        )

    def move(self, key: str, target: str, metadata: dict[str, str]) -> None:
        """Copy to ``target`` (with ``metadata``), then delete the original (a versioned bucket keeps
        the original's version behind a delete marker)."""
        self.client.copy_object(
            Bucket=self.bucket,
            Key=target,
            CopySource={"Bucket": self.bucket, "Key": key},
            Metadata=metadata,
            MetadataDirective="REPLACE",
        )
        self.client.delete_object(Bucket=self.bucket, Key=key)
