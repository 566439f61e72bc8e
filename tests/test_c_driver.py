"""The C side of the IP: the generated register header and the bare-metal driver.

* ``firmware/c/zerotile_regs.h`` is what ``zerotile header`` generates from rtl/regmap.py now;
  it compiles warning-free as C99, C11 and C++17, and a program built from it prints every
  offset, field, descriptor offset and error code, which must equal the Python definition.
* The driver (``firmware/c/zerotile.c``) runs a chained CSR job prepared by the Python planner
  on the RTL (the native engine, through ``verif/native/driver_bridge.c``), by polling and by
  interrupt: C equals golden, the counters equal the Python driver's for the same job.
"""
import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from zerotile import firmware
from zerotile import golden
from zerotile.firmware.c_header import c_header, HEADER_NAME
from zerotile.rtl.config import TileConfig
from zerotile.rtl.regmap import (REGISTERS, FIELDS, COUNTERS, DESCRIPTOR_FIELDS, DESCRIPTOR_BYTES,
                        ErrorCode, ID_MAGIC, VERSION)
from zerotile.verif import simulate
from zerotile.verif.native import NativeModel, DramTiming

from jobs import CFG, random_csr, random_b, check_result, tamper

ROOT = Path(__file__).resolve().parent.parent
C_DIR = ROOT / "firmware" / "c"
BRIDGE = ROOT / "verif" / "native" / "driver_bridge.c"
COMPILERS = [("c99", ["gcc", "-std=c99"]), ("c11", ["gcc", "-std=c11"]),
             ("c++17", ["g++", "-std=c++17", "-x", "c++"])]
WARNINGS = ["-Wall", "-Wextra", "-Werror", "-pedantic"]

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("g++") is None,
                                reason="needs gcc and g++")


def test_committed_header_is_current():
    assert (C_DIR / HEADER_NAME).read_text() == c_header(), (
        "firmware/c/zerotile_regs.h is stale: regenerate it with "
        "`zerotile header -o firmware/c/zerotile_regs.h`")


def _dump_program():
    """C source printing every fact of the header, one `kind name value` line each."""
    lines = ['#include <stdio.h>', f'#include "{HEADER_NAME}"', "int main(void) {",
             '    printf("id %lu\\n", (unsigned long)ZT_ID_MAGIC);',
             '    printf("version %lu\\n", (unsigned long)ZT_VERSION);']
    for r in REGISTERS:
        lines.append(f'    printf("reg {r.name} %lu\\n", (unsigned long)ZT_REG_{r.name});')
    for reg, fields in FIELDS.items():
        for f in fields:
            lines.append(f'    printf("field {reg}.{f.name} %lu %lu\\n", '
                         f'(unsigned long)ZT_{reg}_{f.name}_SHIFT, '
                         f'(unsigned long)ZT_{reg}_{f.name}_MASK);')
    for f in DESCRIPTOR_FIELDS:
        lines.append(f'    printf("desc {f.name} %lu\\n", '
                     f'(unsigned long)offsetof(zt_descriptor, {f.name.lower()}));')
    lines.append('    printf("desc_size %lu\\n", (unsigned long)sizeof(zt_descriptor));')
    for e in ErrorCode:
        lines.append(f'    printf("error {e.name} %d\\n", (int)ZT_ERROR_{e.name});')
    for i, (name, _) in enumerate(COUNTERS):
        lines.append(f'    printf("counter {name} %lu\\n", (unsigned long)ZT_COUNTER_{name});')
    lines += ["    return 0;", "}"]
    return "\n".join(lines) + "\n"


def _expected_dump():
    out = [f"id {ID_MAGIC}", f"version {VERSION}"]
    out += [f"reg {r.name} {r.offset}" for r in REGISTERS]
    out += [f"field {reg}.{f.name} {f.lsb} {f.mask}" for reg, fs in FIELDS.items() for f in fs]
    out += [f"desc {f.name} {4 * f.word}" for f in DESCRIPTOR_FIELDS]
    out += [f"desc_size {DESCRIPTOR_BYTES}"]
    out += [f"error {e.name} {int(e)}" for e in ErrorCode]
    out += [f"counter {name} {i}" for i, (name, _) in enumerate(COUNTERS)]
    return out


