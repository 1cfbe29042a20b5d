"""One model on W ranks: ``run_pretrain`` in 2 gloo processes through MoCo + mixup, then CMMC.

Two runs in one spawn of 2 processes, both through the real entry point (``run_pretrain``):

* ``bn`` — S3D-small with BatchNorm, shuffle-BN on, random mixing draws: at the end of every
  stage every rank holds the same checkpoint content (parameters, BN statistics, key
  encoders, queues, optimiser state, every rank's RNG state), and the file rank 0 writes is it.
* ``plain`` — a BatchNorm-free encoder (per-rank BN batches are the one thing a 1-process run
  cannot reproduce), shuffle-BN off, mixing draws made deterministic and per-rank-batch-local
  (``deterministic_draws``): its final weights, queues and per-step losses equal a 1-process
  run on the combined batch (batch 2·B, the union of the ranks' samples in the same order).
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import Tensor, nn

from vimix_ssl.models.base import VideoEncoder, register_encoder

WORLD, LOCAL = 2, 2  # processes, per-process batch
# Child processes: one thread each and sleeping (not spinning) OpenMP workers, or 2 processes on a
# shared 2-core machine run a tiny step 10x slower (utils/threads.py).
CHILD_ENV = {"VIMIX_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}


@register_encoder("test_plain3d")
class Plain3d(VideoEncoder):
    """Two Conv3d+ReLU stages, no normalisation: a rank's output depends on its own samples only."""

    def __init__(self, in_channels: int = 3, width: int = 4) -> None:
        super().__init__()
        self.in_channels, c = in_channels, in_channels
        for i, (w, stride) in enumerate(((width, 1), (2 * width, 2))):
            self.add_stage(f"block{i}", nn.Sequential(nn.Conv3d(c, w, 3, stride, 1), nn.ReLU()), w)
            c = w
        self.feature_dim = c


@pytest.fixture(scope="module")
def video_data(tmp_path_factory):
    from vimix_ssl.data.flow_extract import FlowExtractSpec, extract_flow_store
    from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf

    base = tmp_path_factory.mktemp("mp_video")
    result = generate_synthetic_ucf(base / "videos", SynthVideoConfig(
        classes=2, per_class=6, clips_per_group=1, frames_min=10, frames_max=10, width=40, height=32, seed=2))
    spec = FlowExtractSpec(source="raw", source_root=str(result.root), out_dir=str(base / "flow"),
                           method="dis")
    assert not extract_flow_store(result.train + result.test, spec, workers=1).failed
    return result.root, base / "flow"


def overrides(root: Path, flow: Path, out_dir: Path, kind: str, batch: int = LOCAL,
              resume: str = "never") -> list[str]:
    """A 2-stage schedule: rgb MoCo + mixup, then CMMC training flow with rgb as the frozen partner."""
    if kind == "plain":
        encoder = "encoder: test_plain3d, encoder_kwargs: {{in_channels: {c}, width: 4}}, shuffle_bn: false"
        lam = ", mixer_kwargs: {lam: 0.7}"  # a fixed λ: the mixing draw the ranks would make differently
        cache = "none"  # the in-memory loader draws crops per (batch, rank); the dataset per sample
    else:
        encoder = "encoder: s3d_small, encoder_kwargs: {{in_channels: {c}, width: 0.0625}}, shuffle_bn: true"
        lam, cache = "", "auto"
    common = "head_hidden: 16, dim: 8, queue_size: 8, momentum: 0.9"
    return [
        f"out_dir={out_dir}", "device=cpu", "log_every=1", "seed=4", f"resume={resume}",
        f"data={{dataset: ucf101, root: '{root}', clip_len: 8, size: 32, batch_size: {batch}, num_workers: 0,"
        f" cache: {cache}, augment: {{flip_probability: 0.0}}}}",
        f"modalities={{rgb: {{{encoder.format(c=3)}, {common}, photometric: false}}, "
        f"flow: {{{encoder.format(c=2)}, {common}, store: '{flow}'}}}}",
        f"stages=[{{name: s0_rgb, train: rgb, epochs: 1, mixing: {{kind: input, mixer: mixup{lam}}}, "
        "optim: {name: adam, lr: 0.01}}, "
        f"{{name: cmmc_flow, train: flow, partner: rgb, epochs: {1 if kind == 'plain' else 2}, "
        "mixing: {kind: cmmc, op: cutmix, axes: s+t+c, random_partner_layer: true}, "
        "optim: {name: sgd, lr: 0.1, momentum: 0.9}}]"]


