"""Configuration: one typed object built once from defaults, a TOML file, PHOTOSHELF_* env and flags."""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photoshelf.errors import ConfigError


@dataclass
class LibraryConfig:
    originals: str = "~/Pictures"
    storage: str = "~/.local/share/photoshelf"
    database: str = ""


@dataclass
class IndexConfig:
    workers: int = 0
    batch_size: int = 32
    max_megapixels: int = 250
    follow_symlinks: bool = True
    skip_hidden: bool = True
    exclude: list[str] = field(default_factory=list)
    purge_missing_after_days: int = 30
    read_takeout_json: bool = True


@dataclass
class ThumbnailsConfig:
    format: str = "jpeg"
    quality: int = 85
    tile_size: int = 224
    fit_size: int = 720
    preview_size: int = 1920


@dataclass
class ExiftoolConfig:
    path: str = "exiftool"


@dataclass
class WatchConfig:
    mode: str = "auto"
    poll_interval: int = 60
    settle_seconds: float = 2.0
    heartbeat_seconds: int = 10


@dataclass
class SidecarsConfig:
    enabled: bool = True
    location: str = "storage"


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 2468
    # Host headers answered; empty: localhost names plus this machine's own names and addresses; "*": any.
    allowed_hosts: list[str] = field(default_factory=list)
    # The public URL when served under a path or behind a proxy (https://photos.example.org/shelf).
    base_url: str = ""
    # Proxies whose X-Forwarded-For / -Proto / -Host headers are believed (addresses or CIDR networks).
    trusted_proxies: list[str] = field(default_factory=list)


@dataclass
class AuthConfig:
    mode: str = "password"
    # How long a login lasts without use, in days.
    session_days: int = 30
    # "auto": Secure cookies when the request came over HTTPS (or base_url is https); "always"; "never".
    secure_cookies: str = "auto"
    # Failed logins allowed per client address and per user name within login_window_minutes.
    login_attempts_per_ip: int = 20
    login_attempts_per_user: int = 10
    login_window_minutes: int = 15


@dataclass
class WebdavConfig:
    enabled: bool = True
    # Members' uploads land in <originals>/<upload_dir>/<user>/.
    upload_dir: str = "Upload"
    # Per-user upload quota in MB (0: none).
    quota_mb: int = 0
    # Admins may browse (read-only) the whole originals folder under /webdav/originals/.
    browse_originals: bool = False


@dataclass
class ViewerConfig:
    page_size: int = 150
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "&copy; OpenStreetMap contributors"
    dark_mode: str = "auto"


@dataclass
class ModelsConfig:
    enabled: bool = True
    path: str = ""
    threads: int = 0
    batch_size: int = 16
    idle_unload_seconds: int = 300
    faces: bool = True
    face_model: str = "dlib"
    face_min_size: int = 40
    face_min_score: float = 0.0
    face_upsample: int = 1
    face_distance: float = 0.5
    face_cluster_min: int = 2
    labels: bool = True
    label_threshold: float = 0.1
    label_rules: str = ""
    tf_labels_model: str = ""
    text_search: bool = True
    text_quantize: str = "none"
    clip_model: str = "ViT-B-32__openai"
    duplicate_similarity: float = 0.97
    ocr: bool = True
    ocr_min_confidence: float = 0.7
    ocr_min_text_area: float = 0.002
    ocr_max_side: int = 640
    ocr_rec_model: str = ""


@dataclass
class VideoConfig:
    transcode: bool = True
    codecs: list[str] = field(default_factory=lambda: [
        "mpeg4", "msmpeg4v1", "msmpeg4v2", "msmpeg4v3", "wmv1", "wmv2", "wmv3", "vc1", "mpeg1video", "mpeg2video",
        "mjpeg", "h263", "flv1", "theora", "dvvideo", "prores", "cinepak", "indeo3", "indeo5", "svq1", "svq3"])
    containers: list[str] = field(default_factory=lambda: [
        "avi", "wmv", "asf", "mts", "m2ts", "ts", "mpg", "mpeg", "vob", "flv", "3gp", "3g2", "mkv", "dv"])
    max_height: int = 1080
    live_hevc: bool = True
    ffmpeg: str = "ffmpeg"


@dataclass
class LogConfig:
    level: str = "info"


