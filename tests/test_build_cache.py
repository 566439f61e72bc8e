"""The simulation build cache: keyed by everything that goes into a build, never trusted when
half-written, rebuilt (not a traceback) when a cached build turns out stale, and shared
safely by concurrent processes."""
import multiprocessing
import time
from pathlib import Path

import numpy as np

from zerotile import firmware
from zerotile.rtl.config import TileConfig
from zerotile.verif import build_cache, simulate
from zerotile.verif.build_cache import cached_build, STAMP


def _counting_build(log):
    def build(directory):
        with open(log, "a") as f:
            f.write(f"{directory.name}\n")
        (directory / "artefact").write_text("ok")
    return build


def test_half_written_or_failed_builds_are_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROTILE_BUILD_DIR", str(tmp_path / "cache"))
    log = tmp_path / "builds.log"
    cfg = TileConfig()
    d1, fresh = cached_build("unit", cfg, build=_counting_build(log))
    assert fresh and (d1 / "artefact").exists() and (d1 / STAMP).exists()
    assert cached_build("unit", cfg, build=_counting_build(log)) == (d1, False)
    # An interrupted build: files but no stamp. It is wiped and built again.
    (d1 / STAMP).unlink()
    (d1 / "junk.o").write_text("half")
    d2, fresh = cached_build("unit", cfg, build=_counting_build(log))
    assert d2 == d1 and fresh and not (d1 / "junk.o").exists()

    def failing(directory):
        (directory / "partial").write_text("x")
        raise RuntimeError("compiler crashed")
    (d1 / STAMP).unlink()
    try:
        cached_build("unit", cfg, build=failing)
    except RuntimeError:
        pass
    assert not (d1 / STAMP).exists(), "a failed build must not count as one"
    assert cached_build("unit", cfg, build=_counting_build(log))[1]
    assert len(log.read_text().splitlines()) == 3


def test_key_covers_configuration_and_toolchain(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEROTILE_BUILD_DIR", str(tmp_path / "cache"))
    log = tmp_path / "builds.log"
    base, _ = cached_build("unit", TileConfig(), build=_counting_build(log))
    other_cfg, _ = cached_build("unit", TileConfig(pes=2), build=_counting_build(log))
    monkeypatch.setattr(build_cache, "toolchain_fingerprint",
                        lambda sim: "cocotb 2.1.0 at /some/other/venv")
    other_venv, _ = cached_build("unit", TileConfig(), build=_counting_build(log))
    assert len({base, other_cfg, other_venv}) == 3
    # The real fingerprint names the interpreter, cocotb and the simulator with their places.
    monkeypatch.undo()
    real = build_cache.toolchain_fingerprint("verilator")
    for word in ("python", "cocotb", "verilator", "c++"):
        assert word in real


def test_sources_edited_after_import_are_refused(tmp_path, monkeypatch):
    """A process that imported the RTL and then sees it edited on disk must not build: its
    modules may be the old ones, and the build would be stored under a key it cannot trust.
    A build it already has for the sources it imported stays usable."""
    from zerotile import rtl
    monkeypatch.setenv("ZEROTILE_BUILD_DIR", str(tmp_path / "cache"))
    log = tmp_path / "log"
    key = build_cache.source_digest()
    built, fresh = cached_build("unit", TileConfig(), build=_counting_build(log))
    assert fresh
    # as if rtl/spgemm_engine.py had been edited on disk since this process imported it
    with monkeypatch.context() as mp:
        mp.setitem(rtl.SOURCE_DIGESTS, "spgemm_engine.py", "0" * 64)
        assert build_cache.source_digest() != key
        try:
            cached_build("unit", TileConfig(), build=_counting_build(log))
        except build_cache.StaleSourcesError as e:
            assert "rtl/spgemm_engine.py" in str(e) and "restart" in str(e), str(e)
        else:
            raise AssertionError("a build from stale imported sources was not refused")
    assert len(log.read_text().splitlines()) == 1, "nothing more may be built"
    assert cached_build("unit", TileConfig(), build=_counting_build(log)) == (built, False)


def _build_concurrently(root, log):
    import os
    os.environ["ZEROTILE_BUILD_DIR"] = root

    def slow(directory):
        time.sleep(0.5)
        _counting_build(log)(directory)
    return str(cached_build("unit", TileConfig(), build=slow)[0])


def test_concurrent_processes_share_one_build(tmp_path):
    log = tmp_path / "builds.log"
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(3) as pool:
        dirs = pool.starmap(_build_concurrently, [(str(tmp_path / "cache"), str(log))] * 3)
    assert len(set(dirs)) == 1
    assert len(log.read_text().splitlines()) == 1, "built more than once"


def test_stale_cocotb_build_is_rebuilt_not_a_traceback(tmp_path, monkeypatch, capsys):
    """The reinstall scenario: a cached cocotb build whose make files name a venv that is gone.
    (A new venv gets its own key; this covers any other way a build goes stale.)"""
    monkeypatch.setenv("ZEROTILE_BUILD_DIR", str(tmp_path / "cache"))
    a = np.array([[1, 0, 2], [0, 3, 0]], np.int8)
    b = np.arange(6, dtype=np.int8).reshape(3, 2)
    # a small tile: this test builds its cocotb model twice, in a cache of its own
    small = TileConfig(pes=1, lanes=4, bus_bits=32, b_words=256, max_chunks=2,
                       pe_fifo_depth=4, max_burst=8, read_fifo_beats=8)
    plan = firmware.plan(a, b, mode="csr", config=small)
    first = simulate([plan], engine="vip", label="first")[0]
    assert first.error is None
    [bdir] = [d for d in (tmp_path / "cache").iterdir() if d.is_dir()]
    import cocotb
    share = str(Path(cocotb.__file__).parent)
    stale = 0
    for dep in bdir.glob("*.d"):
        text = dep.read_text()
        if share in text:
            dep.write_text(text.replace(share, "/nonexistent/old-venv/cocotb"))
            stale += 1
    assert stale, "no dependency file names cocotb: the scenario did not apply"
    capsys.readouterr()
    again = simulate([firmware.plan(a, b, mode="csr", config=small)], engine="vip",
                     label="again")[0]
    assert again.error is None
    assert np.array_equal(again.c, a.astype(np.int32) @ b.astype(np.int32))
    assert "stale" in capsys.readouterr().err
