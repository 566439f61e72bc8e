"""The register map as a SystemRDL model, built programmatically from ``rtl/regmap.py`` with
systemrdl-compiler's ``RDLImporter`` (no hand-written .rdl text to drift), so every PeakRDL
exporter works on zerotile's registers: ``zerotile regs --format rdl|html|ipxact``.

Access types: ``ro`` -> sw=r, hw=w; ``rw`` -> sw=rw, hw=r; ``w1c`` -> sw=rw, onwrite=woclr,
hw=w; ``wo`` (write strobes: DOORBELL, SOFT_RESET; any value) -> sw=w, hw=r, swmod. A register
without fields in ``FIELDS`` is one 32-bit field named after the register.
"""
from pathlib import Path

from zerotile.rtl.regmap import REGISTERS, FIELDS

__all__ = ["rdl_root", "export", "FORMATS", "ACCESS"]

FORMATS = ("rdl", "html", "ipxact")


def _access(kind):
    from systemrdl.rdltypes import AccessType, OnWriteType
    return {
        "ro": {"sw": AccessType.r, "hw": AccessType.w},
        "rw": {"sw": AccessType.rw, "hw": AccessType.r},
        "w1c": {"sw": AccessType.rw, "hw": AccessType.w, "onwrite": OnWriteType.woclr},
        "wo": {"sw": AccessType.w, "hw": AccessType.r, "swmod": True},
    }[kind]


ACCESS = ("ro", "rw", "w1c", "wo")


def rdl_root(name="zerotile"):
    """The elaborated SystemRDL root (``systemrdl.node.RootNode``) of the register map."""
    from systemrdl import RDLCompiler
    from systemrdl.importer import RDLImporter
    from systemrdl.source_ref import DirectSourceRef

    class RegmapImporter(RDLImporter):
        def import_file(self, path):           # the model comes from Python, not a file
            raise NotImplementedError

        def build(self):
            self.default_src_ref = DirectSourceRef(str(Path(__file__).parent.parent /
                                                       "rtl" / "regmap.py"), 0, 0)
            top = self.create_addrmap_definition(name)
            self.assign_property(top, "desc", "zerotile accelerator: AXI4-Lite register map "
                                              "(generated from rtl/regmap.py)")
            for r in REGISTERS:
                reg = self.create_reg_definition(r.name)
                self.assign_property(reg, "desc", r.description)
                fields = FIELDS.get(r.name) or [None]
                for f in fields:
                    fd = self.create_field_definition()
                    kind = f.access if f else r.access
                    for prop, value in _access(kind).items():
                        self.assign_property(fd, prop, value)
                    self.assign_property(fd, "desc", f.description if f else r.description)
                    inst = self.instantiate_field(fd, f.name if f else r.name,
                                                  f.lsb if f else 0, f.width if f else 32)
                    self.add_child(reg, inst)
                self.add_child(top, self.instantiate_reg(reg, r.name, r.offset))
            self.register_root_component(top)

    rdlc = RDLCompiler()
    RegmapImporter(rdlc).build()
    return rdlc.elaborate(name)


def export(fmt, path):
    """Write the register map as ``fmt`` (rdl: a .rdl file; ipxact: an IP-XACT XML file; html:
    a directory) to ``path``."""
    root = rdl_root()
    if fmt == "rdl":
        from peakrdl_systemrdl import SystemRDLExporter
        SystemRDLExporter().export(root.top, str(path))
    elif fmt == "ipxact":
        from peakrdl_ipxact import IPXACTExporter
        IPXACTExporter().export(root.top, str(path))
    elif fmt == "html":
        from peakrdl_html import HTMLExporter
        HTMLExporter().export(root.top, str(path))
    else:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
