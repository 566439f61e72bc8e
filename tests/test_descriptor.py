"""The hardware's views of the job descriptor name the same bits as the firmware's packing
(``regmap.SPGEMM_FIELDS``, ``regmap.FLAG_*``)."""
from amaranth.hdl import Module, Signal

from jobs import run_block
from zerotile.rtl.descriptor import descriptor_layout, spgemm_view, flags_view
from zerotile.rtl.regmap import (DESC, SPGEMM_FIELDS, FLAG_ACCUMULATE, FLAG_COLIDX16,
                                 FLAG_EPILOGUE)


def test_spgemm_and_flag_names_read_the_descriptor_words_they_alias():
    job = Signal(descriptor_layout())
    sp, flags = spgemm_view(job), flags_view(job.FLAGS)
    m = Module()
    m.d.sync += Signal().eq(job.MODE[0])          # a clock domain for the bench
    words = {name: 0x1000_0000 + 0x111 * word for name, word in DESC.items()}
    seen = {}

    async def bench(ctx):
        ctx.set(job, words)
        for flag in (FLAG_ACCUMULATE, FLAG_COLIDX16, FLAG_EPILOGUE, 0b111):
            ctx.set(job.FLAGS, flag)
            await ctx.tick()
            seen[flag] = (ctx.get(flags.accumulate), ctx.get(flags.colidx16),
                          ctx.get(flags.epilogue))
        for name in SPGEMM_FIELDS:
            seen[name] = ctx.get(getattr(sp, name))

    run_block(m, bench, cycles=20)
    for name, word in SPGEMM_FIELDS.items():
        assert seen[name] == words[word], f"{name}: read {seen[name]:#x}, {word} holds " \
                                          f"{words[word]:#x}"
    assert seen[FLAG_ACCUMULATE] == (1, 0, 0) and seen[FLAG_COLIDX16] == (0, 1, 0)
    assert seen[FLAG_EPILOGUE] == (0, 0, 1) and seen[0b111] == (1, 1, 1)
