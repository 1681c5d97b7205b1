"""Typed settings: defaults -> optional TOML file -> STREAMHUB_* environment -> validation."""

from __future__ import annotations

import os
import shutil
import ssl
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ENV_PREFIX = "STREAMHUB_"


class ConfigError(Exception):
    """Settings could not be loaded; the message says which setting and why."""


class Rendition(BaseModel):
    """One rung of the transcoding ladder (the source copy is implicit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    height: int = Field(ge=90, le=4320)
    fps: float = Field(gt=0, le=120)
    video_kbps: int = Field(ge=50, le=100_000)
    audio_kbps: int = Field(default=128, ge=16, le=512)


DEFAULT_LADDER: tuple[Rendition, ...] = (
    Rendition(name="720p", height=720, fps=30, video_kbps=3000),
    Rendition(name="480p", height=480, fps=30, video_kbps=1500),
    Rendition(name="360p", height=360, fps=30, video_kbps=800),
)


class Settings(BaseModel):
    """Every setting of a StreamHub node, validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    public_host: str | None = None
    http_port: int = Field(default=8080, ge=0, le=65535)
    rtmp_port: int = Field(default=1935, ge=0, le=65535)
    chat_ws_port: int = Field(default=8081, ge=0, le=65535)
    chat_irc_port: int = Field(default=6667, ge=0, le=65535)
    redis_url: str | None = None
    chat_tls_cert: Path | None = None  # PEM certificate (chain); enables wss:// and TLS IRC
    chat_tls_key: Path | None = None
    chat_wss_port: int = Field(default=8443, ge=0, le=65535)
    chat_ircs_port: int = Field(default=6697, ge=0, le=65535)
    # the chat WebSocket URL pages give browsers (default: ws://<page host>:<chat ws port>/)
    chat_public_url: str | None = Field(default=None, pattern=r"^wss?://[^\s'\";]+$")
    chat_keepalive: float = Field(default=240.0, gt=0)
    chat_auth_limit: int = Field(default=50, ge=1)  # logins + JOINs per 10 s per client IP
    chat_reuse_port: bool = False  # several processes on one host share the chat ports
    # socket writes/s a node's fan-out may make (a token bucket shared by its rooms; a pass
    # over a room's N subscribers takes at least N / this)
    chat_write_budget: float = Field(default=50_000.0, gt=0)
    database_url: str | None = None
    ffmpeg: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # transcoding
    transcode_mode: Literal["ladder", "source_only"] = "ladder"
    ladder: tuple[Rendition, ...] = DEFAULT_LADDER
    x264_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium"
    ] = "veryfast"
    transcoder_stall_timeout: float = Field(default=10.0, gt=0)

    # seconds between live thumbnails (one JPEG per live stream, shown on the directory)
    thumbnail_interval: float = Field(default=30.0, ge=0.5, le=3600)

    # packaging
    part_target: float = Field(default=0.2, ge=0.1, le=2.0)
    segment_target: float = Field(default=2.0, ge=0.5, le=10.0)
    live_window_segments: int = Field(default=7, ge=3, le=100)

    # ingest
    reconnect_grace: float = Field(default=10.0, ge=0)
    health_sample_interval: float = Field(
        default=5.0, ge=0.5, le=300,
        description="Seconds between stream-health samples kept for the creator dashboard's "
                    "charts (12 hours of samples per live session, oldest dropped)")

    # Helix API: token-bucket points per minute per client id (+ user), as Twitch's 800
    helix_rate_limit: int = Field(default=800, ge=1, le=10_000_000)
    # seconds a validated access token is remembered (revocations on this node clear it at
    # once; on other nodes of a cluster they are seen within this time); 0 disables
    token_cache_ttl: float = Field(default=5.0, ge=0, le=300)
    # seconds one read of the live-streams list (with viewer counts) serves /helix/streams,
    # and one read of a channel's title/category/raid serves its watch pages' polls;
    # this node's own changes refresh them at once
    streams_cache_ttl: float = Field(default=1.0, ge=0, le=60)

    # web login: failed attempts allowed per account and per client IP within the window (s)
    login_failures_account: int = Field(default=5, ge=1)
    login_failures_ip: int = Field(default=20, ge=1)
    login_failure_window: float = Field(default=900.0, gt=0)
    signup_limit_ip: int = Field(
        default=20, ge=1,
        description="Accounts one client IP may create on /signup within signup_window")
    signup_window: float = Field(
        default=3600.0, gt=0, description="Seconds over which signup_limit_ip is counted")

    # raids: seconds between POST /helix/raids and the raid going out (cancelable meanwhile)
    raid_delay: float = Field(default=10.0, ge=0, le=600)

    # EventSub
    eventsub_retry_base: float = Field(
        default=30.0, gt=0, le=3600,
        description="Seconds before the first webhook retry; doubles per attempt")
    eventsub_max_attempts: int = Field(
        default=6, ge=1, le=100,
        description="Webhook attempts per message before the subscription is revoked "
                    "(notification_failures_exceeded)")
    eventsub_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds a webhook receiver has to answer")
    eventsub_poll_interval: float = Field(
        default=1.0, gt=0, le=60, description="Seconds between outbox polls when idle")
    eventsub_refresh_interval: float = Field(
        default=5.0, gt=0, le=600,
        description="Seconds between reloads of the subscription index (other nodes' changes)")
    eventsub_queue_size: int = Field(
        default=10_000, ge=1, description="Events waiting to be matched before emit drops")
    eventsub_ws_unused_timeout: float = Field(
        default=10.0, gt=0, le=600,
        description="Seconds a websocket session may stay without a subscription")

    # first start of `streamhub up`
    demo_user: str | None = "demo"

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        allowed = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
        if not value.startswith(allowed):
            raise ValueError(f"must start with one of {', '.join(allowed)}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("ladder")
    @classmethod
    def _unique_names(cls, value: tuple[Rendition, ...]) -> tuple[Rendition, ...]:
        names = [r.name for r in value]
        if len(set(names)) != len(names) or "source" in names:
            raise ValueError("rendition names must be unique and not 'source'")
        return value

    def chat_tls_context(self) -> ssl.SSLContext | None:
        """The server TLS context for chat, or None when no certificate is configured."""
        if self.chat_tls_cert is None:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(self.chat_tls_cert, self.chat_tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"STREAMHUB_CHAT_TLS_CERT/KEY: cannot load {self.chat_tls_cert}: {exc}"
            ) from None
        return ctx

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'streamhub.db').resolve()}"

    def ffmpeg_path(self) -> str:
        """The ffmpeg binary: configured path, else the imageio-ffmpeg wheel, else PATH."""
        if self.ffmpeg:
            return self.ffmpeg
        try:
            import imageio_ffmpeg

            return str(imageio_ffmpeg.get_ffmpeg_exe())
        except (ImportError, RuntimeError):
            found = shutil.which("ffmpeg")
            if found is None:
                raise ConfigError(
                    "no ffmpeg: install imageio-ffmpeg or set STREAMHUB_FFMPEG"
                ) from None
            return found


_COMPLEX = {"ladder"}


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    import json

    layer: dict[str, Any] = {}
    fields = Settings.model_fields
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name == "config":
            continue
        if name not in fields:
            raise ConfigError(f"{key}: unknown setting (known: {_known()})")
        if name in _COMPLEX:
            try:
                layer[name] = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{key}: must be JSON ({exc.msg})") from None
        else:
            layer[name] = raw
    return layer


def _known() -> str:
    return ", ".join(ENV_PREFIX + n.upper() for n in Settings.model_fields)


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings from defaults, an optional TOML file, the environment and overrides."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    path = config_file or (Path(env["STREAMHUB_CONFIG"]) if env.get("STREAMHUB_CONFIG") else None)
    if path is not None:
        try:
            with path.open("rb") as fh:
                values.update(tomllib.load(fh))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    values.update(_env_layer(env))
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
