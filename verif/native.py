"""The native engine: the Verilated accelerator linked with a C++ harness (``native/harness.cpp``)
that owns the clock loop, an AXI4 DRAM model with settable timing, pauses and faults, and the
bus monitor. Python (through ctypes: no compile-time dependency on Python headers, one shared
library per configuration whatever the Python version) runs only at register accesses and job
boundaries.

The firmware ``Driver`` drives it unchanged through ``NativeBus``, which has the same async
interface as the cocotb bus adapter (its coroutines finish without ever suspending).
"""
import ctypes
from dataclasses import dataclass, replace
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from zerotile.firmware import Driver, DeviceTimeout

from .build_cache import cached_build
from .errors import SimulationError
from .plan_run import run_plan, ERROR_GRACE_CYCLES
from .progress import Progress
from .toolchain import WAIVERS, prepare_env, verilator_bin

__all__ = ["DramTiming", "NativeModel", "NativeBus", "run_native", "HARNESS",
           "DEFAULT_DRAM_LATENCY", "VIP_EQUIVALENT_TIMING"]

HARNESS = Path(__file__).parent / "native" / "harness.cpp"
LIBRARY = "libzerotile_native.so"
REGISTER_ACCESS_CYCLES = 10_000    # an AXI4-Lite access not answered by then is a hang

# DRAM behind a ~100 MHz fabric clock: a DDR3/DDR4 controller (e.g. a MIG or LiteDRAM) plus an
# AXI interconnect answers a read in about 150-250 ns from the address handshake, so 20
# cycles; a write is acknowledged once buffered, about 80 ns.
DEFAULT_DRAM_LATENCY = 20
DEFAULT_WRITE_LATENCY = 8


@dataclass(frozen=True)
class DramTiming:
    """Timing of the native engine's DRAM model.

    read_latency   cycles from the AR handshake to the first R beat (>= 1)
    write_latency  cycles from the last W beat to the B response (>= 1)
    max_reads      read bursts in flight (accepted AR not yet fully answered)
    max_writes     write bursts in flight (accepted AW not yet answered on B)
    pauses         probability per cycle that each channel (AR, R, AW, W, B) pauses
    """
    read_latency: int = DEFAULT_DRAM_LATENCY
    write_latency: int = DEFAULT_WRITE_LATENCY
    max_reads: int = 16
    max_writes: int = 16
    pauses: tuple = (0.0,) * 5

    def __post_init__(self):
        for name in ("read_latency", "write_latency", "max_reads", "max_writes"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        if len(self.pauses) != 5 or not all(0 <= p < 1 for p in self.pauses):
            raise ValueError(f"pauses must be 5 probabilities in [0, 1), not {self.pauses!r}")

    def with_pauses(self, probability):
        return replace(self, pauses=(float(probability),) * 5)


# cocotbext-axi's AxiRam answers an AR 2 cycles after the handshake, and B 2 cycles after the
# last W beat; its AR and R queues hold 2 entries each, so it takes a new AR only while about
# 3 bursts are in flight. With this timing the two engines agree to the cycle
# (tests/test_engines.py); with more reads in flight they drift apart when the tile's read
# streams compete (16 in flight: up to 7 % on short jobs).
VIP_EQUIVALENT_TIMING = DramTiming(read_latency=2, write_latency=2, max_reads=3)


MAKE_FLAGS = "OPT_FAST=-O2 OPT_SLOW=-O1 OPT_GLOBAL=-O2"
# A traced model serves short runs looked at in a viewer, and dumping dominates its run time:
# it is built for build time (a small tile's FST build, compiler CPU without ccache: 99 s at
# the flags above, 55 s at -O0).
WAVES_MAKE_FLAGS = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"


def _prepare_build_env():
    prepare_env()
    return verilator_bin() / "verilator"


def _build(config, waves):
    from zerotile.rtl.export import simulation_verilog, TOP_NAME

    def build(bdir):
        verilator = _prepare_build_env()
        print(f"building the native model of configuration {config.describe()}"
              f"{' with FST tracing' if waves else ''} "
              f"(first run only; cached in {bdir})...", file=sys.stderr, flush=True)
        src = bdir / f"{TOP_NAME}.v"
        src.write_text(simulation_verilog(config))
        cflags = "-fPIC -std=c++17" + (" -DZT_TRACE" if waves else "")
        cmd = [str(verilator), "--cc", "--exe", "--build", "-j", str(os.cpu_count() or 1),
               "--top-module", TOP_NAME, "--prefix", "Vzerotile",
               "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
               # Yosys writes its parallel multiplexers as casez with overlapping patterns;
               # the selects are exclusive by construction, so the overlap never matters.
               "-Wno-CASEOVERLAP",
               "--Mdir", str(bdir / "obj"), "-o", LIBRARY,
               "-CFLAGS", cflags, "-LDFLAGS", "-shared",
               "-MAKEFLAGS", WAVES_MAKE_FLAGS if waves else MAKE_FLAGS]
        if waves:
            cmd.append("--trace-fst")
        cmd += [str(WAIVERS), str(src), str(HARNESS)]
        log = bdir / "build.log"
        with open(log, "w") as f:
            f.write(" ".join(cmd) + "\n")
            f.flush()
            done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=bdir)
        if done.returncode != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:])
            raise SimulationError(f"native build failed (exit {done.returncode}); see {log}\n"
                                  f"{tail}")
        shutil.copy(bdir / "obj" / LIBRARY, bdir / LIBRARY)
        shutil.rmtree(bdir / "obj", ignore_errors=True)    # 100+ MB of objects, not needed

    bdir, _ = cached_build("native", config, extra_files=[HARNESS, WAIVERS],
                           variant="fst" if waves else "", build=build)
    return bdir / LIBRARY


