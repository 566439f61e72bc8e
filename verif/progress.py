"""A live progress line for long simulations: on a terminal only, rate-limited, erased at
the end. Quiet when stderr is not a terminal or ``ZEROTILE_PROGRESS=0``."""
import os
import sys
import time

__all__ = ["Progress"]


class Progress:
    def __init__(self, label, jobs, *, stream=None, enabled=None, interval=0.25):
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = os.environ.get("ZEROTILE_PROGRESS", "1") != "0" and self.stream.isatty()
        self.enabled, self.label, self.jobs, self.interval = enabled, label, jobs, interval
        self.start = time.monotonic()
        self._last = 0.0
        self._shown = False

    def update(self, cycles, jobs_done):
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        rate = cycles / max(now - self.start, 1e-9)
        self.stream.write(f"\r  {self.label}: {cycles:,} cycles, {rate:,.0f} cycles/s, "
                          f"jobs {jobs_done}/{self.jobs} \x1b[K")
        self.stream.flush()
        self._shown = True

    def close(self):
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
