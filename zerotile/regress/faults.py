"""The fault campaign: one fault per run, then a clean job on the same tile.

A run draws a product (dense, CSR, accumulate or int8 epilogue; the malformed and window
faults use plain dense and CSR jobs, whose checks are the descriptor's) and one fault:

* ``bus_error``: SLVERR or DECERR on one random bus beat of a random operand the job reads
  (descriptor, row pointers, column indices, values, B, old C, epilogue parameters) or of the
  result it writes. Expected: AXI_READ_ERROR / AXI_WRITE_ERROR with ERROR_ADDR the address of
  the burst that covers the beat; exact if the beat is never touched.
* ``soft_reset``: SOFT_RESET at a random cycle between the doorbell and one and a half times
  the job's estimate. Expected: the tile idle again, no error.
* ``malformed``: one rule of the descriptor or of the CSR arrays broken (``MALFORMED``),
  bypassing the firmware's checks. Expected: the rule's error code, and no write of C for the
  descriptor rules.
* ``window``: an operand moved so that the DMA window's limit or base cuts it. Expected:
  OPERAND_OUTSIDE_WINDOW before any operand transfer (only the descriptor is read).

Every run is under the DRAM model's bus monitor (no burst outside the window or the job's
result regions, none longer than max_burst or across 4 KiB), and the clean job after the
fault must be exact.
"""
import re
import time

import numpy as np

from .runs import RunSpec, engine_of, product, check_jobs, sim_options, row_of

__all__ = ["FAULTS", "MALFORMED", "draw_fault", "run_fault", "tamper"]

FAULTS = ("bus_error", "soft_reset", "malformed", "window")
_ERROR = re.compile(r"error (\w+) \(code \d+\) at address 0x([0-9a-f]+)")


def tamper(plan, field, value, job=0):
    """Rewrite one descriptor word in a plan's image (bypassing the firmware's checks)."""
    from zerotile.rtl.regmap import DESC
    addr = plan.jobs[job].desc_addr + 4 * DESC[field] - plan.base
    plan.image[addr:addr + 4] = int(value).to_bytes(4, "little")
    return plan


def _word(plan, addr, size=4):
    at = addr - plan.base
    return int.from_bytes(plan.image[at:at + size], "little")


def _put(plan, addr, value, size=4):
    at = addr - plan.base
    plan.image[at:at + size] = int(value).to_bytes(size, "little")
    return plan


def _index_bytes(f):
    from zerotile.rtl.regmap import FLAG_COLIDX16
    return 2 if f["FLAGS"] & FLAG_COLIDX16 else 4


def _rowptr_rules(plan, rng):
    """Break the row pointers of job 0: the first not 0, one decreasing, the last beyond NNZ."""
    f = plan.jobs[0].fields
    rp, m, nnz = f["A_ROWPTR"], f["M"], f["NNZ"]
    ptrs = [_word(plan, rp + 4 * i) for i in range(m + 1)]
    choices = [lambda: _put(plan, rp, 1 + int(rng.integers(nnz + 1))),
               lambda: _put(plan, rp + 4 * m, nnz + 1 + int(rng.integers(8)))]
    rising = [i for i in range(1, m + 1) if ptrs[i] > 0]
    if rising:
        # the pointer after a rising one set below it; after the last (i = M), the last set
        # below the one before it (or 0, which NNZ > 0 forbids there too)
        i = int(rng.choice(rising))
        at, value = (i + 1, ptrs[i] - 1) if i < m else (m, max(ptrs[m - 1] - 1, 0))
        choices.append(lambda: _put(plan, rp + 4 * at, value))
    return choices[int(rng.integers(len(choices)))]()


def _column_out_of_range(plan, rng):
    f = plan.jobs[0].fields
    size = _index_bytes(f)
    e = int(rng.integers(f["NNZ"]))
    bad = f["K"] + int(rng.integers(1 << (8 * size - 1) if size == 4 else 256))
    if size == 4 and rng.integers(2):
        bad = (1 << 32) - 1 - int(rng.integers(16))         # negative as int32
    return _put(plan, f["A_COLIDX"] + size * e, min(bad, (1 << 8 * size) - 1), size)


