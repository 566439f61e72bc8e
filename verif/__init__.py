"""Simulation: the accelerator's RTL under two engines (native: Verilated model with a C++
clock loop and DRAM model; vip: cocotb with cocotbext-axi), driven by the firmware."""
from .errors import SimulationError, BusViolationError
from .result import SimResult
from .engines import simulate, default_engine, ENGINES
from .toolchain import available_simulators

__all__ = ["simulate", "default_engine", "ENGINES", "SimResult", "SimulationError",
           "BusViolationError", "available_simulators"]
