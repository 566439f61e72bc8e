"""The firmware's error types: every rejection names the problem in its message."""

__all__ = ["ZerotileError", "FormatError", "TooLargeError", "DeviceError", "DeviceTimeout"]


class ZerotileError(Exception):
    """Base of every error the firmware raises on purpose."""


class FormatError(ZerotileError, ValueError):
    """An operand is malformed: wrong shape, bad CSR structure, values outside int8..."""


class TooLargeError(ZerotileError, ValueError):
    """The problem does not fit the hardware configuration (scratchpad, row count, nnz)."""


class DeviceError(ZerotileError, RuntimeError):
    """The accelerator stopped a chain with an error code."""

    def __init__(self, code, addr, jobs_done):
        from zerotile.rtl.regmap import ErrorCode
        try:
            name = ErrorCode(code).name
        except ValueError:
            name = f"unknown error {code}"
        self.code, self.addr, self.jobs_done = code, addr, jobs_done
        super().__init__(f"accelerator error {name} (code {code}) at address 0x{addr:08x} "
                         f"after {jobs_done} job(s)")


class DeviceTimeout(ZerotileError, TimeoutError):
    """The accelerator did not finish within the allowed time."""
