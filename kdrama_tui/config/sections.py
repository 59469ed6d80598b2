"""The settings of each section (``[server]``, ``[database]``...): one typed, documented field per setting.

Each section checks its own values in ``validate()``; a bad one raises :class:`ConfigError` with one line
that names the setting and what is wrong.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from kdrama_tui.errors import ConfigError

SECRET_KEYS = {"secret_key", "access_key", "encryption_key", "password", "master_key"}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def parse_size(value: int | str) -> int:
    """``8388608``, ``"8MiB"``, ``"20 GB"`` -> bytes (binary units: the admin thinks in disk sizes)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _SIZE_RE.match(str(value))
    if not match:
        raise ValueError(f"not a size: {value!r} (use bytes or e.g. '8MiB', '20GB')")
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[(unit or "")[:1].lower()])


def _doc(text: str, **kw: Any) -> Any:
    return field(metadata={"doc": text}, **kw)


@dataclass
class ServerSettings:
    host: str = _doc("Address the HTTP server binds to.", default="127.0.0.1")
    port: int = _doc("TCP port of the HTTP server.", default=8080)
    public_url: str = _doc("Base URL viewers use; empty means http://host:port.", default="")
    client_max_size: int | str = _doc("Largest non-upload request body.", default="1MiB")
    node_name: str = _doc("This node's name in a cluster (database connections, the event stream, "
                          "`backup restore`); empty = <hostname>:<port>.", default="")

    def validate(self) -> None:
        _check(1 <= self.port <= 65535, "server.port", f"must be 1-65535 (got {self.port})")
        _check(len(self.node_name) <= 40 and self.node_name.isprintable(), "server.node_name",
               "must be at most 40 printable characters")
        if self.public_url:
            _check(self.public_url.startswith(("http://", "https://")), "server.public_url",
                   f"must start with http:// or https:// (got {self.public_url!r})")
        self.client_max_size = _size("server.client_max_size", self.client_max_size)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@dataclass
class DatabaseSettings:
    url: str = _doc("sqlite:///path/to.db or postgresql://user:pass@host:port/db; empty = "
                    "sqlite:///<data_dir>/kdrama.db.", default="")
    sqlite_synchronous: str = _doc("SQLite synchronous mode: FULL survives power loss, NORMAL is faster.",
                                   default="FULL")
    busy_timeout_ms: int = _doc("How long SQLite waits for another writer before failing.", default=10000)
    pool_size: int = _doc("PostgreSQL connection pool size (per process).", default=10)
    statement_cache_size: int = _doc("Prepared statements asyncpg keeps per PostgreSQL connection; 0 behind "
                                     "PgBouncer in transaction mode.", default=100)
    session_url: str = _doc("PostgreSQL address for what needs a session of its own (cluster locks, "
                            "LISTEN/NOTIFY): set it to a direct or session-mode address when url goes through "
                            "PgBouncer in transaction mode; empty = url.", default="")
    read_url: str = _doc("A PostgreSQL streaming replica for catalog, series and playback lookups (writes and "
                         "reads that must see them stay on url); empty = read everything from url.", default="")
    replica_max_lag_seconds: float = _doc("A replica further behind the primary than this is skipped until it "
                                          "catches up.", default=2.0)

    def validate(self) -> None:
        if self.url:
            _check(self.url.startswith(("sqlite://", "postgresql://", "postgres://")), "database.url",
                   "must start with sqlite:// or postgresql://")
        _check(self.sqlite_synchronous.upper() in {"FULL", "NORMAL", "EXTRA"},
               "database.sqlite_synchronous", "must be FULL, NORMAL or EXTRA")
        self.sqlite_synchronous = self.sqlite_synchronous.upper()
        _check(self.busy_timeout_ms >= 0, "database.busy_timeout_ms", "must be >= 0")
        _check(self.pool_size >= 1, "database.pool_size", "must be >= 1")
        _check(self.statement_cache_size >= 0, "database.statement_cache_size", "must be >= 0")
        if self.session_url:
            _check(self.session_url.startswith(("postgresql://", "postgres://")), "database.session_url",
                   "must start with postgresql://")
        if self.read_url:
            _check(self.read_url.startswith(("postgresql://", "postgres://")), "database.read_url",
                   "must start with postgresql:// (a replica of a PostgreSQL database.url)")
        _check(self.replica_max_lag_seconds > 0, "database.replica_max_lag_seconds", "must be > 0")


