"""``zerotile header``: the C header of the register map."""
import sys
from pathlib import Path

from .common import Console, EXIT_OK, add_config_args, config_from, check_output_path

NAME = "header"
HELP = "write the C header of the register map (from rtl/regmap.py)"
DESCRIPTION = ("Write the C header of the register map, generated from the same Python "
               "definition the RTL uses (rtl/regmap.py).")


def add_arguments(p):
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    p.add_argument("--expect-config", action="store_true",
                   help="also define ZT_EXPECTED_CONFIG / _B_WORDS / _SPGEMM_COLS for --pes etc.")
    add_config_args(p)


def run(args):
    from zerotile.firmware.c_header import c_header
    check_output_path("-o", args.output)
    text = c_header(config_from(args) if args.expect_config else None)
    console = Console()
    if args.output in (None, "-"):
        console.write(text, sys.stdout)
    else:
        Path(args.output).write_text(text)
        console.say(f"wrote {args.output}")
    return EXIT_OK
