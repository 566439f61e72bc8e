"""Standalone Verilog of the accelerator, with flat AXI port names."""
import functools
import re

from amaranth.back import verilog, rtlil
from amaranth.hdl import Value

from .accelerator import Accelerator
from . import LINT_WAIVERS
from .config import TileConfig

__all__ = ["accelerator_verilog", "simulation_verilog", "accelerator_rtlil", "component_rtlil",
           "flat_ports", "TOP_NAME", "LINT_WAIVERS"]

TOP_NAME = "zerotile"



def flat_ports(component):
    """``ports=`` argument naming every port of ``component`` by its path joined with ``_``."""
    return {"_".join(str(p) for p in path): (Value.cast(sig), None)
            for path, _, sig in component.signature.flatten(component)}


def _top_and_ports(config):
    top = Accelerator(config or TileConfig())
    return top, flat_ports(top)


def component_rtlil(component, name):
    """Yosys RTLIL of any component (one block synthesised on its own, for timing work)."""
    return rtlil.convert(component, name=name, ports=flat_ports(component), emit_src=False)


def accelerator_rtlil(config=None):
    """Yosys RTLIL of ``Accelerator(config)`` as module ``zerotile`` (for synthesis flows)."""
    return _rtlil(config or TileConfig())


# Elaboration is the slow part of every export (~10 s for the default tile): one per
# configuration per process, shared by the Verilog, the simulation netlist and synthesis.
@functools.lru_cache(maxsize=8)
def _rtlil(config):
    top, ports = _top_and_ports(config)
    return rtlil.convert(top, name=TOP_NAME, ports=ports, emit_src=False)


def accelerator_verilog(config=None, *, icarus_compatible=False):
    """Verilog text of ``Accelerator(config)`` as module ``zerotile``.

    Ports: ``clk``, ``rst`` (synchronous, active high), ``m_axi_*``, ``s_axil_*``, ``irq``.
    ``icarus_compatible`` turns Yosys' ``reg x = 0`` start-up idiom for combinational processes
    into ``initial`` blocks, which Icarus in SystemVerilog mode otherwise never triggers.
    """
    # what ``verilog.convert`` does after elaborating: Yosys' write_verilog on the RTLIL
    text = verilog._convert_rtlil_text(accelerator_rtlil(config), strip_internal_attrs=False)
    if icarus_compatible:
        text = _icarus_initialisers(text)
    return text


def _icarus_initialisers(text):
    # Only Yosys' helper registers ("$auto$verilog_backend...") are affected.
    return re.sub(r"^(\s*)reg (\\\$auto\$verilog_backend\S* ) = (?:1'h)?0;$",
                  lambda mo: f"{mo.group(1)}reg {mo.group(2)};\n"
                             f"{mo.group(1)}initial {mo.group(2)} = 1'h0;",
                  text, flags=re.M)


# Yosys passes for the simulation netlist: processes to multiplexers, one flat module, the
# cheap optimisations. Verilator then evaluates about 40 % more cycles per second than on the
# hierarchical, process-style Verilog of ``accelerator_verilog`` (measured: 1.0 M -> 1.44 M
# cycles/s on the default configuration).
_SIMULATION_PASSES = ["proc", "flatten", "opt -fast", "memory_collect", "opt_clean -purge"]


def simulation_verilog(config=None):
    """Verilog of ``Accelerator(config)`` for fast simulation: module ``zerotile`` with the same
    ports and behaviour as ``accelerator_verilog``, flattened and optimised by Yosys (the one
    Amaranth bundles). Internal names keep their hierarchy as ``pe0.name``; multiplexers that
    Yosys proves unreachable carry ``x``. The native engine simulates it; the engine agreement
    test (tests/test_engines.py) checks it cycle for cycle against the plain Verilog."""
    # amaranth.back.verilog runs Yosys with a fixed script; the same Yosys, found the same way,
    # runs ours (Amaranth's toolchain module, pinned with Amaranth < 0.6).
    from amaranth._toolchain.yosys import find_yosys
    yosys = find_yosys(lambda ver: ver >= (0, 40))
    script = [f"read_rtlil <<rtlil\n{accelerator_rtlil(config)}\nrtlil", *_SIMULATION_PASSES,
              "write_verilog -norename"]
    return yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True)
