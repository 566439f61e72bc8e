"""zerotile: an open sparse/dense int8 matrix-multiplication tile, from Python to verified RTL.

This package is the command line (``zerotile``); the layers live in the top-level packages
``rtl``, ``golden``, ``firmware``, ``verif`` and ``synth``.
"""
__version__ = "0.1.0"
