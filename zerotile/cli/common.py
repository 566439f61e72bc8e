"""What every command shares: exit codes, the console, tables, option types, the tile
configuration options and the checks made before any work on files to be written."""
import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from zerotile.firmware import FormatError
from zerotile.rtl.config import TileConfig

__all__ = ["EXIT_OK", "EXIT_MISMATCH", "EXIT_BAD_INPUT", "EXIT_DEVICE", "EXIT_INTERRUPTED",
           "Console", "table_lines", "fmt", "non_negative", "positive", "add_config_args", "config_from",
           "check_output_path", "write_json"]

# The exit codes of every command (``zerotile --help`` lists them).
EXIT_OK = 0            # done; every result equal to golden
EXIT_MISMATCH = 1      # the hardware's result differs from golden (or a synthesis did not fit)
EXIT_BAD_INPUT = 2     # bad input or options: one line naming the problem, nothing run
EXIT_DEVICE = 3        # the hardware reported an error or did not finish (status, timeout)
EXIT_INTERRUPTED = 130


class Console:
    """Where a command's lines go: stdout, or stderr when stdout carries JSON (``--json -``).

    Each line leaves at once (also into a pipe: a log, ``tee``, a test waiting for it). A
    closed stdout (``| head``) ends the printing, never the work: later lines are dropped,
    files are still written and the exit code keeps its meaning."""

    def __init__(self, json_to_stdout=False):
        self.stream = sys.stderr if json_to_stdout else sys.stdout

    def say(self, *parts):
        self.write(" ".join(str(p) for p in parts) + "\n")

    def write(self, text, stream=None):
        stream = stream or self.stream
        try:
            stream.write(text)
            stream.flush()
        except BrokenPipeError:
            # the reader has gone: send the rest of this stream to /dev/null, keep working
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)

    def table(self, rows, cols):
        for line in table_lines(rows, cols):
            self.say(line)


def table_lines(rows, cols):
    """``rows`` (dicts) as right-aligned text columns ``cols``, a header line first."""
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols]
    return ["  ".join(c.rjust(w) for c, w in zip(cols, widths))] + \
        ["  ".join(str(r.get(c, "")).rjust(w) for c, w in zip(cols, widths)) for r in rows]


def fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def _whole_number(text, least, what):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a whole number, not {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {what}, not {value}")
    return value


def non_negative(text):
    """argparse type: a whole number >= 0 (argparse names the option in its message)."""
    return _whole_number(text, 0, "0 or more")


def positive(text):
    """argparse type: a whole number >= 1."""
    return _whole_number(text, 1, "at least 1")


def add_config_args(p):
    g = p.add_argument_group("tile configuration")
    g.add_argument("--pes", type=positive, help="processing elements P (default 4)")
    g.add_argument("--lanes", type=positive, help="int8 lanes per PE L (default 8)")
    g.add_argument("--bus-bits", type=positive, help="AXI4 data width (default 64)")
    g.add_argument("--spgemm-cols", type=non_negative, metavar="N",
                   help="add the SpGEMM engine, its row accumulators N columns deep (a power "
                        "of two, 64..65536; 2,048 is TileConfig.with_spgemm()'s); 0 or absent: "
                        "left out, the default tile (run --mode spgemm adds 2,048)")


def config_from(args, base=None):
    """``base`` (default ``TileConfig()``) with the command's --pes, --lanes, --bus-bits and
    --spgemm-cols where given."""
    kw = {name: getattr(args, name) for name in ("pes", "lanes", "bus_bits", "spgemm_cols")
          if getattr(args, name, None) is not None}
    return replace(base or TileConfig(), **kw)


def check_output_path(option, path, *, directory=False):
    """Fail before any work when ``path`` cannot be written: the file is opened for appending
    (nothing in it changes) and a file that did not exist is removed again. ``directory``:
    ``path`` is a folder to create or fill."""
    if path is None or path == "-":
        return
    p = Path(path)
    if directory:
        if p.exists() and not p.is_dir():
            raise FormatError(f"{option} {path}: exists and is not a directory")
        probe_dir = p if p.is_dir() else next((d for d in p.parents if d.is_dir()), Path("."))
        if not os.access(probe_dir, os.W_OK | os.X_OK):
            raise FormatError(f"{option} {path}: {probe_dir} is not writable")
        return
    if p.is_dir():
        raise FormatError(f"{option} {path}: is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise FormatError(f"{option} {path}: directory {parent} does not exist")
    existed = p.exists()
    try:
        with open(p, "ab"):
            pass
    except OSError as e:
        raise FormatError(f"{option} {path}: cannot be written ({e.strerror})") from None
    if not existed:
        p.unlink()


def write_json(console, dest, rep):
    """``rep`` as JSON to ``dest`` ('-': stdout; None: nowhere)."""
    text = json.dumps(rep, indent=2) + "\n"
    if dest == "-":
        console.write(text, sys.stdout)
    elif dest:
        Path(dest).write_text(text)
