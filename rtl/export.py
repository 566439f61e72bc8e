"""Standalone Verilog of the accelerator, with flat AXI port names."""
import re

from amaranth.back import verilog

from .accelerator import Accelerator
from .config import TileConfig

__all__ = ["accelerator_verilog", "TOP_NAME"]

TOP_NAME = "zerotile"


def accelerator_verilog(config=None, *, icarus_compatible=False):
    """Verilog text of ``Accelerator(config)`` as module ``zerotile``.

    Ports: ``clk``, ``rst`` (synchronous, active high), ``m_axi_*``, ``s_axil_*``, ``irq``.
    ``icarus_compatible`` turns Yosys' ``reg x = 0`` start-up idiom for combinational processes
    into ``initial`` blocks, which Icarus in SystemVerilog mode otherwise never triggers.
    """
    top = Accelerator(config or TileConfig())
    ports = {"_".join(str(p) for p in path): (sig, None)
             for path, _, sig in top.signature.flatten(top)}
    text = verilog.convert(top, name=TOP_NAME, ports=ports, emit_src=False)
    if icarus_compatible:
        text = _icarus_initialisers(text)
    return text


_INIT_RE = re.compile(r"^(\s*)reg (\\\S+ |\S+) = 1'h0;$", re.M)


def _icarus_initialisers(text):
    def repl(mo):
        indent, name = mo.group(1), mo.group(2)
        return f"{indent}reg {name};\n{indent}initial #0 {name} = 1'h0;"
    # Only Yosys' helper registers ("$auto$verilog_backend...") are affected.
    return re.sub(r"^(\s*)reg (\\\$auto\$verilog_backend\S* ) = 1'h0;$",
                  lambda mo: f"{mo.group(1)}reg {mo.group(2)};\n"
                             f"{mo.group(1)}initial {mo.group(2)} = 1'h0;",
                  text, flags=re.M)
