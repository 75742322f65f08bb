"""Names of run folders, and the config resolvers that provide them.

Hydra names a run folder by the time it starts; two runs started in the same second would share
one. ``${run_name:}`` adds what tells them apart, keeping the time first so folders sort by
start: ``2026-11-29_14-03-07_48211``. Every process of one launch must agree on the name:

- a plain run or multirun: the time and this process's id;
- under torchrun, every worker of a node: the time the torchrun agent (their parent) started
  and its id, both read from /proc;
- ``CROPLAND_RUN_NAME`` in the environment, when set, is used as the name (path separators
  and ``..`` replaced by ``_``): set it once for all nodes of a multi-node job (the SLURM
  example in docs/resume.md does).

Processes that Lightning starts itself for DDP are given the first process's folder by
Lightning (``hydra.run.dir``), so they never resolve a name of their own.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

from cropland.precision import default_precision

TIME_FORMAT = "%Y-%m-%d_%H-%M-%S"
ENV_RUN_NAME = "CROPLAND_RUN_NAME"


def run_name() -> str:
    """The name of this launch's run folder (see the module docstring)."""
    given = os.environ.get(ENV_RUN_NAME)
    if given:
        # One folder name, never a path: a separator or ".." would put the run elsewhere.
        return given.replace(os.sep, "_").replace("..", "_")
    if "TORCHELASTIC_RUN_ID" in os.environ:
        agent = os.getppid()
        started = _process_start_time(agent)
        if started is not None:
            return f"{_stamp(started)}_{agent}"
    return f"{_stamp(time.time())}_{os.getpid()}"


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime(TIME_FORMAT)


def _process_start_time(pid: int) -> float | None:
    """When process ``pid`` started, in seconds since the epoch (Linux /proc), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    # Field 22, counted after the command name, which is in parentheses and may hold spaces.
    ticks = float(stat.rsplit(")", 1)[1].split()[19])
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def register_resolvers() -> None:
    """Make ``${run_name:}`` and ``${default_precision:<accelerator>}`` known to OmegaConf."""
    # Cached: a multirun's jobs copy the launcher's cache and so share its folder name.
    OmegaConf.register_new_resolver("run_name", run_name, use_cache=True, replace=True)
    OmegaConf.register_new_resolver("default_precision", default_precision, replace=True)
