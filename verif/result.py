"""What one plan did on an engine: the result type both engines fill."""
from dataclasses import dataclass, field

__all__ = ["SimResult"]


@dataclass
class SimResult:
    plan: object
    engine: str = "vip"
    c: object = None
    counters: dict = field(default_factory=dict)
    error: str = None
    jobs_done: int = 0
    sim_seconds: float = 0.0
    sim_cycles: int = 0
    violations: list = field(default_factory=list)
    faults_hit: dict = field(default_factory=dict)
    transactions: dict = field(default_factory=dict)   # AXI bursts accepted: read / write
    waves: list = field(default_factory=list)       # waveform files written
    soft_reset: bool = False
    busy_at_reset: bool = False
    jobs_done_at_reset: int = 0
    reset_cycles: int = 0
