"""Simulation: cocotb testbenches of the accelerator and the glue that runs them."""
from .runner import simulate, SimResult, SimulationError, available_simulators

__all__ = ["simulate", "SimResult", "SimulationError", "available_simulators"]
