"""Benchmark: a CMMC training step against a plain MoCo step of the same encoder and batch.

Every variant is a full optimiser step (forward, i-Mix/InfoNCE loss, backward, update, EMA,
enqueue) on the same RGB encoder, batch and queue. Variants run interleaved round by round
(one step each per round) so machine load hits them alike; the table reports the median
step time and its ratio to the plain MoCo step measured in the same rounds. On CPU the
ratio uses this process's CPU time with one thread (wall time on a shared machine mostly
measures the other processes); on CUDA it uses synchronised wall time.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch import nn

ENCODER = "s3d_small"  # same registry encoder for both modalities (3 channels each, METHOD §4)
GOAL_RATIO = 1.5  # issue 7: a CMMC step costs at most 1.5× a MoCo step


def _mocos(encoder: str, width: float) -> nn.ModuleDict:
    from vimix_ssl.methods.moco import MoCo
    from vimix_ssl.models.heads import video_projection_head
    from vimix_ssl.models.registry import build_encoder

    mocos = {}
    for modality, channels in (("rgb", 3), ("flow", 3)):
        backbone = build_encoder(encoder, in_channels=channels, width=width)
        head = video_projection_head(backbone.feature_dim, hidden_dim=backbone.feature_dim)
        mocos[modality] = MoCo(backbone, head, dim=128, queue_size=256)
    return nn.ModuleDict(mocos)


def _variants(mocos: nn.ModuleDict) -> dict[str, nn.Module]:
    from vimix_ssl.methods.cmmc import CrossModalManifoldCutMix
    from vimix_ssl.methods.moco import MoCoMethod
    from vimix_ssl.mixing.registry import build_mixer

    return {
        "MoCo (baseline)": MoCoMethod(mocos, "rgb"),
        "MoCo + input mixup": MoCoMethod(mocos, "rgb", mixer=build_mixer("mixup", per_sample=True)),
        "CMMC cutmix s+t+c, random layer": CrossModalManifoldCutMix(mocos, "rgb", "flow"),
        "CMMC cutmix s, same layer": CrossModalManifoldCutMix(mocos, "rgb", "flow", axes="s",
                                                              random_partner_layer=False),
        "CMMC mixup, same layer": CrossModalManifoldCutMix(mocos, "rgb", "flow", op="mixup",
                                                           random_partner_layer=False),
        "manifold cutmix (no partner)": CrossModalManifoldCutMix(mocos, "rgb", None, cross_modal=False,
                                                                 random_partner_layer=False),
    }


def run(quick: bool = False) -> dict[str, Any]:
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() and not quick else "cpu")
    if device.type == "cuda":  # the paper's setting: full S3D, 32×128² clips
        width, batch_size, frames, size, rounds, warmup = 1.0, 16, 32, 128, 10, 3
    elif quick:
        width, batch_size, frames, size, rounds, warmup = 0.0625, 2, 8, 32, 2, 1
    else:
        width, batch_size, frames, size, rounds, warmup = 0.125, 8, 8, 64, 10, 2
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)  # CPU time of one thread = the step's work, whatever the load
    try:
        return _measure(device, width, batch_size, frames, size, rounds, warmup)
    finally:
        torch.set_num_threads(threads)


def _measure(device: torch.device, width: float, batch_size: int, frames: int, size: int, rounds: int,
             warmup: int) -> dict[str, Any]:
    mocos = _mocos(ENCODER, width).to(device)
    batch = {"rgb": [torch.randn(batch_size, 3, frames, size, size, device=device) for _ in range(2)],
             "flow": [torch.randn(batch_size, 3, frames, size, size, device=device) for _ in range(2)]}
    variants = _variants(mocos)
    optimizer = torch.optim.Adam(mocos["rgb"].query_parameters(), lr=1e-4)
    cpu_times: dict[str, list[float]] = {name: [] for name in variants}
    wall_times: dict[str, list[float]] = {name: [] for name in variants}

    def step(method: nn.Module) -> tuple[float, float]:
        method.train()
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        loss = method.training_step(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.process_time() - cpu, time.perf_counter() - wall

    for round_index in range(warmup + rounds):
        for name, method in variants.items():
            cpu, wall = step(method)
            if round_index >= warmup:
                cpu_times[name].append(cpu)
                wall_times[name].append(wall)

    measured = wall_times if device.type == "cuda" else cpu_times
    base = statistics.median(measured["MoCo (baseline)"])
    rows = [[name, round(1000 * statistics.median(wall_times[name]), 1),
             round(1000 * statistics.median(cpu_times[name]), 1),
             round(statistics.median(measured[name]) / base, 3)] for name in variants]
    worst = max(row[3] for row in rows if row[0].startswith("CMMC"))
    return {
        "title": "CMMC step vs plain MoCo step (same encoder, batch, queue)",
        "columns": ["variant", "wall ms per step (median)", "CPU ms per step (median)",
                    f"× MoCo step ({'wall' if device.type == 'cuda' else 'CPU'} time)"],
        "rows": rows,
        "goal": f"every CMMC variant ≤ {GOAL_RATIO}× the MoCo step",
        "goal_met": bool(worst <= GOAL_RATIO),
        "notes": (f"{ENCODER} width {width} on {device.type}, batch {batch_size}×3×{frames}×{size}², "
                  f"{rounds} interleaved rounds after {warmup} warm-up, "
                  f"CPU threads={torch.get_num_threads()}. "
                  f"CMMC adds the "
                  f"frozen partner's no-grad forward up to its cut; the trained encoder's forward is "
                  f"split at the cut, not repeated. fp32, no AMP. The ratio column is the result; "
                  f"absolute times depend on the machine and, for wall time, on its load."),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True), indent=1))