STORAGE_PROVIDERS = ("local", "s3", "wasabi", "idrive", "google_cloud")


@dataclass
class StorageSettings:
    provider: str = _doc("Where new files go: local, s3, wasabi, idrive or google_cloud.", default="local")
    local_root: str = _doc("Root folder of local storage; empty = <data_dir>/media.", default="")
    endpoint_url: str = _doc("S3 endpoint URL (MinIO, custom); presets fill it for wasabi/idrive/google_cloud.",
                             default="")
    bucket: str = _doc("Bucket for media files.", default="")
    region: str = _doc("Bucket region.", default="us-east-1")
    access_key: str = _doc("S3 access key id (secret: never logged).", default="")
    secret_key: str = _doc("S3 secret key (secret: never logged).", default="")
    addressing_style: str = _doc("S3 addressing: path or virtual.", default="path")
    delivery: str = _doc("How HLS from S3 reaches viewers: proxy (through this server) or presigned "
                         "(redirect to a short-lived URL).", default="proxy")
    presign_seconds: int = _doc("Lifetime of presigned URLs.", default=300)
    multipart_chunk_size: int | str = _doc("Part size of multipart uploads to S3 (>= 5MiB).", default="8MiB")
    orphan_grace_hours: float = _doc("Folders under originals/ that no video references (left by a crash during "
                                     "a hand-off) are deleted once this old; longer than any single upload to "
                                     "storage takes (S3 dates a multipart object from its start).", default=24.0)

    def validate(self) -> None:
        _check(self.provider in STORAGE_PROVIDERS, "storage.provider",
               f"must be one of {', '.join(STORAGE_PROVIDERS)} (got {self.provider!r})")
        _check(self.addressing_style in {"path", "virtual", "auto"}, "storage.addressing_style",
               "must be path, virtual or auto")
        _check(self.delivery in {"proxy", "presigned"}, "storage.delivery", "must be proxy or presigned")
        _check(self.presign_seconds > 0, "storage.presign_seconds", "must be > 0")
        self.multipart_chunk_size = _size("storage.multipart_chunk_size", self.multipart_chunk_size)
        _check(self.multipart_chunk_size >= 5 * 1024**2, "storage.multipart_chunk_size",
               "must be at least 5MiB (S3's minimum part size)")
        # At least an hour: the grace is what keeps a hand-off in flight (file stored, rows not yet committed)
        # from being swept; `storage sweep --grace-hours 0` is the explicit way to go lower.
        _check(1 <= self.orphan_grace_hours <= 24 * 365, "storage.orphan_grace_hours", "must be 1-8760")
        if self.provider != "local":
            _check(bool(self.bucket), "storage.bucket", f"is required for provider {self.provider!r}")
            _check(bool(self.access_key and self.secret_key), "storage.access_key",
                   f"storage.access_key and storage.secret_key are required for provider {self.provider!r}")
        if self.endpoint_url:
            _check(self.endpoint_url.startswith(("http://", "https://")), "storage.endpoint_url",
                   f"must start with http:// or https:// (got {self.endpoint_url!r})")


