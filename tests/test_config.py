"""Configuration: defaults, TOML, environment, errors that name the key, and config.example.toml in step."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from photoshelf.config import as_dict, load_config
from photoshelf.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_example_config_documents_every_key_with_its_default() -> None:
    with open(REPO / "config.example.toml", "rb") as fh:
        example = tomllib.load(fh)
    defaults = as_dict(load_config(env={}))
    assert example == defaults


def test_example_config_loads(tmp_path: Path) -> None:
    config = load_config(REPO / "config.example.toml", env={})
    assert config.server.port == 2468


def test_precedence_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[index]\nworkers = 3\nbatch_size = 10\n[library]\noriginals = "/a"\n')
    config = load_config(path, env={"PHOTOSHELF_INDEX_WORKERS": "5", "PHOTOSHELF_ORIGINALS": "/b"},
                         overrides={"library.originals": "/c"})
    assert config.index.workers == 5
    assert config.index.batch_size == 10
    assert config.library.originals == "/c"


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[server]\nport = 9000\n")
    assert load_config(env={"PHOTOSHELF_CONFIG": str(path)}).server.port == 9000


def test_database_url_defaults_to_sqlite_under_storage(tmp_path: Path) -> None:
    config = load_config(env={"PHOTOSHELF_STORAGE": str(tmp_path)})
    assert config.database_url == f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.mark.parametrize(
    ("toml", "env", "key"),
    [
        ("[index]\nworkerz = 2\n", {}, "index.workerz"),
        ("[indexx]\nworkers = 2\n", {}, "indexx.workers"),
        ("[index]\nworkers = \"two\"\n", {}, "index.workers"),
        ("[index]\nworkers = -1\n", {}, "index.workers"),
        ("[thumbnails]\nformat = \"gif\"\n", {}, "thumbnails.format"),
        ("[thumbnails]\nquality = 101\n", {}, "thumbnails.quality"),
        ("[index]\nfollow_symlinks = \"yes\"\n", {}, "index.follow_symlinks"),
        ("[library]\ndatabase = \"postgres://x\"\n", {}, "library.database"),
        ("[server]\nport = 70000\n", {}, "server.port"),
        ("", {"PHOTOSHELF_INDEX_BATCH_SIZE": "lots"}, "index.batch_size"),
        ("", {"PHOTOSHELF_NOPE_KEY": "1"}, "nope.key"),
        ("", {"PHOTOSHELF_INDEX_FOLLOW_SYMLINKS": "maybe"}, "index.follow_symlinks"),
        ("index = 3\n", {}, "index"),
        ("[auth]\nmode = \"open\"\n", {}, "auth.mode"),
        ("", {"PHOTOSHELF_AUTH_MODE": "none"}, "auth.mode"),
        ("[auth]\nsession_days = 0\n", {}, "auth.session_days"),
        ("[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n", {}, "server.trusted_proxies"),
        ("[server]\nbase_url = \"photos.example.org\"\n", {}, "server.base_url"),
        ("[webdav]\nupload_dir = \"../elsewhere\"\n", {}, "webdav.upload_dir"),
        ("[webdav]\nupload_dir = \"/abs\"\n", {}, "webdav.upload_dir"),
        ("[webdav]\nquota_mb = -5\n", {}, "webdav.quota_mb"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, toml: str, env: dict[str, str], key: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(path, env=env)
    assert err.value.key == key
    assert key in str(err.value)


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[index\nworkers=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, env={})


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_env_lists_and_bools() -> None:
    config = load_config(env={"PHOTOSHELF_INDEX_EXCLUDE": "a/, *.tmp", "PHOTOSHELF_INDEX_SKIP_HIDDEN": "false"})
    assert config.index.exclude == ["a/", "*.tmp"]
    assert config.index.skip_hidden is False
