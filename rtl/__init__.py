"""The hardware: Amaranth components, the configuration and the register map (plain data)."""

import hashlib as _hashlib
from pathlib import Path as _Path

# The RTL sources as this process found them when it first imported the package (name ->
# SHA-256). A build is keyed by these, and refused if the files have changed since: this
# process's modules may be the older ones (see ``verif.build_cache.source_digest``).
def source_digests():
    """The RTL sources on disk now: file name -> SHA-256 of its contents."""
    return {p.name: _hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(_Path(__file__).parent.glob("*.py"))}


SOURCE_DIGESTS = source_digests()

# Verilator lint waivers for the Verilog of rtl.export (each waiver with its reason inside).
LINT_WAIVERS = _Path(__file__).parent / "lint_waivers.vlt"
