"""Layers and networks: int8 layers chained as one descriptor chain.

A ``Layer`` is ``y = act(requant(W @ x + bias))`` with int8 weights ``W`` (M x K, sparse or
dense), its epilogue parameters (``Requant``) and a mode. ``plan_network`` lays out a list of
layers for an input ``x`` (K0 x N int8, N the batch): layer ``l`` reads the int8 output of
layer ``l - 1`` in place as its B (the epilogue writes it in exactly B's layout), so one
doorbell runs the whole network and the host touches no data between layers.
"""
from dataclasses import dataclass, field

import numpy as np

from zerotile.rtl.config import TileConfig
from zerotile.rtl.regmap import DESCRIPTOR_ALIGN

from .errors import FormatError, TooLargeError
from .planner import plan, pack_descriptor, check_size
from .requant import Requant

__all__ = ["Layer", "NetworkPlan", "plan_network"]


@dataclass
class Layer:
    """One int8 layer: ``weights`` (M x K int8, ndarray or scipy.sparse) and ``requant``
    (M rows). ``mode``: "auto", "csr" or "dense" (as ``plan``)."""
    weights: object
    requant: Requant
    mode: str = "auto"

    @classmethod
    def from_scale(cls, weights, *, bias=0, scale, out_zero_point=0, relu=False, mode="auto"):
        """A layer whose output scale is given as real factors (per row or one), converted
        with TFLite's ``QuantizeMultiplier``."""
        m = weights.shape[0]
        return cls(weights, Requant.for_rows(m, bias=bias, scale=scale,
                                             out_zero_point=out_zero_point, relu=relu), mode)


@dataclass
class NetworkPlan:
    """The layers' plans laid end to end in one image, their descriptors chained."""
    config: TileConfig
    base: int
    image: bytearray
    layers: list = field(default_factory=list)    # one ``Plan`` per layer

    @property
    def jobs(self):
        return [j for p in self.layers for j in p.jobs]

    @property
    def limit(self):
        return self.base + len(self.image)

    @property
    def first_descriptor(self):
        return self.layers[0].first_descriptor

    @property
    def shape(self):
        """(rows of the output, rows of the input, batch)."""
        return (self.layers[-1].shape[0], self.layers[0].shape[1], self.layers[0].shape[2])

    @property
    def write_regions(self):
        return [r for p in self.layers for r in p.write_regions]

    @property
    def result_region(self):
        return self.layers[-1].result_region

    @property
    def accumulate(self):
        return False

    @property
    def epilogue(self):
        return self.layers[-1].epilogue

    def unpack_result(self, raw):
        """The last layer's int8 output (M_last x N)."""
        return self.layers[-1].unpack_result(raw)

    def layer_output(self, index, memory):
        """Layer ``index``'s int8 output from a copy of DRAM (bytes from ``base``)."""
        p = self.layers[index]
        addr, nbytes = p.result_region
        return p.unpack_result(bytes(memory[addr - self.base:addr - self.base + nbytes]))


def plan_network(layers, x, *, config=None, base=0x1000):
    """Lay out ``layers`` (``Layer``) for the input ``x`` (K0 x N int8) as one chain."""
    config = config or TileConfig()
    if not layers:
        raise FormatError("a network needs at least one layer")
    x = np.asarray(x)
    if x.ndim != 2:
        raise FormatError(f"x must be 2-dimensional (features x batch), not {x.ndim}-dimensional")
    n = x.shape[1]
    # every layer's size first: nothing is allocated for a network that cannot run
    rows_in = x.shape[0]
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise FormatError(f"layer {i} must be a Layer, not {type(layer).__name__}")
        m, k = layer.weights.shape
        if k != rows_in:
            raise FormatError(f"layer {i} takes {k} inputs, the previous one gives {rows_in}")
        nnz = int(np.count_nonzero(layer.weights)) if isinstance(layer.weights, np.ndarray) \
            else int(layer.weights.nnz)
        check_size(m, k, n, nnz, mode=layer.mode, config=config, base=base)
        rows_in = m
    plans, cursor = [], base
    for i, layer in enumerate(layers):
        if i == 0:
            p = plan(layer.weights, x, config=config, mode=layer.mode, base=cursor,
                     epilogue=layer.requant)
        else:
            prev = plans[-1]
            if prev.row_order is not None:
                raise TooLargeError(f"layer {i - 1} needs its rows reordered (K too deep for "
                                    f"one job): its output cannot be read in place")
            width = -(-n // config.lanes) * config.lanes
            if prev.q_stride != width:
                raise TooLargeError(f"layer {i - 1}'s int8 rows are {prev.q_stride} bytes apart, "
                                    f"a B row is {width}: this configuration's bus is wider "
                                    f"than a quarter of a C row")
            p = plan(layer.weights, None, config=config, mode=layer.mode, base=cursor,
                     epilogue=layer.requant, b_in_dram=(prev.q_addr, n))
        plans.append(p)
        cursor = p.limit
        assert cursor % DESCRIPTOR_ALIGN == 0
    # chain: each layer's last descriptor points at the next layer's first
    for p, nxt in zip(plans, plans[1:]):
        last = p.jobs[-1]
        last.fields["NEXT"] = nxt.first_descriptor
        at = last.desc_addr - p.base
        p.image[at:at + 64] = pack_descriptor(last.fields)
    image = bytearray().join(p.image for p in plans)
    return NetworkPlan(config=config, base=base, image=image, layers=plans)
