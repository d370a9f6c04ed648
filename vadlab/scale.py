"""Scale-out on Ray: connecting to a cluster, and sweeps as Ray Tune trials.

    vadlab sweep --model conv_ae --data synthetic:sample_videos --grid lr=1e-4,2e-4 --seeds 3 --ray
    vadlab sweep ... --ray 10.0.0.5:6379 --gpus-per-trial 1        # an existing cluster

Ray is an optional extra (`pip install -e ".[scale]"`): this module imports it only inside its
functions, and `require_ray` raises `RayNotInstalledError` with the install command when it is
missing, so the core, the CLI and the app work without it.

A sweep trial on Ray runs `vadlab.research.run_trial`, the function the serial loop runs, on the
same `SweepTrial` (seed and thread count included), so a grid point's numbers do not depend on
where it ran. Paths are made absolute before dispatch (Tune starts each trial in its own folder);
on a multi-node cluster the data and `--out-dir` must be on a filesystem every node sees (the rows
come back to the driver either way; the checkpoints stay where the trial wrote them).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)  # the checkout this vadlab was imported from


class RayNotInstalledError(RuntimeError):
    """Ray is needed for this command and is not installed."""


def require_ray() -> Any:
    """The `ray` module, or RayNotInstalledError naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise RayNotInstalledError(
            f"this needs Ray, which is not installed ({exc}); install the scale extra: "
            f"python -m pip install -e \".[scale]\"") from exc
    return ray


@contextlib.contextmanager
def ray_cluster(address: Optional[str] = None, num_cpus: Optional[int] = None) -> Iterator[Any]:
    """Yield `ray`, connected: to the cluster at `address` (host:port or ray://host:port), to a new
    local cluster (num_cpus CPUs, default all; on 127.0.0.1, no dashboard) when None, or to the one this process
    is already connected to (left running: whoever started it stops it). Disconnects on exit."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    # workers import this same checkout (an editable install would too; a plain one might not)
    runtime_env = {"env_vars": {"PYTHONPATH": PACKAGE_ROOT}}
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
    else:
        # on loopback: a local cluster serves nobody else on the network
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 runtime_env=runtime_env, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def _tune_trainable(config: dict, trials: dict, cwd: str, run: Callable[[dict], dict]) -> None:
    """One Ray Tune trial: `run` the trial named config["trial_name"] (`trials`: name -> its fields;
    `research.run_trial_fields` for a sweep) in the driver's working directory `cwd` (relative data
    paths mean the same there), and report its row as JSON."""
    from ray import tune

    os.chdir(cwd)
    row = run(trials[config["trial_name"]])
    tune.report({"row_json": json.dumps(row), "val_loss": row["val_loss"]})


def gpus_when_present(ray: Any, gpus: Optional[float], device: str) -> float:
    """GPUs per trial / worker: `gpus` when given; else 1 when the cluster has a GPU and `device`
    is not "cpu", 0 otherwise."""
    if gpus is not None:
        return float(gpus)
    return 1.0 if device != "cpu" and ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def tune_sweep(trials: Sequence[Any], on_row: Callable[[Any, dict], None], run: Callable[[dict], dict],
               failed_row: Callable[[Any, str], dict], address: Optional[str] = None, cpus_per_trial: float = 1,
               gpus_per_trial: Optional[float] = None, ray_cpus: Optional[int] = None) -> None:
    """Run `trials` (`vadlab.research.SweepTrial`s) as Ray Tune trials, each reserving
    `cpus_per_trial` CPUs and `gpus_per_trial` GPUs (None: one GPU when the cluster has GPUs,
    see `gpus_when_present`), as many at once as the cluster holds. A trial runs `run(its fields)`
    (a module-level function, so a worker imports it by name: `research.run_trial_fields`).
    `on_row(trial, row)` is called for each as it ends: its row, or for a failed trial
    `failed_row(trial, error)` (`research.failed_row`; Tune does not retry it). Tune's own records go
    to `<out_dir>/tune/<sweep id>`. (The research functions come in as arguments: this module never
    imports `vadlab.research`, which imports it.)"""
    if not trials:
        return
    by_name = {t.name: t for t in trials}
    out_dir = Path(trials[0].checkpoint).parent
    sweep_id = hashlib.sha1(json.dumps([t.identity() for t in trials], sort_keys=True).encode()).hexdigest()[:10]
    with ray_cluster(address, ray_cpus) as ray:
        from ray import tune

        gpus_per_trial = gpus_when_present(ray, gpus_per_trial, trials[0].device)
        if cpus_per_trial <= 0 and gpus_per_trial <= 0:
            raise ValueError("a trial must reserve some CPU or GPU (--cpus-per-trial / --gpus-per-trial)")

        class Rows(tune.Callback):
            """Hands each trial's row (or its error) to on_row as the trial ends."""

            def on_trial_complete(self, iteration, trials, trial, **info):
                row_json = (trial.last_result or {}).get("row_json")
                on_row(by_name[trial.config["trial_name"]], json.loads(row_json) if row_json else
                       failed_row(by_name[trial.config["trial_name"]], "the trial ended without a result"))

            def on_trial_error(self, iteration, trials, trial, **info):
                on_row(by_name[trial.config["trial_name"]], failed_row(
                    by_name[trial.config["trial_name"]], _error_text(trial)))

        trainable = tune.with_resources(
            tune.with_parameters(_tune_trainable, trials={t.name: dataclasses.asdict(t) for t in trials},
                                 cwd=os.getcwd(), run=run),
            {"cpu": cpus_per_trial, "gpu": gpus_per_trial})
        space = {"trial_name": tune.grid_search([t.name for t in trials])}
        tuner = tune.Tuner(
            trainable, param_space=space,
            # a trial's process is kept for the next one (torch imported once); run_trial sets its
            # own seed and threads, so a reused process trains the same model as a fresh one
            tune_config=tune.TuneConfig(reuse_actors=True),
            run_config=tune.RunConfig(name=f"sweep-{sweep_id}", storage_path=str(out_dir / "tune"), verbose=0,
                                      callbacks=[Rows()], failure_config=tune.FailureConfig(max_failures=0)))
        tuner.fit()


def _error_text(trial: Any) -> str:
    """The last line of a failed Tune trial's error (its exception type and message)."""
    path = getattr(trial, "error_file", None) or ""
    try:
        text = Path(path).read_text() if path else ""
    except OSError:
        text = ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "the trial failed (no error text)"
