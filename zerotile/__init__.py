"""zerotile: an open sparse/dense int8 matrix-multiplication tile, from Python to verified RTL.

The layers install inside this namespace (their folders stay at the top of the repository):
``zerotile.rtl`` (the hardware), ``zerotile.golden`` (the exact reference and bounds),
``zerotile.firmware`` (planning and the driver), ``zerotile.verif`` (the simulation engines)
and ``zerotile.synth`` (open synthesis); ``zerotile.cli`` is the command line.
"""
import os

# NumPy's OpenBLAS starts a spinning thread per core; the integer work here never uses BLAS,
# and on a 2-core machine those threads take cycles from the simulation.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.3.0"   # the hardware's VERSION register and the FuseSoC core carry it too
