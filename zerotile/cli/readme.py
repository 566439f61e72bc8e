"""``zerotile readme``: the generated sections of README.md and docs/."""
from .common import Console, EXIT_OK, EXIT_MISMATCH

NAME = "readme"
HELP = "regenerate the figures of README.md and docs/ from the committed result files"
DESCRIPTION = ("Every figure in README.md and docs/ sits between GENERATED markers and is "
               "rendered from a committed result file (bench CSVs, synthesis JSON, the "
               "register map). --check writes nothing and exits 1 if any is stale.")


def add_arguments(p):
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 if any section is stale")
    p.add_argument("section", nargs="*", help="only these sections")


def run(args):
    from zerotile import docs
    from zerotile.firmware import FormatError
    if not docs.README.is_file():
        raise FormatError(f"zerotile readme works on a checkout (installed editable); "
                          f"{docs.README} is not there")
    stale = docs.write_sections(args.section or None, check=args.check)
    console = Console()
    if args.check:
        console.say("stale sections: " + ", ".join(stale) if stale else
                    "README and docs are current")
        return EXIT_MISMATCH if stale else EXIT_OK
    console.say(f"rewrote {', '.join(stale)}" if stale else "README and docs are current")
    return EXIT_OK
