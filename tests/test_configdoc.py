"""docs/configuration.md is generated from config.example.toml and kept in step (run `python -m
photoshelf.configdoc` after changing the example file)."""

from __future__ import annotations

from photoshelf import configdoc
from photoshelf.config import Config, as_dict


def test_configuration_page_is_up_to_date() -> None:
    assert configdoc.main(["--check"]) == 0, "docs/configuration.md is stale: run python -m photoshelf.configdoc"


def test_every_key_is_on_the_page_with_its_variable() -> None:
    page = configdoc.TARGET.read_text("utf-8")
    for section, values in as_dict(Config()).items():
        assert f"## {section}\n" in page
        for key in values:
            assert f"| `{key}` |" in page and f"`PHOTOSHELF_{section.upper()}_{key.upper()}`" in page, key
    assert "`PHOTOSHELF_ORIGINALS`, `PHOTOSHELF_LIBRARY_ORIGINALS`" in page


def test_a_changed_example_changes_the_page() -> None:
    source = configdoc.SOURCE.read_text("utf-8")
    changed = source.replace("[log]\n", "[log]\n# Where the <log> goes.\nfile = \"x|y\"\n", 1)
    page = configdoc.render(changed)
    assert page != configdoc.render(source)
    assert "| `file` | `\"x\\|y\"` | `PHOTOSHELF_LOG_FILE` | Where the &lt;log&gt; goes. |" in page
    # A key without a comment of its own points at the one above it.
    assert "| `poll_interval` | `60` | `PHOTOSHELF_WATCH_POLL_INTERVAL` | See `mode` above. |" in page
