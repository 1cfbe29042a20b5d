"""Benchmark: a MoCo training step with and without each Vi-Mix Table 1 input mixer.

Same model, same batch, one optimiser step each (forward, EMA, keys, loss, enqueue,
backward, Adam step); the variants run interleaved, in rotating order, for the same
number of repetitions, and the median step time is compared with plain MoCo's.
Goal: input mixing adds at most 5% to the step time.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

MIXERS = ("none", "mixup", "videomix", "temporal_cutmix", "st_cutmix")


def _methods(moco: nn.Module) -> dict[str, nn.Module]:
    from vimix_ssl.methods.config import MixingConfig, StageConfig
    from vimix_ssl.methods.registry import build_stage_method

    mocos = nn.ModuleDict({"rgb": moco})
    methods = {}
    for name in MIXERS:
        mixing = MixingConfig(kind="none") if name == "none" else MixingConfig(kind="input", mixer=name)
        methods[name] = build_stage_method(StageConfig(train="rgb", mixing=mixing), mocos)
    return methods


def run(quick: bool = False) -> dict:
    from vimix_ssl.jobs.pretrain.build import build_moco
    from vimix_ssl.jobs.pretrain.config import ModalityConfig

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(1)  # a shared, busy CPU makes multi-threaded timings erratic
    if quick:
        batch, frames, size, width, repeats = 4, 8, 32, 0.0625, 2
    elif device.type == "cuda":
        batch, frames, size, width, repeats = 32, 32, 128, 1.0, 10
    else:
        batch, frames, size, width, repeats = 8, 16, 64, 0.125, 8
    torch.manual_seed(0)
    moco = build_moco(ModalityConfig(encoder="s3d", encoder_kwargs={"width": width}, head_hidden=128,
                                     queue_size=batch * 16)).to(device)
    methods = _methods(moco)
    optimizer = torch.optim.Adam(moco.query_parameters(), lr=1e-4)
    views = [torch.randn(batch, 3, frames, size, size, device=device) for _ in range(2)]  # (B, C, T, H, W)

    def step(method: nn.Module) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = method.training_step({"rgb": views})["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for method in methods.values():  # warm-up (allocator, kernels)
        method.train()
        step(method)
    times: dict[str, list[float]] = {name: [] for name in MIXERS}
    for repeat in range(repeats):
        order = MIXERS[repeat % len(MIXERS):] + MIXERS[:repeat % len(MIXERS)]
        for name in order:
            times[name].append(step(methods[name]))
    base = statistics.median(times["none"])
    rows = []
    for name in MIXERS:
        median = statistics.median(times[name])
        rows.append([name, round(median * 1000, 1), round(batch / median, 1), round(median / base, 3)])
    overheads = [row[3] for row in rows[1:]]
    return {
        "title": "MoCo step with input mixing (i-Mix) vs plain MoCo",
        "columns": ["mixer", "step ms (median)", "clips/s", "time vs no mixing"],
        "rows": rows,
        "goal": "input mixing adds <= 5% to the step time (ratio <= 1.05)",
        "goal_met": None if quick else all(r <= 1.05 for r in overheads),
        "notes": (f"{device.type}, S3D width {width}, batch {batch}, {frames}x{size}x{size} clips, "
                  f"{repeats} interleaved repetitions per variant after warm-up; per-sample λ and boxes; "
                  "the photometric augmentation (shared by all variants) is excluded"
                  + ("; CPU timings use one thread" if device.type == "cpu" else "")),
    }
