"""The compile cache: keyed by everything that changes a binary; the second process compiles nothing."""

from __future__ import annotations

import os
import subprocess
import sys

from tinyhw.cache import CompileCache, cache_key, default_directory

SCRIPT = """
import tinyhw
dev = tinyhw.Device("cpu")
dev.compile("define void @cached(i32 %x, i32 %y, i32 %z) {\\n  ret void\\n}\\n")
"""


def test_key_changes_with_each_part():
    parts = ["cpu", "x86_64/znver4", "llvm-22", "add", "source"]
    keys = {cache_key(*parts)}
    for i in range(len(parts)):
        changed = list(parts)
        changed[i] = changed[i] + "'"
        keys.add(cache_key(*changed))
    assert len(keys) == len(parts) + 1


def test_put_get_and_miss(tmp_path):
    cache = CompileCache(tmp_path)
    assert cache.get("ab" * 32) is None
    cache.put("ab" * 32, b"\x7fELF binary")
    assert cache.get("ab" * 32) == b"\x7fELF binary"
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith("tmp")]


def test_disabled_and_redirected(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYHW_CACHE", "0")
    assert default_directory() is None
    CompileCache(None).put("k" * 64, b"x")
    monkeypatch.setenv("TINYHW_CACHE", "1")
    monkeypatch.setenv("TINYHW_CACHE_DIR", str(tmp_path))
    assert default_directory() == tmp_path


def test_unwritable_cache_only_loses_the_entry(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    CompileCache(blocker).put("cd" * 32, b"binary")
    assert CompileCache(blocker).get("cd" * 32) is None


def test_second_process_start_reuses_the_cache(tmp_path):
    env = {**os.environ, "TINYHW_CACHE_DIR": str(tmp_path), "TINYHW_LAYERS": "trace"}
    runs = [subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
            for _ in range(2)]  # fmt: skip
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    assert "cpu:0 compile" in runs[0].stderr
    assert "compile" not in runs[1].stderr and "load" in runs[1].stderr