@dataclass
class UploadSettings:
    max_size: int | str = _doc("Largest upload accepted.", default="50GiB")
    max_chunk_size: int | str = _doc("Largest single chunk (chunk API) or PATCH body (tus).", default="64MiB")
    expire_hours: float = _doc("Incomplete uploads idle longer than this are deleted.", default=24.0)
    free_space_margin: int | str = _doc("Disk space kept free beyond what unfinished uploads still need (checked "
                                        "when an upload is created: 507 otherwise). Keep it above max_chunk_size: "
                                        "assembly needs one part of headroom.", default="1GiB")
    cleanup_interval_seconds: float = _doc("How often expired uploads are swept.", default=600.0)
    max_chunks: int = _doc("Most parts one upload may have (chunks, or tus PATCH segments); bounds the "
                           "bookkeeping per upload.", default=10000)
    cors_origins: str = _doc("Origins (scheme://host[:port], comma-separated) whose pages may upload with tus "
                             "from a browser (e.g. tus-js-client on an uploader's own site); '*' for any; "
                             "empty: same origin only.", default="")

    def validate(self) -> None:
        self.max_size = _size("uploads.max_size", self.max_size)
        self.max_chunk_size = _size("uploads.max_chunk_size", self.max_chunk_size)
        self.free_space_margin = _size("uploads.free_space_margin", self.free_space_margin)
        _check(self.max_size > 0, "uploads.max_size", "must be > 0")
        _check(0 < self.max_chunk_size <= self.max_size, "uploads.max_chunk_size",
               "must be > 0 and <= uploads.max_size")
        _check(self.expire_hours > 0, "uploads.expire_hours", "must be > 0")
        _check(self.cleanup_interval_seconds > 0, "uploads.cleanup_interval_seconds", "must be > 0")
        _check(1 <= self.max_chunks <= 1_000_000, "uploads.max_chunks", "must be 1-1000000")
        origins = [o.strip() for o in str(self.cors_origins).split(",") if o.strip()]
        _check(origins == ["*"] or all(_ORIGIN.fullmatch(o) for o in origins), "uploads.cors_origins",
               "must be '*' or comma-separated origins like https://example.com (scheme, host, optional port; "
               "no path or trailing slash)")


def _default_ladder() -> list[dict[str, Any]]:
    return [
        {"name": "360p", "height": 360, "video_bitrate": "800k", "audio_bitrate": "96k"},
        {"name": "480p", "height": 480, "video_bitrate": "1400k", "audio_bitrate": "128k"},
        {"name": "720p", "height": 720, "video_bitrate": "2800k", "audio_bitrate": "128k"},
        {"name": "1080p", "height": 1080, "video_bitrate": "5000k", "audio_bitrate": "160k"},
    ]


