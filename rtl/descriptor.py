"""The job descriptor as the hardware reads it: its words by name, SpGEMM's names for the words
that job uses differently, and the FLAGS bits by name (all from ``rtl.regmap``)."""
from amaranth.hdl import Value, unsigned
from amaranth.lib import data

from .regmap import DESC, SPGEMM_FIELDS, FLAG_ACCUMULATE, FLAG_COLIDX16, FLAG_EPILOGUE

__all__ = ["descriptor_layout", "spgemm_view", "flags_view"]


def descriptor_layout():
    """Word ``i`` of the descriptor as the field ``regmap.DESC`` names, 32 bits each."""
    return data.StructLayout({name: 32 for name in sorted(DESC, key=DESC.get)})


def spgemm_view(job):
    """A view of the descriptor ``job`` (a ``descriptor_layout`` value) under the names a
    SpGEMM job gives its words (``regmap.SPGEMM_FIELDS``: ``B_ROWPTR``, ``B_COLIDX``,
    ``B_VALUES``, ``B_NNZ``, ``C_CAPACITY``). The same bits, no new signal."""
    layout = data.FlexibleLayout(32 * len(DESC), {
        name: data.Field(unsigned(32), 32 * DESC[word]) for name, word in SPGEMM_FIELDS.items()})
    return data.View(layout, Value.cast(job))


def flags_view(flags):
    """A view of the FLAGS word with its bits by name: ``accumulate``, ``colidx16``,
    ``epilogue`` (``regmap.FLAG_*``)."""
    layout = data.FlexibleLayout(32, {
        name: data.Field(unsigned(1), flag.bit_length() - 1)
        for name, flag in (("accumulate", FLAG_ACCUMULATE), ("colidx16", FLAG_COLIDX16),
                           ("epilogue", FLAG_EPILOGUE))})
    return data.View(layout, flags)