@contextlib.contextmanager
def deterministic_draws():
    """Mixing draws that are a function of a sample's place in its per-rank batch of ``LOCAL``.

    A rank mixes within its own batch; a 1-process run on the combined batch gives the same
    queries only if its partners stay inside each block of ``LOCAL`` samples and λ and the
    boxes are drawn the same per block: partners reversed within each block, constant CMMC
    box draws, and the CMMC cut drawn from a generator seeded by the step count (the same on
    every rank). Restores the real draws on exit.
    """
    from vimix_ssl.methods import cmmc
    from vimix_ssl.mixing import boxes, feature_mix

    def block_reversal(count: int, generator=None) -> Tensor:
        return torch.cat([b * LOCAL + torch.arange(LOCAL - 1, -1, -1) for b in range(count // LOCAL)])

    def constant(*args, **kwargs) -> Tensor:
        count = next(a for a in args if isinstance(a, int) and not isinstance(a, bool))
        return torch.full((count,), 0.37, dtype=torch.float64)

    real_draw_cuts, steps = cmmc.draw_cuts, {"n": 0}

    def counted_draw_cuts(encoder, partner, random_partner_layer, generator=None):
        steps["n"] += 1
        generator = torch.Generator().manual_seed(steps["n"])
        return real_draw_cuts(encoder, partner, random_partner_layer, generator)

    patches = [(boxes, "sample_perm", block_reversal), (feature_mix, "sample_uniform", constant),
               (feature_mix, "sample_beta", lambda alpha, count, generator=None: constant(count)),
               (cmmc, "draw_cuts", counted_draw_cuts)]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, value in patches:
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


@contextlib.contextmanager
def recorded_payloads(folder: Path):
    """Save what every rank would write at each checkpoint (the last of a stage is its end state)."""
    from vimix_ssl.jobs.pretrain.schedule import RunCheckpointer
    from vimix_ssl.ssl import distributed as dist

    original = RunCheckpointer.payload

    def payload(self, stage_index, *args):
        content = original(self, stage_index, *args)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(content, folder / f"rank{dist.rank()}_stage{stage_index}.pt")
        return content

    RunCheckpointer.payload = payload
    try:
        yield
    finally:
        RunCheckpointer.payload = original


def worker(rank: int, port: int, root: str, flow: str, out: str) -> None:
    import torch.distributed as torch_dist

    from vimix_ssl.jobs.pretrain.config import load_pretrain_config
    from vimix_ssl.jobs.pretrain.schedule import run_pretrain

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    out_dir = Path(out)
    try:
        for kind in ("bn", "plain"):
            draws = deterministic_draws() if kind == "plain" else contextlib.nullcontext()
            with draws, recorded_payloads(out_dir / f"{kind}_payloads"):
                config = load_pretrain_config(None, overrides(Path(root), Path(flow), out_dir / kind, kind))
                run_pretrain(config)
        torch_dist.barrier()
    finally:
        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_same(a, b, where: str, exact: bool = True) -> None:
    """Recursive equality of checkpoint content (tensors bit-equal, or within float tolerance)."""
    if isinstance(a, dict):
        assert set(a) == set(b), f"{where}: keys differ {set(a) ^ set(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]", exact)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]", exact)
    elif torch.is_tensor(a):
        if exact or not a.is_floating_point():
            assert torch.equal(a, b), f"{where} differs"
        else:
            torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4, msg=f"{where} differs")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def spawned(video_data, tmp_path_factory) -> Path:
    """Both schedules run once by 2 gloo processes (``torch.multiprocessing.spawn``)."""
    root, flow = video_data
    out = tmp_path_factory.mktemp("spawned")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in CHILD_ENV.items():
            patch.setenv(key, value)
        mp.spawn(worker, args=(free_port(), str(root), str(flow), str(out)), nprocs=WORLD, join=True)
    return out


