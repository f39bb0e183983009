"""The SAM translation cache (infra/template.py _TranslationCache): a template expanded once is expanded again
from the cache, with the same result; anything that changes the translator's input misses; "off" keeps nothing."""
from __future__ import annotations

from pathlib import Path

import pytest
from samtranslator.translator.translator import Translator

from infra.template import expand

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFYX_CACHE_DIR", str(tmp_path))
    return tmp_path


def translator_refuses(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("the translator ran: the cache missed")

    monkeypatch.setattr(Translator, "translate", refuse)


def test_a_second_expansion_comes_from_the_cache_and_equals_the_first(cache_dir, monkeypatch):
    first = expand(TEMPLATE)
    assert len(list((cache_dir / "sam").glob("*.json"))) == 1
    translator_refuses(monkeypatch)
    again = expand(TEMPLATE)
    assert again.template == first.template
    assert (again.code_dirs, again.layer_dirs, again.state_machine_files) == \
        (first.code_dirs, first.layer_dirs, first.state_machine_files)


def test_other_parameters_or_another_template_miss(cache_dir, monkeypatch, tmp_path_factory):
    expand(TEMPLATE)
    translator_refuses(monkeypatch)
    with pytest.raises(AssertionError, match="the cache missed"):
        expand(TEMPLATE, {"Telemetry": "off"})
    folder = tmp_path_factory.mktemp("changed")
    for name in ("functions", "step_functions"):  # what the template's local paths name
        (folder / name).symlink_to(TEMPLATE.parent / name)
    changed = folder / "template.yaml"
    changed.write_text(TEMPLATE.read_text().replace("Description: >\n", "Description: >\n  Changed.\n", 1))
    with pytest.raises(AssertionError, match="the cache missed"):
        expand(changed)


def test_an_unreadable_cache_file_is_a_miss_and_is_written_again(cache_dir):
    first = expand(TEMPLATE)
    [cached] = (cache_dir / "sam").glob("*.json")
    cached.write_text("{not json")
    assert expand(TEMPLATE).template == first.template
    assert cached.read_text().startswith("{\"")


def test_off_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFYX_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    expand(TEMPLATE)
    assert list(tmp_path.rglob("*.json")) == []


def test_a_kind_keeps_its_most_recently_used_files_and_drops_stale_partial_ones(cache_dir, monkeypatch):
    import os
    import time

    from infra.template import CacheFile

    monkeypatch.setattr(CacheFile, "KEPT", 3)
    folder = cache_dir / "asl"
    folder.mkdir()
    long_ago = time.time() - 2 * CacheFile.STALE_PARTIAL_SECONDS
    (folder / "a.pickle.1.2.tmp").write_bytes(b"left by a stopped writer")
    os.utime(folder / "a.pickle.1.2.tmp", (long_ago, long_ago))
    (folder / "b.pickle.3.4.tmp").write_bytes(b"being written now")
    files = [CacheFile("asl", f"definition {i}", ".pickle") for i in range(4)]
    for i, file in enumerate(files[:3]):
        file.write(f"program {i}".encode())
        os.utime(file.path, (long_ago + i, long_ago + i))  # written in this order, long ago
    assert files[0].read() == b"program 0"  # used now: the most recently used
    files[3].write(b"program 3")  # a fourth: the least recently used (1) goes
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [files[0].path.name, files[2].path.name, files[3].path.name, "b.pickle.3.4.tmp"])
    assert files[1].read() is None and files[2].read() == b"program 2"
    assert CacheFile("sam", "another kind", ".json").path.parent != folder  # kinds are kept apart


def test_a_file_whose_use_cannot_be_marked_is_still_read(cache_dir, monkeypatch):
    import os

    from infra.template import CacheFile

    file = CacheFile("asl", "a definition", ".pickle")
    file.write(b"program")

    def refuse(*_args, **_kwargs):
        raise PermissionError("a cache shared read-only")

    monkeypatch.setattr(os, "utime", refuse)
    assert file.read() == b"program"
