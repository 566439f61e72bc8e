"""zerotile: an open sparse/dense int8 matrix-multiplication tile. Generate its Verilog, run
a matrix product on the RTL and check it against the golden model, run the demo, synthesise.

Exit codes of every command: 0 done (results equal golden); 1 a result differs from golden
(synth: the design does not fit); 2 bad input or options (one line naming the problem, nothing
run); 3 the hardware reported an error or did not finish; 130 interrupted."""
import argparse
import sys

from zerotile.firmware import ZerotileError
from . import bench, demo, formal, generate, header, nn, readme, regress, regs, run, synth
from .common import EXIT_BAD_INPUT, EXIT_INTERRUPTED

__all__ = ["main", "build_parser", "COMMANDS"]

# One module per command: NAME, HELP, DESCRIPTION, add_arguments(parser), run(args).
COMMANDS = (generate, run, nn, demo, header, regs, bench, readme, synth, regress, formal)


def build_parser():
    """The argument parser; returns (parser, {command name: its subparser})."""
    from zerotile import __version__
    p = argparse.ArgumentParser(prog="zerotile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"zerotile {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers = {}
    for command in COMMANDS:
        cp = sub.add_parser(command.NAME, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(cp)
        cp.set_defaults(func=command.run)
        parsers[command.NAME] = cp
    return p, parsers


def _errors():
    """The exceptions that end a command with one line and exit 2."""
    from zerotile.synth.flow import SynthError
    from zerotile.verif import SimulationError
    return (ZerotileError, SimulationError, SynthError, ValueError, OSError)


def main(argv=None):
    parser, parsers = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args, extra = parser.parse_known_args(argv)
    args.argv = argv                       # a result file names the command that made it
    if extra:                  # the command's own usage, not the top level's
        parsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except _errors() as e:
        print(f"zerotile: error: {e}".splitlines()[0], file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print("zerotile: error: out of memory (the operands or C do not fit this machine)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("zerotile: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