def _c_stride_too_small(plan, rng):
    f = plan.jobs[0].fields
    need = 4 * -(-f["N"] // plan.config.lanes) * plan.config.lanes
    return tamper(plan, "C_STRIDE", need - 4 * plan.config.lanes)


# (name, applies to (mode, nnz, m) -> bool, break(plan, rng) -> plan, error code name)
MALFORMED = [
    ("unknown mode", lambda *_: True, lambda p, r: tamper(p, "MODE", 7 + int(r.integers(8))),
     "BAD_DESCRIPTOR"),
    ("unknown flag", lambda *_: True, lambda p, r: tamper(
        p, "FLAGS", p.jobs[0].fields["FLAGS"] | 8 << int(r.integers(8))), "BAD_DESCRIPTOR"),
    ("zero rows", lambda *_: True, lambda p, r: tamper(p, "M", 0), "BAD_DESCRIPTOR"),
    ("zero depth", lambda *_: True, lambda p, r: tamper(p, "K", 0), "BAD_DESCRIPTOR"),
    ("zero columns", lambda *_: True, lambda p, r: tamper(p, "N", 0), "BAD_DESCRIPTOR"),
    ("M beyond MAX_M", lambda *_: True,
     lambda p, r: tamper(p, "M", _limits()[0] + 1 + int(r.integers(1000))), "BAD_DESCRIPTOR"),
    ("huge K", lambda *_: True, lambda p, r: tamper(p, "K", 0xFFFF_FFFF - int(r.integers(99))),
     "BAD_DESCRIPTOR"),
    ("N wider than the accumulators", lambda *_: True,
     lambda p, r: tamper(p, "N", p.config.max_n + 1 + int(r.integers(100))), "BAD_DESCRIPTOR"),
    ("NNZ beyond MAX_NNZ", lambda mode, *_: mode == "csr",
     lambda p, r: tamper(p, "NNZ", _limits()[1] + 1), "BAD_DESCRIPTOR"),
    ("C rows overlap", lambda *_: True, _c_stride_too_small, "BAD_DESCRIPTOR"),
    ("misaligned B", lambda *_: True,
     lambda p, r: tamper(p, "B_ADDR", p.jobs[0].fields["B_ADDR"] + 4), "BAD_DESCRIPTOR"),
    ("misaligned C", lambda *_: True,
     lambda p, r: tamper(p, "C_ADDR", p.jobs[0].fields["C_ADDR"] + 4), "BAD_DESCRIPTOR"),
    ("bad row pointers", lambda mode, nnz, m: mode == "csr", _rowptr_rules, "BAD_ROW_POINTERS"),
    ("NNZ other than the row pointers say", lambda mode, nnz, m: mode == "csr" and nnz > 0,
     lambda p, r: tamper(p, "NNZ", p.jobs[0].fields["NNZ"] + (1 if r.integers(2) else -1)),
     "BAD_ROW_POINTERS"),
    ("column index >= K", lambda mode, nnz, m: mode == "csr" and nnz > 0,
     _column_out_of_range, "COLUMN_OUT_OF_RANGE"),
    ("descriptor outside the window", lambda *_: True,
     lambda p, r: _move_descriptor(p, p.limit + 64 * int(r.integers(8))), "DESC_OUTSIDE_WINDOW"),
    ("misaligned descriptor", lambda *_: True,
     lambda p, r: _move_descriptor(p, p.jobs[0].desc_addr + 4 * int(r.integers(1, 16))),
     "DESC_OUTSIDE_WINDOW"),
]


def _limits():
    from zerotile.rtl.regmap import MAX_M, MAX_NNZ
    return MAX_M, MAX_NNZ


def _move_descriptor(plan, addr):
    plan.jobs[0].desc_addr = addr
    return plan


def _operands(plan):
    """{name: (field, address, bytes)} of what job 0 reads, and of the result it writes."""
    from zerotile.rtl.regmap import FLAG_EPILOGUE, DESCRIPTOR_BYTES
    cfg, f = plan.config, plan.jobs[0].fields
    m, k, n, nnz = f["M"], f["K"], f["N"], f["NNZ"]
    padded = -(-n // cfg.lanes) * cfg.lanes
    ops = {"descriptor": (None, plan.jobs[0].desc_addr, DESCRIPTOR_BYTES),
           "B": ("B_ADDR", f["B_ADDR"], k * padded)}
    if plan.mode == "csr":
        ops["row pointers"] = ("A_ROWPTR", f["A_ROWPTR"], 4 * (m + 1))
        if nnz:
            ops["column indices"] = ("A_COLIDX", f["A_COLIDX"], nnz * _index_bytes(f))
            ops["values"] = ("A_VALUES", f["A_VALUES"], nnz)
    else:
        ops["values"] = ("A_VALUES", f["A_VALUES"], m * k)
    epilogue = bool(f["FLAGS"] & FLAG_EPILOGUE)
    if plan.accumulate or not epilogue:
        ops["C"] = ("C_ADDR", f["C_ADDR"], m * f["C_STRIDE"])
    if epilogue:
        ops["epilogue parameters"] = ("EPI_PARAMS", f["EPI_PARAMS"], 12 * m)
        ops["int8 result"] = ("Q_ADDR", f["Q_ADDR"], m * f["C_STRIDE"] // 4)
    return ops


def _bus_error(plan, rng):
    """A Fault on one beat; (fault, kind, description)."""
    from zerotile.rtl.regmap import FLAG_EPILOGUE
    from zerotile.verif.dram import Fault, SLVERR, DECERR
    ops = _operands(plan)
    epilogue = bool(plan.jobs[0].fields["FLAGS"] & FLAG_EPILOGUE)
    result = "int8 result" if epilogue else "C"
    if rng.integers(3) == 0:
        kind, name = "write", result
    else:
        reads = [o for o in ops if o != "int8 result" and (o != "C" or plan.accumulate)]
        kind, name = "read", str(rng.choice(reads))
    _, addr, size = ops[name]
    bus = plan.config.bus_bytes
    first, last = addr // bus, (addr + size - 1) // bus
    beat = bus * int(rng.integers(first, last + 1))
    resp = SLVERR if rng.integers(2) else DECERR
    what = f"{'SLVERR' if resp == SLVERR else 'DECERR'} on the {kind} beat at {beat:#x} ({name})"
    return Fault(beat, beat + bus, resp, kind), kind, what


def _cut(plan, rng):
    """Move one operand of job 0 so that the window's limit or base cuts it; description."""
    ops = {n: o for n, o in _operands(plan).items() if o[0] and o[0] not in ("Q_ADDR",
                                                                                "EPI_PARAMS")}
    name = str(rng.choice(sorted(ops)))
    field, _, size = ops[name]
    from zerotile.rtl.regmap import DESCRIPTOR_ALIGN
    align = 4 * plan.config.lanes if field == "C_ADDR" else DESCRIPTOR_ALIGN   # as required
    steps = max(1, -(-size // align))              # aligned starts that leave part outside
    j = int(rng.integers(steps))
    if rng.integers(2):                             # crosses the limit (or starts at it)
        addr = (plan.limit // align) * align - align * j
        where = "limit"
    else:                                           # starts below the base
        addr = (plan.base // align) * align - align * (j + 1)
        where = "base"
    tamper(plan, field, addr & 0xFFFF_FFFF)
    return f"{name} ({size} bytes) moved to {addr:#x}: cut by the window's {where}"


def draw_fault(seed, index, vip_every=0):
    rng = np.random.default_rng([seed, index, 7])
    fault = FAULTS[int(rng.integers(len(FAULTS)))]
    modes = ("dense", "csr") if fault in ("malformed", "window") else \
        ("dense", "csr", "accumulate", "epilogue")
    mode = str(rng.choice(modes))
    m, k, n = (int(rng.integers(1, 65)), int(rng.integers(1, 97)), int(rng.integers(1, 97)))
    density = float(rng.choice([0.0, 0.05, 0.2, 0.5, 1.0]))
    pauses = float(rng.choice([0.0, 0.1, 0.3]))
    engine, sim, latency = engine_of(index, rng, vip_every)
    return RunSpec(seed, index, mode, m, k, n, density, pauses, latency, engine, sim, 1,
                   campaign="fault", fault=fault, vip_every=vip_every)


def _expect_error(res, code):
    """('', ERROR_ADDR) if ``res`` stopped with ``code``, else (what it did instead, None)."""
    got = _ERROR.search(res.error or "")
    if not got:
        return f"expected {code}, got {res.error or 'no error'}", None
    if got.group(1) != code:
        return f"expected {code}, got {got.group(1)}", None
    return "", int(got.group(2), 16)


def run_fault(spec):
    from zerotile import firmware
    from zerotile.rtl.config import TileConfig
    from zerotile.rtl.regmap import DESCRIPTOR_BYTES
    from zerotile.verif import simulate, BusViolationError
    t0 = time.monotonic()
    rng = np.random.default_rng([spec.seed, spec.index, 8])
    cfg = TileConfig()
    plan, a, b, c_ref, mode = product(spec.mode, spec.m, spec.k, spec.n, spec.density, rng, cfg,
                                      relu=bool(rng.integers(2)))
    clean = product("csr", int(rng.integers(1, 49)), int(rng.integers(1, 49)),
                    int(rng.integers(1, 49)), 0.3, rng, cfg)
    faults, resets, expected = [], None, None
    if spec.fault == "bus_error":
        fault, kind, what = _bus_error(plan, rng)
        faults = [[fault], []]
    elif spec.fault == "soft_reset":
        est = sum(firmware.estimate_cycles("csr" if mode != "dense" else "dense", j.fields["M"],
                                           j.fields["K"], j.fields["N"], j.fields["NNZ"], cfg)
                  for j in plan.jobs)
        cycle = int(rng.integers(1, max(2, int(1.5 * est) + 200)))
        resets, what = [cycle, None], f"soft reset {cycle} cycles after the doorbell"
    elif spec.fault == "malformed":
        nnz, m = plan.jobs[0].fields["NNZ"], plan.jobs[0].fields["M"]
        rules = [r for r in MALFORMED if r[1](plan.mode, nnz, m)]
        name, _, breaks, expected = rules[int(rng.integers(len(rules)))]
        plan = breaks(plan, rng)
        what = name
    elif spec.fault == "window":
        what, expected = _cut(plan, rng), "OPERAND_OUTSIDE_WINDOW"
    else:
        raise ValueError(f"no fault named {spec.fault!r}")
    problems, mismatches = [], 0
    try:
        results = simulate([plan, clean[0]], faults=faults or None, soft_reset_after=resets,
                           **sim_options(spec))
    except BusViolationError as e:         # the bus monitor: a forbidden transaction
        results, problems = [], [f"bus monitor: {e}"]
    outcome = ""
    if results:
        bad = results[0]
        if spec.fault == "bus_error":
            if bad.faults_hit.get(kind):
                code = "AXI_READ_ERROR" if kind == "read" else "AXI_WRITE_ERROR"
                problem, addr = _expect_error(bad, code)
                span = cfg.max_burst * cfg.bus_bytes
                if not problem and not addr <= fault.start < addr + span:
                    problem = f"ERROR_ADDR {addr:#x} does not cover {fault.start:#x}"
                problems.append(problem)
                outcome = bad.error or "no error"
            else:
                more, errs, _, first = check_jobs([(plan, a, b, c_ref, mode)], [bad],
                                                  ["faulty job (beat never read)"])
                mismatches += more
                problems += errs + [first]
                outcome = "beat never touched: exact"
        elif spec.fault == "soft_reset":
            if bad.error or not bad.soft_reset:
                problems.append(f"soft reset: {bad.error or 'no reset seen'}")
            outcome = ("reset while busy" if bad.busy_at_reset else "reset after the job")
        else:
            problems.append(_expect_error(bad, expected)[0])
            descriptor_rule = expected in ("BAD_DESCRIPTOR", "DESC_OUTSIDE_WINDOW",
                                           "OPERAND_OUTSIDE_WINDOW")
            if descriptor_rule and bad.transactions.get("write"):
                problems.append(f"C written before the rejection: {bad.transactions}")
            if expected == "OPERAND_OUTSIDE_WINDOW":
                desc_bursts = -(-DESCRIPTOR_BYTES // (cfg.bus_bytes * cfg.max_burst))
                if bad.transactions.get("read", 0) > desc_bursts:
                    problems.append(f"operands read before the rejection: {bad.transactions}")
            outcome = bad.error or "no error"
        more, errs, _, first = check_jobs([clean], results[1:], ["the clean job after it"])
        mismatches += more
        problems += errs + [first]
    problems = [p for p in problems if p]
    return row_of(spec, t0, nnz=int(a.nnz), jobs=len(plan.jobs) + len(clean[0].jobs),
                  passed=not problems, mismatches=mismatches, cycles=sum(
                      r.counters.get("cycles_busy", 0) for r in results if r.counters),
                  error="; ".join(problems), first_mismatch="", fault=f"{spec.fault}: {what}",
                  outcome=outcome)
