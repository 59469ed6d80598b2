"""S3-compatible providers: endpoint templates and quirks, turned into one :class:`S3Config`.

- ``wasabi``: ``https://s3.<region>.wasabisys.com``, path-style addressing.
- ``idrive`` (IDrive e2): ``https://s3.<region>.idrivee2.com``, path-style addressing.
- ``google_cloud``: Cloud Storage's S3-compatible XML API at ``https://storage.googleapis.com`` with HMAC
  keys (Settings > Interoperability). It has no multi-object delete, so objects are deleted one by one.
- ``s3``: any endpoint given in ``storage.endpoint_url`` (MinIO, Ceph, AWS when left empty).

An explicit ``storage.endpoint_url`` always wins over a template (IDrive accounts on older, account-specific
hosts, for instance).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from kdrama_tui.config import StorageSettings
from kdrama_tui.errors import ConfigError

S3_PROVIDERS = ("s3", "wasabi", "idrive", "google_cloud")
_REGION = re.compile(r"^[a-z0-9-]{2,32}$")


@dataclass(frozen=True)
class S3Config:
    provider: str  # recorded in video_files.storage_provider
    bucket: str
    endpoint_url: str | None  # None: the SDK's AWS default
    region: str
    access_key: str
    secret_key: str
    addressing_style: str = "path"
    multipart_chunk_size: int = 8 * 1024 * 1024
    batch_delete: bool = True  # DeleteObjects (POST ?delete) is available
    max_attempts: int = 5  # botocore's own retries of one request (standard mode)
    part_attempts: int = 4  # our retries of one multipart part / single put on top of botocore's
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def with_bucket(self, bucket: str) -> S3Config:
        return replace(self, bucket=bucket)

    def describe(self) -> str:
        """Where, for error messages (never the secret)."""
        return f"bucket {self.bucket!r} at {self.endpoint_url or 'AWS S3'} ({self.provider})"


def _template(provider: str, region: str) -> str | None:
    if provider == "wasabi":
        return f"https://s3.{region}.wasabisys.com"
    if provider == "idrive":
        return f"https://s3.{region}.idrivee2.com"
    if provider == "google_cloud":
        return "https://storage.googleapis.com"
    return None


def s3_config(settings: StorageSettings, provider: str | None = None, bucket: str | None = None) -> S3Config:
    """The S3 configuration of ``provider`` (default: the configured one) from the ``[storage]`` settings."""
    provider = provider or settings.provider
    if provider not in S3_PROVIDERS:
        raise ConfigError(f"storage.provider: {provider!r} is not an S3-compatible provider "
                          f"({', '.join(S3_PROVIDERS)})")
    bucket = bucket if bucket is not None else settings.bucket
    if not bucket:
        raise ConfigError(f"storage.bucket: is required for provider {provider!r}")
    if not settings.access_key or not settings.secret_key:
        raise ConfigError(f"storage.access_key/storage.secret_key: are required for provider {provider!r}")
    region = settings.region or "us-east-1"
    if not _REGION.match(region):
        raise ConfigError(f"storage.region: {region!r} is not a region name")
    if provider == "google_cloud" and region == "us-east-1":
        region = "auto"  # GCS signs with any region; "auto" is what its docs use
    endpoint = settings.endpoint_url.rstrip("/") or _template(provider, region)
    # Presets are path-style: their buckets are not all valid DNS names, and some hosts have no wildcard TLS.
    style = settings.addressing_style if provider == "s3" else "path"
    return S3Config(
        provider=provider, bucket=bucket, endpoint_url=endpoint or None, region=region,
        access_key=settings.access_key, secret_key=settings.secret_key, addressing_style=style,
        multipart_chunk_size=int(settings.multipart_chunk_size),
        batch_delete=provider != "google_cloud",
    )
