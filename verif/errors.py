"""The errors of the simulation engines."""

__all__ = ["SimulationError", "BusViolationError"]


class SimulationError(RuntimeError):
    """The simulator could not be built or run."""


class BusViolationError(SimulationError):
    """The accelerator issued an AXI transaction it must never issue (see ``verif.dram``)."""

    def __init__(self, message, results):
        super().__init__(message)
        self.results = results