_LIBS = {}


def _load(path):
    path = str(path)
    if path in _LIBS:
        return _LIBS[path]
    lib = ctypes.CDLL(path)
    u64, i32, vp = ctypes.c_uint64, ctypes.c_int, ctypes.c_void_p
    sig = {
        "zt_new": (vp, [u64, i32, i32, u64]),
        "zt_free": (None, [vp]),
        "zt_cycle": (u64, [vp]),
        "zt_set_timing": (None, [vp, i32, i32, i32, i32, ctypes.POINTER(ctypes.c_double), u64]),
        "zt_set_monitor": (None, [vp, u64, u64, ctypes.POINTER(u64), i32, i32]),
        "zt_clear_faults": (None, [vp]),
        "zt_add_fault": (None, [vp, u64, u64, i32, i32]),
        "zt_stats": (None, [vp, ctypes.POINTER(u64)]),
        "zt_violation": (ctypes.c_char_p, [vp, i32]),
        "zt_mem_write": (None, [vp, u64, ctypes.c_char_p, u64]),
        "zt_mem_read": (None, [vp, u64, ctypes.c_char_p, u64]),
        "zt_set_reset": (None, [vp, i32]),
        "zt_set_exact": (i32, [vp, i32]),
        "zt_step": (None, [vp, u64]),
        "zt_irq": (i32, [vp]),
        "zt_run_until_irq": (i32, [vp, u64]),
        "zt_read32": (i32, [vp, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32), u64]),
        "zt_write32": (i32, [vp, ctypes.c_uint32, ctypes.c_uint32, u64]),
        "zt_trace_open": (i32, [vp, ctypes.c_char_p, u64, u64]),
        "zt_trace_close": (None, [vp]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    _LIBS[path] = lib
    return lib


class NativeModel:
    """One Verilated accelerator with its DRAM model, in this process."""

    def __init__(self, config, *, mem_bytes, timing=None, seed=0, waves=False, exact=False):
        self.config = config
        self.lib = _load(_build(config, waves))
        self.handle = self.lib.zt_new(mem_bytes, config.bus_bytes, config.max_burst, seed)
        if not self.handle:
            raise SimulationError(f"native model: cannot allocate {mem_bytes} bytes of DRAM")
        self.set_timing(timing or DramTiming(), seed)
        self.lib.zt_set_exact(self.handle, int(exact))
        self._seen = 0

    def close(self):
        if self.handle:
            self.lib.zt_trace_close(self.handle)
            self.lib.zt_free(self.handle)
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def set_timing(self, timing, seed=0):
        self.timing = timing
        pauses = (ctypes.c_double * 5)(*timing.pauses)
        self.lib.zt_set_timing(self.handle, timing.read_latency, timing.write_latency,
                               timing.max_reads, timing.max_writes, pauses, seed)

    def trace(self, path, start=0, end=2**64 - 1):
        if self.lib.zt_trace_open(self.handle, str(path).encode(), start, end) != 0:
            raise RuntimeError("this native model was built without tracing")

    def reset(self, cycles=5):
        self.lib.zt_set_reset(self.handle, 1)
        self.lib.zt_step(self.handle, cycles)
        self.lib.zt_set_reset(self.handle, 0)
        self.lib.zt_step(self.handle, 2)

    def monitor(self, window, write_regions=None, grace=ERROR_GRACE_CYCLES):
        regions = [x for r in (write_regions or []) for x in r]
        arr = (ctypes.c_uint64 * max(1, len(regions)))(*regions)
        n = -1 if write_regions is None else len(write_regions)
        self.lib.zt_set_monitor(self.handle, window[0], window[1], arr, n, grace)

    def set_faults(self, faults):
        self.lib.zt_clear_faults(self.handle)
        for f in faults:
            kinds = {"read": 1, "write": 2, "both": 3}[f.kind]
            self.lib.zt_add_fault(self.handle, f.start, f.end, int(f.resp), kinds)

    def stats(self):
        out = (ctypes.c_uint64 * 5)()
        self.lib.zt_stats(self.handle, out)
        return {"transactions": {"read": out[0], "write": out[1]},
                "faults_hit": {"read": out[2], "write": out[3]}, "violations": out[4]}

    def new_violations(self):
        """Bus-monitor messages recorded since the last call."""
        n = self.stats()["violations"]
        msgs = [self.lib.zt_violation(self.handle, i).decode() for i in range(self._seen, n)]
        self._seen = n
        return msgs

    @property
    def cycle(self):
        return self.lib.zt_cycle(self.handle)


class NativeBus:
    """The firmware bus interface over a ``NativeModel`` (same coroutines as ``CocotbBus``)."""

    CHUNK = 1 << 18          # cycles between progress updates while waiting

    def __init__(self, model, progress=None):
        self.model, self.lib, self.h = model, model.lib, model.handle
        self.progress = progress
        self.jobs_done = 0

    async def read32(self, addr):
        value = ctypes.c_uint32()
        resp = self.lib.zt_read32(self.h, addr, ctypes.byref(value), REGISTER_ACCESS_CYCLES)
        if resp < 0:
            raise DeviceTimeout(f"register read at 0x{addr:02x} not answered within "
                                f"{REGISTER_ACCESS_CYCLES} cycles")
        return value.value

    async def write32(self, addr, value):
        resp = self.lib.zt_write32(self.h, addr, int(value) & 0xFFFFFFFF, REGISTER_ACCESS_CYCLES)
        if resp < 0:
            raise DeviceTimeout(f"register write at 0x{addr:02x} not answered within "
                                f"{REGISTER_ACCESS_CYCLES} cycles")

    async def write_mem(self, addr, data):
        data = bytes(data)
        self.lib.zt_mem_write(self.h, addr, data, len(data))

    async def read_mem(self, addr, length):
        buf = ctypes.create_string_buffer(length)
        self.lib.zt_mem_read(self.h, addr, buf, length)
        return buf.raw

    async def wait_interrupt(self, timeout_cycles):
        left = timeout_cycles
        while left > 0:
            step = min(left, self.CHUNK)
            c0 = self.model.cycle
            if self.lib.zt_run_until_irq(self.h, step):
                return True
            left -= self.model.cycle - c0
            if self.progress:
                self.progress.update(self.model.cycle, self.jobs_done)
        return bool(self.lib.zt_irq(self.h))

    async def clock(self, cycles):
        self.lib.zt_step(self.h, cycles)

    def cycle(self):
        return self.model.cycle


def _complete(coro):
    """Run a coroutine that never suspends (every NativeBus coroutine) to its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a native-engine coroutine suspended; only NativeBus may be awaited")


def run_native(plans, *, timeouts, timing=None, pause_probability=0.0, seed=0,
               label="simulation", faults=None, soft_reset_after=None, waves_path=None,
               waves_window=(0, 2**64 - 1), exact=False):
    """Run ``plans`` back to back on one native model; the result entries of
    ``verif.job_bench`` (one dict per plan run) and the model's total cycles."""
    timing = timing or DramTiming()
    if pause_probability:
        timing = timing.with_pauses(pause_probability)
    n = len(plans)
    faults = faults or [[] for _ in plans]
    resets = soft_reset_after or [None] * n
    mem_bytes = 1 << max(16, max(p.limit for p in plans).bit_length())
    results = []
    with NativeModel(plans[0].config, mem_bytes=mem_bytes, timing=timing, seed=seed,
                     waves=waves_path is not None, exact=exact) as model:
        if waves_path is not None:
            model.trace(waves_path, *waves_window)
        progress = Progress(label, n)
        bus = NativeBus(model, progress)
        model.reset()
        driver = Driver(bus)
        for plan, timeout, plan_faults, reset_after in zip(plans, timeouts, faults, resets):
            t0, c0 = time.monotonic(), model.cycle
            before = model.stats()
            model.monitor((plan.base, plan.limit), plan.write_regions)
            model.set_faults(plan_faults)
            entry = _complete(run_plan(driver, bus, plan, timeout, reset_after))
            after = model.stats()
            entry.update(sim_seconds=time.monotonic() - t0, sim_cycles=model.cycle - c0,
                         violations=model.new_violations(),
                         faults_hit={k: after["faults_hit"][k] - before["faults_hit"][k]
                                     for k in ("read", "write")},
                         transactions={k: after["transactions"][k] - before["transactions"][k]
                                       for k in ("read", "write")})
            results.append(entry)
            bus.jobs_done += 1
            progress.update(model.cycle, bus.jobs_done)
            if "error" in entry and "Timeout" in entry["error"]:
                break
        progress.close()
    return results
