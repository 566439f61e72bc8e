"""The Dask client every fan-out uses (``zerotile regress``, ``zerotile synth --seeds``): an
existing cluster at ``scheduler`` (``tcp://HOST:PORT``; its workers need zerotile installed),
or a ``LocalCluster`` of ``workers`` single-threaded processes on this machine."""
import logging
import os
from contextlib import contextmanager

__all__ = ["dask_client"]


@contextmanager
def dask_client(scheduler=None, workers=None):
    """A ``distributed.Client``; a local cluster it started is closed with it."""
    import dask
    from distributed import Client, LocalCluster
    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        # non-daemonic workers may fork each regression run from a forkserver
        with dask.config.set({"distributed.worker.daemon": False}):
            # (the workers' own log lines, e.g. heartbeats failing while the cluster shuts
            # down, would only clutter the command's output: each task reports itself)
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                   threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.CRITICAL)
        client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
