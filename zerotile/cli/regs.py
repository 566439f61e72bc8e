"""``zerotile regs``: the register map for other tools (PeakRDL exporters)."""
from zerotile.firmware import FormatError
from .common import Console, EXIT_OK, check_output_path

NAME = "regs"
HELP = "the register map for other tools: SystemRDL, HTML or IP-XACT (PeakRDL exporters)"
DESCRIPTION = ("Export the register map (rtl/regmap.py, the definition the RTL uses) through "
               "systemrdl-compiler and the PeakRDL exporters. Needs the ip extra: "
               "pip install -e '.[ip]'.")
FORMATS = ("rdl", "html", "ipxact")


def add_arguments(p):
    p.add_argument("--format", choices=FORMATS, default="rdl",
                   help="rdl: SystemRDL source (default); html: a browsable register "
                        "reference (a directory); ipxact: IP-XACT XML")
    p.add_argument("-o", "--output", required=True,
                   help="output file (rdl, ipxact) or directory (html)")


def run(args):
    try:
        from zerotile.firmware.systemrdl import export
        import systemrdl  # noqa: F401
    except ImportError:
        raise FormatError("zerotile regs needs the ip extra: pip install -e '.[ip]'") from None
    check_output_path("-o", args.output, directory=args.format == "html")
    export(args.format, args.output)
    Console().say(f"wrote {args.output} ({args.format}, from rtl/regmap.py through "
                  f"systemrdl-compiler)")
    return EXIT_OK