@dataclass
class Config:
    library: LibraryConfig = field(default_factory=LibraryConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    thumbnails: ThumbnailsConfig = field(default_factory=ThumbnailsConfig)
    exiftool: ExiftoolConfig = field(default_factory=ExiftoolConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    sidecars: SidecarsConfig = field(default_factory=SidecarsConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    webdav: WebdavConfig = field(default_factory=WebdavConfig)
    viewer: ViewerConfig = field(default_factory=ViewerConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    log: LogConfig = field(default_factory=LogConfig)

    # Derived paths, resolved once.
    @property
    def originals_path(self) -> Path:
        return Path(os.path.expanduser(self.library.originals)).resolve()

    @property
    def storage_path(self) -> Path:
        return Path(os.path.expanduser(self.library.storage)).resolve()

    @property
    def database_url(self) -> str:
        if self.library.database:
            return self.library.database
        return f"sqlite:///{self.storage_path / 'catalog.db'}"

    @property
    def thumbs_path(self) -> Path:
        return self.storage_path / "thumbs"

    @property
    def models_path(self) -> Path:
        """Where user-installed model files (CLIP exports) live: models.path, or <storage>/models."""
        if self.models.path:
            return Path(os.path.expanduser(self.models.path)).resolve()
        return self.storage_path / "models"

    @property
    def worker_count(self) -> int:
        return self.index.workers or max(1, os.cpu_count() or 1)


# Short environment names the README documents, besides the generic PHOTOSHELF_<SECTION>_<KEY>.
ENV_ALIASES = {
    "PHOTOSHELF_ORIGINALS": "library.originals",
    "PHOTOSHELF_STORAGE": "library.storage",
    "PHOTOSHELF_DATABASE": "library.database",
}

CHOICES = {
    "thumbnails.format": ("jpeg", "webp"),
    "log.level": ("debug", "info", "warning", "error"),
    "viewer.dark_mode": ("auto", "light", "dark"),
    "models.text_quantize": ("none", "gather", "all"),
    "watch.mode": ("auto", "inotify", "poll"),
    "sidecars.location": ("storage", "originals"),
    "auth.mode": ("password", "public"),
    "auth.secure_cookies": ("auto", "always", "never"),
}

# PHOTOSHELF_* variables that are not configuration keys (read where they are used).
NOT_CONFIG_ENV = ("PHOTOSHELF_CONFIG", "PHOTOSHELF_ADMIN_PASSWORD")


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def _cast(key: str, typ: Any, value: Any, from_env: bool) -> Any:
    """Cast a raw value (TOML value or env string) to the field's type, or raise ConfigError naming `key`."""
    if typ is bool:
        if isinstance(value, bool):
            return value
        if from_env and isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(key, f"expected true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(key, f"expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if from_env and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(key, f"expected an integer, got {value!r}")
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_env and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(key, f"expected a number, got {value!r}")
    if typ is str:
        if isinstance(value, str):
            return value
        raise ConfigError(key, f"expected a string, got {value!r}")
    if typing.get_origin(typ) is list:
        if from_env and isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise ConfigError(key, f"expected a list of strings, got {value!r}")
    raise ConfigError(key, f"unsupported type {typ!r}")  # pragma: no cover - schema bug


def _set(config: Config, dotted: str, value: Any, from_env: bool) -> None:
    section_name, _, key = dotted.partition(".")
    sections = _sections()
    if section_name not in sections:
        raise ConfigError(dotted, f"unknown section [{section_name}] (known: {', '.join(sections)})")
    section = getattr(config, section_name)
    hints = typing.get_type_hints(type(section))
    if key not in hints:
        raise ConfigError(dotted, f"unknown key (known in [{section_name}]: {', '.join(hints)})")
    cast = _cast(dotted, hints[key], value, from_env)
    if dotted in CHOICES and cast not in CHOICES[dotted]:
        raise ConfigError(dotted, f"must be one of {', '.join(CHOICES[dotted])}, got {cast!r}")
    setattr(section, key, cast)


def _validate(config: Config) -> None:
    positive = {
        "index.batch_size": config.index.batch_size,
        "index.max_megapixels": config.index.max_megapixels,
        "thumbnails.tile_size": config.thumbnails.tile_size,
        "thumbnails.fit_size": config.thumbnails.fit_size,
        "thumbnails.preview_size": config.thumbnails.preview_size,
        "server.port": config.server.port,
        "viewer.page_size": config.viewer.page_size,
        "watch.poll_interval": config.watch.poll_interval,
        "watch.heartbeat_seconds": config.watch.heartbeat_seconds,
        "models.batch_size": config.models.batch_size,
        "video.max_height": config.video.max_height,
        "models.face_min_size": config.models.face_min_size,
        "models.face_distance": config.models.face_distance,
        "models.face_cluster_min": config.models.face_cluster_min,
        "auth.session_days": config.auth.session_days,
        "auth.login_attempts_per_ip": config.auth.login_attempts_per_ip,
        "auth.login_attempts_per_user": config.auth.login_attempts_per_user,
        "auth.login_window_minutes": config.auth.login_window_minutes,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(key, f"must be greater than 0, got {value}")
    if config.watch.settle_seconds < 0:
        raise ConfigError("watch.settle_seconds", "must be 0 or more")
    if config.models.threads < 0:
        raise ConfigError("models.threads", "must be 0 (one per CPU core) or more")
    if not 0 <= config.models.face_upsample <= 3:
        raise ConfigError("models.face_upsample", f"must be between 0 and 3, got {config.models.face_upsample}")
    if not 0 < config.models.label_threshold <= 1:
        raise ConfigError("models.label_threshold", f"must be above 0 and at most 1, got {config.models.label_threshold}")
    if not 0 <= config.models.duplicate_similarity <= 1:
        raise ConfigError("models.duplicate_similarity",
                          f"must be between 0 (off) and 1, got {config.models.duplicate_similarity}")
    if not 0 < config.models.ocr_min_confidence <= 1:
        raise ConfigError("models.ocr_min_confidence",
                          f"must be above 0 and at most 1, got {config.models.ocr_min_confidence}")
    if not 0 <= config.models.ocr_min_text_area < 1:
        raise ConfigError("models.ocr_min_text_area",
                          f"must be 0 or more and below 1, got {config.models.ocr_min_text_area}")
    if not 160 <= config.models.ocr_max_side <= 4096:
        raise ConfigError("models.ocr_max_side", f"must be between 160 and 4096, got {config.models.ocr_max_side}")
    if config.index.workers < 0:
        raise ConfigError("index.workers", "must be 0 (one per CPU core) or more")
    if config.index.purge_missing_after_days < 0:
        raise ConfigError("index.purge_missing_after_days", "must be 0 or more")
    if not 1 <= config.thumbnails.quality <= 100:
        raise ConfigError("thumbnails.quality", f"must be between 1 and 100, got {config.thumbnails.quality}")
    if config.server.port > 65535:
        raise ConfigError("server.port", f"must be at most 65535, got {config.server.port}")
    if config.webdav.quota_mb < 0:
        raise ConfigError("webdav.quota_mb", "must be 0 (no quota) or more")
    upload = config.webdav.upload_dir
    if not upload or upload.startswith(("/", "\\")) or any(p in ("", ".", "..") for p in upload.replace("\\", "/").split("/")):
        raise ConfigError("webdav.upload_dir", f"must be a relative folder inside the originals, got {upload!r}")
    import ipaddress

    for proxy in config.server.trusted_proxies:
        try:
            ipaddress.ip_network(proxy.strip(), strict=False)
        except ValueError:
            raise ConfigError("server.trusted_proxies", f"{proxy!r} is not an address or a network (CIDR)") from None
    base = config.server.base_url
    if base and not (base.startswith("http://") or base.startswith("https://")):
        raise ConfigError("server.base_url", f"must start with http:// or https://, got {base!r}")
    storage, originals = config.storage_path, config.originals_path
    if storage == originals or originals in storage.parents:
        raise ConfigError("library.storage", f"{storage} is the originals folder {originals} or inside it: the "
                          "catalog and thumbnails must live outside it (photoshelf never writes into the originals)")
    url = config.library.database
    if url and not (url.startswith("sqlite:///") or url.startswith("mysql://") or url.startswith("mariadb://")):
        raise ConfigError("library.database", f"must start with sqlite:/// or mysql://, got {url!r}")


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration: defaults, then the TOML file, then PHOTOSHELF_* variables, then overrides.

    `path` defaults to $PHOTOSHELF_CONFIG when set. Overrides are dotted keys ("library.originals").
    """
    env = os.environ if env is None else env
    config = Config()
    if path is None and env.get("PHOTOSHELF_CONFIG"):
        path = env["PHOTOSHELF_CONFIG"]
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError("--config", f"file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", f"{path} is not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError("--config", f"{path} is not a TOML text file (not UTF-8 text)") from None
        except OSError as exc:
            raise ConfigError("--config", f"cannot read {path}: {exc.strerror}") from None
        for section_name, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(section_name, "expected a [section] table")
            for key, value in table.items():
                _set(config, f"{section_name}.{key}", value, from_env=False)
    for name, value in env.items():
        if not name.startswith("PHOTOSHELF_") or name in NOT_CONFIG_ENV or name.startswith("PHOTOSHELF_TEST_"):
            continue
        if name in ENV_ALIASES:
            _set(config, ENV_ALIASES[name], value, from_env=True)
            continue
        rest = name[len("PHOTOSHELF_"):].lower()
        section_name, _, key = rest.partition("_")
        if not key:
            raise ConfigError(name, "environment variables are PHOTOSHELF_<SECTION>_<KEY>")
        _set(config, f"{section_name}.{key}", value, from_env=True)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set(config, dotted, value, from_env=isinstance(value, str))
    _validate(config)
    return config


def as_dict(config: Config) -> dict[str, dict[str, Any]]:
    """The configuration as plain data (for `photoshelf config` and the docs test)."""
    return {name: dataclasses.asdict(getattr(config, name)) for name in _sections()}
