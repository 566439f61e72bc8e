"""zerotile: an open sparse/dense int8 matrix-multiplication tile, from Python to verified RTL.

This package is the command line (``zerotile``); the layers live in the top-level packages
``rtl``, ``golden``, ``firmware``, ``verif`` and ``synth``.
"""
import os

# NumPy's OpenBLAS starts a spinning thread per core; the integer work here never uses BLAS,
# and on a 2-core machine those threads take cycles from the simulation.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.2.0"
