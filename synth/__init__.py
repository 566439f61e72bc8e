"""Open synthesis of the accelerator: Yosys and nextpnr (YoWASP) flows and their numbers."""
from .flow import SynthReport, SynthError, TARGETS, run_flow, tool_versions
from .run import (synthesize, synthesize_block, synthesize_seeds, fan_out, default_config,
                  sweep, read_sweep_csv, write_sweep_csv, sweep_markdown, SWEEP_FIELDS)

__all__ = ["SynthReport", "SynthError", "TARGETS", "run_flow", "tool_versions", "synthesize",
           "synthesize_block", "synthesize_seeds", "fan_out", "default_config", "sweep",
           "read_sweep_csv", "write_sweep_csv", "sweep_markdown", "SWEEP_FIELDS"]
