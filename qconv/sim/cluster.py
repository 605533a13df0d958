"""Dask clusters for `qconv sim --workers N | --scheduler ADDRESS` (issue 17): a local cluster of
N single-threaded worker processes on the loopback address, or an existing dask.distributed
scheduler. The simulation itself is sim/stream.py's; this only connects."""

from __future__ import annotations

import contextlib
import logging

from ..errors import ModelError
from . import memory


@contextlib.contextmanager
def connect(workers: int | None = None, scheduler: str | None = None, timeout: float = 10.0):
    """A dask.distributed Client (None when neither option is given), closed on exit."""
    if workers and scheduler:
        raise ModelError("give --workers N (a local cluster) or --scheduler ADDRESS (an existing one), not both")
    if not workers and not scheduler:
        yield None
        return
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise ModelError("--workers/--scheduler need dask.distributed: pip install 'qconv[dask]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise ModelError(f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s "
                             f"({type(exc).__name__}); start one (`dask scheduler`) or use --workers N") from None
        with client:
            yield client
        return
    # dask sets MALLOC_TRIM_THRESHOLD_ in its workers, which turns off glibc's adaptive mmap
    # threshold: every large numpy temporary is then a fresh mmap, and the simulator ran 5x
    # slower in a worker than in this process. The workers get the thresholds the `qconv`
    # process sets for itself (sim/memory.py `keep_heap`).
    environ = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **memory.HEAP_ENVIRON}
    # The chunks are a few large tasks (sim/stream.py): dask's work stealing, its statistical
    # profiler in every worker, its twice-a-second system monitor, the event-loop tick every 20 ms
    # and the memory monitor every 100 ms in every server only take CPU from them, and from this
    # process when it simulates alone (measured: 1.65x -> 1.75x on 2 cores, bench/dask_sim.py;
    # the tick and monitor at 1 s: 1.64 -> 1.50 s for 2 M jet samples on the cluster).
    quiet = {"distributed.scheduler.work-stealing": False, "distributed.worker.profile.enabled": False,
             "distributed.admin.system-monitor.interval": "2s", "distributed.admin.tick.interval": "1s",
             "distributed.worker.memory.monitor-interval": "1s"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ, **quiet}), LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},  # no port 8787 clash
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client
