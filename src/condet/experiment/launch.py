"""Running a protocol's runs side by side: processes on this machine, or SLURM jobs.

Each run is launched as ``condet experiment PROTOCOL --only RUN`` into the one experiment
folder (the same records, resumes and checks as a run made in-process), as soon as the runs
it uses have finished: a detector waits for its pretraining. On this machine
(:class:`ProcessLauncher`) ``--jobs N`` worker processes run one run each at a time, with
``cores / N`` threads each and each run's output in ``OUT/logs/RUN.log``; on a cluster
(:class:`SubmititLauncher`, the launcher detectron2, MAE and DINO use) every run is a job,
submitted at once with its dependencies as SLURM job dependencies (``afterok``), so the
cluster's queue orders them.
Seed 0 of every run goes before seed 1, so that a protocol cut short holds whole seeds.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from condet.errors import CondetError
from condet.experiment.protocol import Run

# how often a launcher is asked which runs ended: a short run waits up to this long for its
# successor, so it is short; asking is a poll() or a done()
POLL_SECONDS = 0.1


class Launcher(Protocol):
    """Starts one run and tells when it has ended."""

    #: whether a run may be submitted before the runs it uses end (the launcher orders them)
    chains_dependencies: bool
    #: how many runs may be started and not yet ended (0: any number)
    capacity: int

    def start(self, run: Run, after: Sequence[Any]) -> Any:
        """Start ``run`` (after the handles ``after`` when chaining); its handle."""

    def ended(self, handle: Any) -> bool:
        """Whether the run of ``handle`` has ended, well or not."""

    def failure(self, handle: Any) -> str | None:
        """Why the ended run of ``handle`` failed, or None when it succeeded."""

    def cancel(self, handle: Any) -> None:
        """Withdraw a run chained to one that failed (it would wait for ever)."""

    def close(self) -> None:
        """Release what the launcher holds (its worker processes) once every run has ended."""


@dataclass(frozen=True)
class ExperimentCall:
    """What ``condet experiment`` was called with, repeated for each run it launches."""

    protocol: Path
    out: Path
    data: str | None
    smoke: bool

    def argv(self, name: str) -> list[str]:
        """``condet experiment`` for run ``name`` only, as a command line."""
        argv = ["experiment", str(self.protocol), "--out", str(self.out), "--only", name]
        if self.data is not None:
            argv += ["--data", self.data]
        return argv + (["--smoke"] if self.smoke else [])


def available_cores() -> int:
    """CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class ProcessLauncher:
    """Runs in ``jobs`` worker processes of ``cores / jobs`` threads each, which live for the
    whole protocol: a run starts in a worker that has imported torch already, so a protocol of
    many short runs (a smoke test) does not pay a process start per run."""

    chains_dependencies = False

    def __init__(self, call: ExperimentCall, jobs: int) -> None:
        if jobs < 1:
            raise CondetError(f"--jobs must be at least 1, got {jobs}")
        self.call, self.capacity = call, jobs
        self.threads = max(1, available_cores() // jobs)
        self.logs = call.out / "logs"
        self.pool: ProcessPoolExecutor | None = None

    def start(self, run: Run, after: Sequence[Any]) -> tuple[Future, Path]:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{run.name}.log"
        try:
            return self._pool().submit(run_logged, self.call, run.name, log), log
        except BrokenProcessPool:
            # a worker died (killed, out of memory): the runs it held failed with it, and the
            # protocol goes on in a new pool
            self.close()
            return self._pool().submit(run_logged, self.call, run.name, log), log

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            # spawned, not forked: a forked child of a process whose OpenMP pool has started
            # can hang in its first parallel region
            self.pool = ProcessPoolExecutor(
                self.capacity,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_use_threads,
                initargs=(self.threads,),
            )
        return self.pool

    def ended(self, handle: tuple[Future, Path]) -> bool:
        return handle[0].done()

    def failure(self, handle: tuple[Future, Path]) -> str | None:
        future, log = handle
        error = future.exception()
        if error is None:
            return None
        return f"{error_line(error)}; see {log}"

    def cancel(self, handle: tuple[Future, Path]) -> None:
        handle[0].cancel()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None


def error_line(error: BaseException) -> str:
    """A failed run in one line: the error's type and the last line of its message."""
    last_line = (str(error).strip().splitlines() or [""])[-1]
    return f"{type(error).__name__}: {last_line}"


def _use_threads(threads: int) -> None:
    """A worker process's set-up: ``threads`` threads for torch and the libraries it calls."""
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def run_logged(call: ExperimentCall, name: str, log: Path) -> None:
    """A worker's work: one run, with everything written to the standard output and error
    (progress bars and the output of processes it starts too) going to ``log``, which ends on
    the error the run stopped with, if any."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("w") as output:
        os.dup2(output.fileno(), 1)
        os.dup2(output.fileno(), 2)
        try:
            run_in_job(call, name)
        except Exception as error:
            # the log ends on why the run stopped, in the line the launcher reports
            print(f"condet: error: {error_line(error)}", file=sys.stderr)
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)


def run_in_job(call: ExperimentCall, name: str) -> None:
    """A cluster job's work: one run of the protocol (module level, so that it pickles)."""
    from condet.experiment.runner import run_experiment

    run_experiment(call.protocol, call.out, call.data, call.smoke, [name], summary=False)


class SubmititLauncher:
    """Runs as jobs of a submitit executor: SLURM (``AutoExecutor``) or, for tests, its
    ``LocalExecutor``, which cannot chain dependencies and so gets each run once the runs it
    uses have ended."""

    capacity = 0

    def __init__(self, call: ExperimentCall, executor: Any) -> None:
        self.call, self.executor = call, executor
        self.chains_dependencies = getattr(executor, "cluster", None) == "slurm"

    def start(self, run: Run, after: Sequence[Any]) -> Any:
        parameters: dict[str, Any] = {"name": run.name}
        if self.chains_dependencies:
            dependency = ":".join(str(job.job_id) for job in after)
            parameters["slurm_additional_parameters"] = (
                {"dependency": f"afterok:{dependency}"} if dependency else {}
            )
        self.executor.update_parameters(**parameters)
        return self.executor.submit(run_in_job, self.call, run.name)

    def ended(self, handle: Any) -> bool:
        return handle.done()

    def failure(self, handle: Any) -> str | None:
        error = handle.exception()
        if error is None:
            return None
        return f"{error_line(error)}; see {handle.paths.stderr}"

    def cancel(self, handle: Any) -> None:
        handle.cancel(check=False)

    def close(self) -> None:
        """Nothing to release: the jobs are the cluster's."""


def slurm_launcher(
    call: ExperimentCall,
    partition: str | None,
    gpus_per_run: int,
    cpus_per_run: int,
    time_limit_minutes: int,
) -> SubmititLauncher:
    """SLURM jobs through submitit, logs in ``OUT/slurm``."""
    try:
        import submitit
    except ImportError:
        raise CondetError(
            "--launcher slurm needs submitit: pip install 'condet[cluster]'"
        ) from None
    executor = submitit.AutoExecutor(folder=call.out / "slurm", cluster="slurm")
    executor.update_parameters(
        slurm_partition=partition,
        gpus_per_node=gpus_per_run,
        cpus_per_task=cpus_per_run,
        timeout_min=time_limit_minutes,
        nodes=1,
        tasks_per_node=1,
    )
    return SubmititLauncher(call, executor)


def launch_runs(pending: list[Run], launcher: Launcher) -> list[str]:
    """Start every run of ``pending`` once the pending runs it uses have ended well; wait for
    all. The failures, one line each (a run whose dependency failed is not started)."""
    order = {run.name: index for index, run in enumerate(pending)}
    waiting = sorted(
        pending, key=lambda run: (-1 if run.seed is None else run.seed, order[run.name])
    )
    pending_names = set(order)
    order_depends = {run.name: [n for n in run.depends if n in pending_names] for run in pending}
    started: dict[str, Any] = {}
    running: set[str] = set()
    succeeded: set[str] = set()
    failures: list[str] = []
    failed: set[str] = set()
    begun: dict[str, float] = {}
    while waiting or running:
        for run in list(waiting):
            needed = [name for name in run.depends if name in pending_names]
            if any(name in failed for name in needed):
                waiting.remove(run)
                failed.add(run.name)
                failures.append(f"{run.name}: not run, as a run it uses failed")
                continue
            ready = all(
                name in succeeded or (launcher.chains_dependencies and name in started)
                for name in needed
            )
            if not ready or (launcher.capacity and len(running) >= launcher.capacity):
                continue
            waiting.remove(run)
            started[run.name] = launcher.start(run, [started[name] for name in needed])
            running.add(run.name)
            begun[run.name] = time.perf_counter()
            print(f"started {run.name}", flush=True)
        for name in sorted(running):
            handle = started[name]
            orphaned = any(needed in failed for needed in order_depends[name])
            if orphaned:
                launcher.cancel(handle)
                running.remove(name)
                failed.add(name)
                failures.append(f"{name}: withdrawn, as a run it uses failed")
                continue
            if not launcher.ended(handle):
                continue
            running.remove(name)
            seconds = time.perf_counter() - begun[name]
            problem = launcher.failure(handle)
            if problem is None:
                succeeded.add(name)
                print(f"finished {name} ({seconds:.0f} s)", flush=True)
            else:
                failed.add(name)
                failures.append(f"{name}: {problem}")
                print(f"FAILED {name} ({problem})", flush=True)
        if waiting or running:
            time.sleep(POLL_SECONDS)
    return failures