@dataclass
class TranscodeSettings:
    ladder: list[dict[str, Any]] = _doc("HLS renditions: name, height, video_bitrate, audio_bitrate. "
                                        "Renditions taller than the source are skipped (no upscaling).",
                                        default_factory=_default_ladder)
    segment_seconds: int = _doc("HLS segment length; keyframes are aligned to it.", default=6)
    segment_type: str = _doc("HLS segment container: fmp4 (CMAF) or mpegts.", default="fmp4")
    concurrency: int = _doc("ffmpeg processes run at once (1 suits 2 cores).", default=1)
    preset: str = _doc("x264 preset.", default="veryfast")
    max_attempts: int = _doc("Attempts per video before it is marked failed.", default=3)
    retry_backoff_seconds: float = _doc("Delay before the first retry; doubles each attempt.", default=30.0)
    lease_seconds: float = _doc("A worker that misses heartbeats this long loses its job to another.",
                                default=60.0)
    nice: int = _doc("Niceness of ffmpeg so it never starves the web server.", default=10)
    ffmpeg_path: str = _doc("ffmpeg binary; empty = PATH, else the imageio-ffmpeg wheel's.", default="")
    ffprobe_path: str = _doc("ffprobe binary; empty = PATH, else probe with ffmpeg alone.", default="")
    poll_seconds: float = _doc("How often a worker looks for jobs other processes queued.", default=2.0)
    max_runtime_factor: float = _doc("ffmpeg is stopped (job failed) after this many times the video's "
                                     "duration plus 5 minutes.", default=10.0)
    copy_source: bool = _doc("Keep a browser-playable H.264 source as the top rendition without re-encoding "
                             "(remuxed; lower renditions aligned to its keyframes); off = re-encode all.",
                             default=True)
    hardware_encoder: str = _doc("Encoder for encoded renditions: auto (a working VAAPI/QSV/NVENC, else "
                                 "libx264), none (libx264), or h264_vaapi / h264_qsv / h264_nvenc.",
                                 default="auto")

    def validate(self) -> None:
        _check(isinstance(self.ladder, list) and len(self.ladder) > 0, "transcode.ladder",
               "must be a non-empty list")
        for i, rung in enumerate(self.ladder):
            where = f"transcode.ladder[{i}]"
            _check(isinstance(rung, dict), where, "must be a table")
            missing = {"name", "height", "video_bitrate", "audio_bitrate"} - set(rung)
            _check(not missing, where, f"is missing {', '.join(sorted(missing))}")
            _check(isinstance(rung["height"], int) and 144 <= rung["height"] <= 4320, where + ".height",
                   "must be an integer 144-4320")
            _check(bool(re.fullmatch(r"[A-Za-z0-9_]+", str(rung["name"]))), where + ".name",
                   "must be letters, digits or _")
        _check(1 <= self.segment_seconds <= 30, "transcode.segment_seconds", "must be 1-30")
        _check(self.segment_type in {"fmp4", "mpegts"}, "transcode.segment_type", "must be fmp4 or mpegts")
        _check(1 <= self.concurrency <= 16, "transcode.concurrency", "must be 1-16")
        _check(self.max_attempts >= 1, "transcode.max_attempts", "must be >= 1")
        _check(self.lease_seconds >= 5, "transcode.lease_seconds", "must be >= 5")
        _check(-20 <= self.nice <= 19, "transcode.nice", "must be -20..19")
        _check(self.retry_backoff_seconds >= 0, "transcode.retry_backoff_seconds", "must be >= 0")
        _check(0.1 <= self.poll_seconds <= 3600, "transcode.poll_seconds", "must be 0.1-3600")
        _check(self.max_runtime_factor > 0, "transcode.max_runtime_factor", "must be > 0")
        _check(self.hardware_encoder in {"auto", "none", "h264_vaapi", "h264_qsv", "h264_nvenc"},
               "transcode.hardware_encoder", "must be auto, none, h264_vaapi, h264_qsv or h264_nvenc")
        for i, rung in enumerate(self.ladder):
            for key in ("video_bitrate", "audio_bitrate"):
                _check(bool(re.fullmatch(r"\d+(\.\d+)?[kKmM]?", str(rung[key]))), f"transcode.ladder[{i}].{key}",
                       f"must be a bitrate such as 800k or 5M (got {rung[key]!r})")


@dataclass
class IngestSettings:
    enabled: bool = _doc("Watch the folders while the server runs.", default=True)
    watch_dirs: list[str] = _doc("Folders to watch (recursive); empty = <data_dir>/watch.", default_factory=list)
    quiet_seconds: float = _doc("A file is taken once its size and mtime are unchanged this long.", default=5.0)
    account: str = _doc("Username that owns ingested videos (created on first use).", default="ingest")
    rescan_seconds: float = _doc("How often the folders are walked in full, besides change events (catches "
                                 "what the watcher missed, e.g. on network mounts).", default=60.0)
    force_polling: bool = _doc("Poll for changes instead of inotify (for folders on network mounts that "
                               "send no events).", default=False)
    late_subtitle_timeout_seconds: float = _doc(
        "A subtitle dropped alone (Name.ko.srt) is attached to the already imported video of the same name; "
        "one that matches no video waits this long for its video, then goes to failed/.", default=3600.0)
    shared: bool = _doc("The watch folders are one network folder every node of a cluster sees: one node at a "
                        "time watches them (another takes over when it stops). Off: each node watches its own.",
                        default=False)

    def validate(self) -> None:
        _check(self.quiet_seconds >= 0, "ingest.quiet_seconds", "must be >= 0")
        _check(self.late_subtitle_timeout_seconds > 0, "ingest.late_subtitle_timeout_seconds", "must be > 0")
        _check(bool(self.account), "ingest.account", "must not be empty")
        _check(bool(re.fullmatch(r"[A-Za-z0-9_.\-]{3,50}", self.account)), "ingest.account",
               f"must be 3-50 letters, digits, '.', '_' or '-' (got {self.account!r})")
        _check(self.rescan_seconds >= 1, "ingest.rescan_seconds", "must be >= 1")


