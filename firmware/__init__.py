"""Host-side firmware: operand validation, memory layout and job planning, and the driver."""
from .errors import ZerotileError, FormatError, TooLargeError, DeviceError, DeviceTimeout
from .operands import as_dense_int8, as_csr_int8, check_csr
from .planner import (Plan, Job, plan, pack_descriptor, estimate_cycles, choose_mode,
                      check_size, image_bytes, POISON)
from .driver import Driver, RunResult
from .spgemm import SpgemmPlan, plan_spgemm
from .requant import Requant, quantize_multiplier
from .network import Layer, NetworkPlan, plan_network

__all__ = ["ZerotileError", "FormatError", "TooLargeError", "DeviceError", "DeviceTimeout",
           "as_dense_int8", "as_csr_int8", "check_csr", "Plan", "Job", "plan",
           "pack_descriptor", "estimate_cycles", "choose_mode", "check_size", "image_bytes",
           "POISON", "Driver", "RunResult", "Requant", "quantize_multiplier", "Layer",
           "NetworkPlan", "plan_network", "SpgemmPlan", "plan_spgemm"]