def test_two_gloo_processes_are_one_model_and_equal_one_process_on_the_combined_batch(
        video_data, spawned, tmp_path, monkeypatch):
    from vimix_ssl.engine.metrics import read_metrics
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config
    from vimix_ssl.jobs.pretrain.schedule import run_pretrain
    from vimix_ssl.utils.checkpoint import load_checkpoint

    root, flow = video_data

    for kind in ("bn", "plain"):
        written = load_checkpoint(spawned / kind / "checkpoint.pt")
        for stage in (0, 1):
            ranks = [torch.load(spawned / f"{kind}_payloads" / f"rank{r}_stage{stage}.pt", weights_only=True)
                     for r in range(WORLD)]
            # every rank holds the same checkpoint: parameters, BN statistics, key encoders, queues,
            # optimiser state and every rank's RNG state
            assert_same(ranks[0], ranks[1], f"{kind} stage {stage}")
            assert ranks[0]["world_size"] == WORLD and len(ranks[0]["rng_ranks"]) == WORLD
            assert not torch.equal(ranks[0]["rng_ranks"][0]["torch"], ranks[0]["rng_ranks"][1]["torch"])
            kept = load_checkpoint(spawned / kind / f"stage{stage}_{['s0_rgb', 'cmmc_flow'][stage]}.pt")
            assert_same(kept["model"], ranks[1]["model"], f"{kind} stage {stage} file vs rank 1")
        assert_same(written, ranks[1], f"{kind}: checkpoint.pt vs rank 1's content")
    bn = load_checkpoint(spawned / "bn" / "checkpoint.pt")["model"]
    trained_bn = [k for k in bn if k.startswith("rgb.encoder_q.") and k.endswith("running_mean")]
    assert trained_bn and any(bn[k].abs().sum() > 0 for k in trained_bn)  # the statistics did move

    # the same schedule in one process, batch 2·B: the same samples, the same mixing per block
    with deterministic_draws():
        monkeypatch.delenv("WORLD_SIZE", raising=False)
        monkeypatch.setenv("VIMIX_THREADS", "1")
        one_process = overrides(root, flow, tmp_path / "one", "plain", WORLD * LOCAL)
        run_pretrain(load_pretrain_config(None, one_process))
    one, two = load_checkpoint(tmp_path / "one" / "checkpoint.pt"), load_checkpoint(spawned / "plain" /
                                                                                     "checkpoint.pt")
    assert_same(two["model"], one["model"], "2 processes vs 1 process", exact=False)
    losses = [[(r["step"], r["loss"]) for r in read_metrics(run / "metrics.jsonl") if "loss" in r]
              for run in (tmp_path / "one", spawned / "plain")]
    assert len(losses[0]) == len(losses[1]) >= 4
    for (step_one, loss_one), (step_two, loss_two) in zip(*losses):
        assert step_one == step_two and abs(loss_one - loss_two) < 1e-5
    moved = [k for k in one["model"] if not torch.equal(one["model"][k], load_checkpoint(
        tmp_path / "one" / "stage0_s0_rgb.pt")["model"][k])]
    assert any(k.startswith("flow.encoder_q.") for k in moved)
    assert any(k.startswith("flow.queue") for k in moved)


ELASTIC_SCRIPT = """
import os, signal, sys
from pathlib import Path

from vimix_ssl.engine.trainer import Trainer
from vimix_ssl.jobs.pretrain.config import load_pretrain_config
from vimix_ssl.jobs.pretrain.schedule import run_pretrain

marker, kill_at = Path(sys.argv[1]), int(sys.argv[2])
original, calls = Trainer._update, {"n": 0}


def update(self, loss):  # the fault: rank 1 is killed (SIGKILL, no checkpoint) once, mid-stage
    calls["n"] += 1
    if os.environ["RANK"] == "1" and calls["n"] == kill_at and not marker.exists():
        marker.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, loss)


Trainer._update = update
try:
    run_pretrain(load_pretrain_config(None, sys.argv[3:]))
finally:
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    (marker.parent / f"updates_rank{os.environ['RANK']}_restart{restart}").write_text(str(calls["n"]))
"""


def test_torchrun_restarts_a_killed_worker_and_the_run_ends_as_an_uninterrupted_one(
        video_data, spawned, tmp_path):
    import subprocess
    import sys

    from vimix_ssl.utils.checkpoint import load_checkpoint

    root, flow = video_data
    script = tmp_path / "elastic_pretrain.py"
    script.write_text(ELASTIC_SCRIPT)
    marker, run = tmp_path / "killed", tmp_path / "run"
    # stage 0: 1 epoch of 2 steps; stage 1: 2 epochs of 2 steps. Update 5 is stage 1, epoch 2, step 1:
    # the last checkpoint is the end of stage 1's first epoch.
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(WORLD),
               "--max-restarts", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{free_port()}",
               "--monitor-interval", "0.5", str(script), str(marker), "5",
               *overrides(root, flow, run, "bn", resume="auto")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, **CHILD_ENV})
    assert done.returncode == 0, done.stderr[-3000:]
    assert marker.is_file(), "the worker was not killed"
    assert "resuming" in done.stderr and "stage 1 (cmmc_flow), epoch 2, step 0" in done.stderr
    updates = {p.name: int(p.read_text()) for p in tmp_path.glob("updates_rank*")}
    assert updates["updates_rank0_restart1"] == updates["updates_rank1_restart1"] == 2  # only the rest
    final = load_checkpoint(run / "checkpoint.pt")
    uninterrupted = load_checkpoint(spawned / "bn" / "checkpoint.pt")
    assert_same(final["model"], uninterrupted["model"], "restarted vs uninterrupted")
    assert_same(final["rng_ranks"], uninterrupted["rng_ranks"], "random streams")