@dataclass
class BackupSettings:
    enabled: bool = _doc("Run the backup schedule inside the server.", default=True)
    local_dir: str = _doc("Daily local backups; empty = <data_dir>/backups.", default="")
    local_retention_days: int = _doc("Local backups older than this are pruned.", default=30)
    cloud_retention_days: int = _doc("Cloud backups older than this are pruned.", default=365)
    cloud_bucket: str = _doc("Bucket for weekly encrypted backups (on the storage S3 endpoint).", default="")
    encryption_key: str = _doc("Key for cloud backups (secret: never stored in a backup).", default="")
    daily_at: str = _doc("Local time of the daily backup, HH:MM.", default="03:00")
    weekly_on: str = _doc("Day of the weekly cloud backup.", default="sunday")

    def validate(self) -> None:
        _check(self.local_retention_days >= 1, "backup.local_retention_days", "must be >= 1")
        _check(not self.encryption_key or len(self.encryption_key) >= 16, "backup.encryption_key",
               "must be at least 16 characters (a passphrase; it is stretched with scrypt)")
        _check(self.cloud_retention_days >= 1, "backup.cloud_retention_days", "must be >= 1")
        _check(bool(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.daily_at)), "backup.daily_at",
               f"must be HH:MM (got {self.daily_at!r})")
        days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        _check(self.weekly_on.lower() in days, "backup.weekly_on", f"must be a weekday name (got {self.weekly_on!r})")
        self.weekly_on = self.weekly_on.lower()


@dataclass
class SecuritySettings:
    master_key: str = _doc("The master key itself (32 bytes, base64), for every node of a cluster to share; meant "
                           "for the environment (KDRAMA_SECURITY_MASTER_KEY, e.g. a systemd EnvironmentFile), "
                           "never a config file others can read. Overrides master_key_file (secret: never "
                           "logged).", default="")
    master_key_file: str = _doc("File holding the AES-256 key (32 bytes, base64) that encrypts signing keys; "
                                "empty = <data_dir>/master.key, generated on first start with mode 0600. "
                                "A file named here must exist. Back it up apart from the database.", default="")
    access_token_minutes: float = _doc("Access JWT lifetime.", default=15.0)
    refresh_token_days: float = _doc("Refresh token lifetime.", default=30.0)
    jwt_issuer: str = _doc("JWT iss claim.", default="kdrama-tui")
    jwt_audience: str = _doc("JWT aud claim.", default="kdrama-tui-api")
    login_max_failures: int = _doc("Failed logins per account or IP within the window before 429.", default=5)
    login_window_seconds: float = _doc("Login throttling window.", default=300.0)
    playback_token_minutes: float = _doc("Lifetime of signed playback URLs of private videos.", default=240.0)
    bcrypt_rounds: int = _doc("bcrypt cost factor (each +1 doubles the time of a login).", default=12)
    signing_key_days: float = _doc("Lifetime of a user's JWT signing key pair; it is replaced automatically "
                                   "before it expires.", default=90.0)
    trusted_proxies: list[str] = _doc("Addresses or networks of reverse proxies (e.g. nginx on 127.0.0.1) whose "
                                      "X-Forwarded-For names the client for login throttling and sessions.",
                                      default_factory=list)

    def validate(self) -> None:
        _check(self.access_token_minutes > 0, "security.access_token_minutes", "must be > 0")
        _check(self.refresh_token_days > 0, "security.refresh_token_days", "must be > 0")
        _check(self.login_max_failures >= 1, "security.login_max_failures", "must be >= 1")
        _check(self.login_window_seconds > 0, "security.login_window_seconds", "must be > 0")
        _check(self.playback_token_minutes > 0, "security.playback_token_minutes", "must be > 0")
        _check(4 <= self.bcrypt_rounds <= 16, "security.bcrypt_rounds", "must be 4-16")
        _check(self.signing_key_days * 24 * 60 > 2 * self.access_token_minutes, "security.signing_key_days",
               "must be more than twice security.access_token_minutes")
        _check(bool(self.jwt_issuer), "security.jwt_issuer", "must not be empty")
        _check(bool(self.jwt_audience), "security.jwt_audience", "must not be empty")
        for i, proxy in enumerate(self.trusted_proxies):
            try:
                ipaddress.ip_network(str(proxy), strict=False)
            except ValueError:
                raise ConfigError(f"security.trusted_proxies[{i}]: not an IP address or network ({proxy!r})") from None


