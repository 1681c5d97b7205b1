"""Settings layering: defaults -> TOML -> environment -> overrides, with clear errors."""

from pathlib import Path

import pytest

from streamhub.config import ConfigError, Rendition, load_settings


def test_defaults() -> None:
    s = load_settings(environ={})
    assert s.http_port == 8080
    assert s.rtmp_port == 1935
    assert s.data_dir == Path("data")
    assert s.resolved_database_url.startswith("sqlite+aiosqlite:///")
    assert s.resolved_database_url.endswith("/data/streamhub.db")
    assert [r.name for r in s.ladder] == ["720p", "480p", "360p"]
    assert s.reconnect_grace == 10.0


def test_toml_then_env_then_override(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        'http_port = 9000\nrtmp_port = 9001\nx264_preset = "ultrafast"\n'
        '[[ladder]]\nname = "240p"\nheight = 240\nfps = 15\nvideo_kbps = 300\n'
    )
    s = load_settings(cfg, environ={"STREAMHUB_HTTP_PORT": "0", "STREAMHUB_DATA_DIR": "/x"})
    assert s.http_port == 0  # env beats TOML
    assert s.rtmp_port == 9001  # TOML beats default
    assert s.data_dir == Path("/x")
    assert s.ladder == (Rendition(name="240p", height=240, fps=15, video_kbps=300),)
    s2 = load_settings(cfg, environ={"STREAMHUB_HTTP_PORT": "0"}, http_port=1234)
    assert s2.http_port == 1234


def test_config_file_from_env(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text("rtmp_port = 1940\n")
    assert load_settings(environ={"STREAMHUB_CONFIG": str(cfg)}).rtmp_port == 1940


def test_ladder_from_env_json() -> None:
    s = load_settings(
        environ={"STREAMHUB_LADDER": '[{"name":"360p","height":360,"fps":30,"video_kbps":800}]'}
    )
    assert [r.height for r in s.ladder] == [360]


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"STREAMHUB_HTTP_PORT": "http"}, "STREAMHUB_HTTP_PORT"),
        ({"STREAMHUB_RTMP_PORT": "70000"}, "STREAMHUB_RTMP_PORT"),
        ({"STREAMHUB_DATABASE_URL": "mysql://x"}, "STREAMHUB_DATABASE_URL"),
        ({"STREAMHUB_NOPE": "1"}, "STREAMHUB_NOPE: unknown setting"),
        ({"STREAMHUB_LADDER": "not json"}, "must be JSON"),
        ({"STREAMHUB_X264_PRESET": "placebo"}, "STREAMHUB_X264_PRESET"),
        ({"STREAMHUB_LADDER": '[{"name":"source","height":360,"fps":30,"video_kbps":1}]'},
         "STREAMHUB_LADDER"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(environ=env)
    assert fragment in str(err.value)


def test_bad_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("http_port = = 3\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_settings(cfg, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_postgres_url_accepted() -> None:
    url = "postgresql+asyncpg://u:p@127.0.0.1:5432/db"
    assert load_settings(environ={"STREAMHUB_DATABASE_URL": url}).resolved_database_url == url


def test_ffmpeg_override() -> None:
    s = load_settings(environ={"STREAMHUB_FFMPEG": "/opt/ff/ffmpeg"})
    assert s.ffmpeg_path() == "/opt/ff/ffmpeg"
    assert Path(load_settings(environ={}).ffmpeg_path()).exists()