@pytest.mark.parametrize("std, compiler", COMPILERS, ids=[c[0] for c in COMPILERS])
def test_header_compiles_and_matches_the_register_map(tmp_path, std, compiler):
    (tmp_path / "dump.c").write_text(_dump_program())
    exe = tmp_path / "dump"
    build = subprocess.run([*compiler, *WARNINGS, "-I", str(C_DIR), str(tmp_path / "dump.c"),
                            "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    got = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    assert got.splitlines() == _expected_dump()


@pytest.mark.parametrize("std, compiler", COMPILERS, ids=[c[0] for c in COMPILERS])
def test_driver_compiles_warning_free(tmp_path, std, compiler):
    build = subprocess.run([*compiler, *WARNINGS, "-ffreestanding", "-c", "-I", str(C_DIR),
                            str(C_DIR / "zerotile.c"), "-o", str(tmp_path / "zerotile.o")],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr


# --- the driver on the RTL ----------------------------------------------------------------------

class HarnessApi(ctypes.Structure):
    _fields_ = [("model", ctypes.c_void_p), ("read32", ctypes.c_void_p),
                ("write32", ctypes.c_void_p), ("run_until_irq", ctypes.c_void_p)]


class Config(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in
                ("version", "pes", "lanes", "bus_bytes", "max_chunks", "b_words")]


class Result(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("jobs_done", "error_code", "error_addr")]


class Counters(ctypes.Structure):
    _fields_ = [("value", ctypes.c_uint64 * len(COUNTERS))]


@pytest.fixture(scope="module")
def bridge(tmp_path_factory):
    out = tmp_path_factory.mktemp("bridge") / "libzerotile_bridge.so"
    build = subprocess.run(["gcc", "-std=c99", *WARNINGS, "-O1", "-shared", "-fPIC",
                            "-I", str(C_DIR), str(BRIDGE), str(C_DIR / "zerotile.c"),
                            "-o", str(out)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    lib = ctypes.CDLL(str(out))
    lib.bridge_run_chain.restype = ctypes.c_int
    lib.bridge_run_chain.argtypes = [ctypes.POINTER(HarnessApi), ctypes.POINTER(Config),
                                     ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32,
                                     ctypes.c_int, ctypes.c_uint64, ctypes.POINTER(Result),
                                     ctypes.POINTER(Counters)]
    lib.zerotile_error_name.restype = ctypes.c_char_p
    lib.zerotile_error_name.argtypes = [ctypes.c_uint32]
    lib.zerotile_status_name.restype = ctypes.c_char_p
    lib.zerotile_status_name.argtypes = [ctypes.c_int]
    return lib


def _run_with_c_driver(bridge, plan, *, use_irq, config=None):
    mem = 1 << max(16, plan.limit.bit_length())
    with NativeModel(plan.config, mem_bytes=mem, timing=DramTiming()) as model:
        model.reset()
        model.monitor((plan.base, plan.limit), [(plan.c_addr, plan.c_addr + plan.c_bytes)])
        lib = model.lib
        api = HarnessApi(model.handle, *(ctypes.cast(getattr(lib, f), ctypes.c_void_p).value
                                         for f in ("zt_read32", "zt_write32", "zt_run_until_irq")))
        lib.zt_mem_write(model.handle, plan.base, bytes(plan.image), len(plan.image))
        cfg = config or plan.config
        expected = Config(0, cfg.pes, cfg.lanes, cfg.bus_bytes, cfg.max_chunks, cfg.b_words)
        res, cnt = Result(), Counters()
        status = bridge.bridge_run_chain(ctypes.byref(api), ctypes.byref(expected),
                                         plan.first_descriptor, plan.base, plan.limit,
                                         int(use_irq), 10_000_000, ctypes.byref(res),
                                         ctypes.byref(cnt))
        buf = ctypes.create_string_buffer(plan.c_bytes)
        lib.zt_mem_read(model.handle, plan.c_addr, buf, plan.c_bytes)
        assert model.new_violations() == []
        counters = {name.lower(): cnt.value[i] for i, (name, _) in enumerate(COUNTERS)}
        return status, res, counters, plan.unpack_c(buf.raw)


@pytest.mark.parametrize("use_irq", [False, True], ids=["polling", "interrupt"])
def test_c_driver_runs_a_chained_job_on_the_rtl(bridge, use_irq):
    a, b = random_csr(48, 60, 0.15, 801), random_b(60, 2 * CFG.max_n + 20, 801)
    plan = firmware.plan(a, b, mode="csr")
    assert len(plan.jobs) == 3, "the job must be a chain"
    status, res, counters, c = _run_with_c_driver(bridge, plan, use_irq=use_irq)
    assert status == 0, bridge.zerotile_status_name(status).decode()
    assert res.jobs_done == 3 and res.error_code == 0
    ref = golden.spmm(a, b)
    assert np.array_equal(c, ref), f"C differs from golden at {np.argwhere(c != ref)[:5]}"
    py = simulate([firmware.plan(a, b, mode="csr")], engine="native", label="python driver")[0]
    check_result("python driver", py, a, b)
    assert counters == py.counters, "the C and Python drivers read different counters"


def test_c_driver_reports_a_device_error_and_a_wrong_configuration(bridge):
    a, b = random_csr(8, 9, 0.4, 802), random_b(9, 10, 802)
    bad = tamper(firmware.plan(a, b, mode="csr"), "N", 0)
    status, res, _, _ = _run_with_c_driver(bridge, bad, use_irq=False)
    assert bridge.zerotile_status_name(status) == b"DEVICE_ERROR"
    assert res.error_code == ErrorCode.BAD_DESCRIPTOR
    assert bridge.zerotile_error_name(res.error_code) == b"BAD_DESCRIPTOR"
    assert res.error_addr == bad.first_descriptor
    status, _, _, _ = _run_with_c_driver(bridge, firmware.plan(a, b, mode="csr"),
                                         use_irq=False, config=TileConfig(pes=2))
    assert bridge.zerotile_status_name(status) == b"BAD_CONFIG"