@dataclass
class StreamingSettings:
    cors_origins: str = _doc("Origins allowed to fetch HLS (players on other sites); '*' for any.", default="*")
    x_accel_redirect: bool = _doc("Let nginx in front send local files (X-Accel-Redirect) instead of aiohttp.",
                                  default=False)
    x_accel_prefix: str = _doc("nginx internal location that maps to the storage root.", default="/_media/")
    segment_max_age: int = _doc("Cache lifetime (s) of segments; they never change once published.",
                                default=31536000)
    playlist_max_age: int = _doc("Cache lifetime (s) of playlists.", default=5)
    cdn_max_age: int = _doc("Longest time (s) a shared cache (a CDN edge, a proxy cache) may keep public media "
                            "(s-maxage): an edge stops serving a video made private or deleted within it. "
                            "Private media are never stored by shared caches.", default=3600)
    views_per_ip_per_minute: int = _doc("View beacons accepted per IP per minute; more are dropped.", default=30)
    comments_per_ip_per_minute: int = _doc("Comments accepted per IP per minute; more get 429.", default=5)
    comment_max_length: int = _doc("Longest comment accepted, in characters.", default=2000)
    cache_seconds: float = _doc("Longest time a cached video visibility or playlist may lag behind a change "
                                "made by another process (changes made by this one apply at once).",
                                default=30.0)

    def validate(self) -> None:
        _check(self.x_accel_prefix.startswith("/") and self.x_accel_prefix.endswith("/"),
               "streaming.x_accel_prefix", "must start and end with '/'")
        _check(self.segment_max_age >= 0, "streaming.segment_max_age", "must be >= 0")
        _check(self.playlist_max_age >= 0, "streaming.playlist_max_age", "must be >= 0")
        _check(0 <= self.cdn_max_age <= 31536000, "streaming.cdn_max_age", "must be 0-31536000")
        _check(self.views_per_ip_per_minute >= 1, "streaming.views_per_ip_per_minute", "must be >= 1")
        _check(self.comments_per_ip_per_minute >= 1, "streaming.comments_per_ip_per_minute", "must be >= 1")
        _check(1 <= self.comment_max_length <= 100_000, "streaming.comment_max_length", "must be 1-100000")
        _check(0 <= self.cache_seconds <= 3600, "streaming.cache_seconds", "must be 0-3600")


SECTIONS: dict[str, type] = {
    "server": ServerSettings,
    "database": DatabaseSettings,
    "storage": StorageSettings,
    "uploads": UploadSettings,
    "transcode": TranscodeSettings,
    "ingest": IngestSettings,
    "backup": BackupSettings,
    "security": SecuritySettings,
    "streaming": StreamingSettings,
}


def _check(ok: bool, name: str, problem: str) -> None:
    if not ok:
        raise ConfigError(f"{name}: {problem}")


def _size(name: str, value: int | str) -> int:
    try:
        return parse_size(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
