"""The C header of the register map, generated from ``rtl/regmap.py`` (the definition the RTL
register file elaborates from): register offsets, field masks and shifts, the job descriptor
as a struct with compile-time checks of its size and offsets, the modes, the error codes and
their names, and the identification constants. Plain C99 (also C11 and C++), no includes
beyond ``stdint.h`` and ``stddef.h``.

``zerotile header -o zerotile_regs.h`` writes it; ``firmware/c/zerotile.h`` (the bare-metal
driver) includes it.
"""
from zerotile.rtl.regmap import (REGISTERS, FIELDS, COUNTERS, DESCRIPTOR_FIELDS, DESCRIPTOR_BYTES,
                        DESCRIPTOR_ALIGN, ErrorCode, ID_MAGIC, VERSION, MODE_DENSE, MODE_CSR,
                        MAX_M, MAX_NNZ)

__all__ = ["c_header", "HEADER_NAME"]

HEADER_NAME = "zerotile_regs.h"


def _comment(text):
    return "/* " + text.replace("*/", "* /") + " */"


def c_header(config=None):
    """The text of ``zerotile_regs.h``; with a ``TileConfig``, also that configuration's
    expected CONFIG, B_WORDS and SPGEMM_COLS values (``ZT_EXPECTED_*``)."""
    out = [
        "/* zerotile register map: GENERATED from rtl/regmap.py by `zerotile header`.",
        " * Do not edit; regenerate. Offsets are byte addresses of 32-bit registers on the",
        " * AXI4-Lite slave (s_axil_*). */",
        "#ifndef ZEROTILE_REGS_H",
        "#define ZEROTILE_REGS_H",
        "",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        f"#define ZT_ID_MAGIC 0x{ID_MAGIC:08X}u {_comment('ID reads this (ZTIL)')}",
        f"#define ZT_VERSION 0x{VERSION:08X}u {_comment('the hardware version this header describes')}",
        "",
        "/* Registers */",
    ]
    for r in REGISTERS:
        out.append(f"#define ZT_REG_{r.name} 0x{r.offset:02X}u "
                   f"{_comment(f'{r.access}: {r.description}')}")
    out += ["", "/* Register fields: ZT_<REGISTER>_<FIELD>_{SHIFT,MASK} */"]
    for reg, fields in FIELDS.items():
        for f in fields:
            out.append(f"#define ZT_{reg}_{f.name}_SHIFT {f.lsb}u")
            out.append(f"#define ZT_{reg}_{f.name}_MASK 0x{f.mask:08X}u "
                       f"{_comment(f'{f.access}: {f.description}')}")
    out += ["#define ZT_FIELD_GET(reg, field, word) \\",
            "    (((word) & ZT_##reg##_##field##_MASK) >> ZT_##reg##_##field##_SHIFT)",
            "", f"#define ZT_COUNTER_COUNT {len(COUNTERS)}u "
                f"{_comment('64-bit counters, _LO then _HI, from ZT_REG_CYCLES_BUSY_LO')}"]
    for i, (name, desc) in enumerate(COUNTERS):
        out.append(f"#define ZT_COUNTER_{name} {i}u {_comment(desc)}")
    out += ["", "/* Job descriptor modes and limits */",
            f"#define ZT_MODE_DENSE {MODE_DENSE}u", f"#define ZT_MODE_CSR {MODE_CSR}u",
            f"#define ZT_MAX_M {MAX_M}u", f"#define ZT_MAX_NNZ {MAX_NNZ}u",
            f"#define ZT_DESCRIPTOR_BYTES {DESCRIPTOR_BYTES}u",
            f"#define ZT_DESCRIPTOR_ALIGN {DESCRIPTOR_ALIGN}u", "",
            "/* Error codes (ERROR_CODE) */", "typedef enum {"]
    for e in ErrorCode:
        out.append(f"    ZT_ERROR_{e.name} = {int(e)},")
    out += ["} zt_error_code;", "",
            "#define ZT_ERROR_NAMES { " + ", ".join(f'"{e.name}"' for e in ErrorCode) + " }",
            f"#define ZT_ERROR_COUNT {len(ErrorCode)}u", "",
            f"/* One job descriptor: {DESCRIPTOR_BYTES} bytes, little-endian 32-bit words, "
            f"{DESCRIPTOR_ALIGN}-byte aligned in DRAM. */",
            "typedef struct {"]
    words = {f.word: f for f in DESCRIPTOR_FIELDS}
    for w in range(DESCRIPTOR_BYTES // 4):
        f = words.get(w)
        if f:
            out.append(f"    uint32_t {f.name.lower()}; {_comment(f.description)}")
        else:
            out.append(f"    uint32_t reserved{w}; {_comment('reserved: write 0')}")
    out += ["} zt_descriptor;", "",
            "#if defined(__cplusplus)",
            "#define ZT_STATIC_ASSERT(cond, name) static_assert(cond, #name)",
            "#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L",
            "#define ZT_STATIC_ASSERT(cond, name) _Static_assert(cond, #name)",
            "#else",
            "#define ZT_STATIC_ASSERT(cond, name) typedef char zt_static_assert_##name[(cond) ? 1 : -1]",
            "#endif",
            f"ZT_STATIC_ASSERT(sizeof(zt_descriptor) == {DESCRIPTOR_BYTES}, descriptor_size);"]
    for f in DESCRIPTOR_FIELDS:
        out.append(f"ZT_STATIC_ASSERT(offsetof(zt_descriptor, {f.name.lower()}) == {4 * f.word}, "
                   f"offset_{f.name.lower()});")
    if config is not None:
        from zerotile.rtl.regmap import config_word
        out += ["", f"/* The configuration this header was generated for: P={config.pes} "
                    f"L={config.lanes} bus={config.bus_bits} bits, SpGEMM columns "
                    f"{config.spgemm_cols} */",
                f"#define ZT_EXPECTED_CONFIG 0x{config_word(config):08X}u",
                f"#define ZT_EXPECTED_B_WORDS {config.b_words}u",
                f"#define ZT_EXPECTED_SPGEMM_COLS {config.spgemm_cols}u"]
    out += ["", "#endif /* ZEROTILE_REGS_H */", ""]
    return "\n".join(out)
