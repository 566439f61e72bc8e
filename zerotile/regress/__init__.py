"""Regression campaigns: thousands of self-checking random runs, on this machine's cores or
on a Dask cluster (``zerotile regress``)."""
from .campaign import MODES, CAMPAIGNS, draw, run_one
from .runs import RunSpec, reproduce_command
from .runner import run_campaign, read_table, failed_runs, FIELDS

__all__ = ["MODES", "CAMPAIGNS", "RunSpec", "draw", "run_one", "reproduce_command", "run_campaign",
           "read_table", "failed_runs", "FIELDS"]
