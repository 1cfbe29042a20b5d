"""CMMC stage method: frozen partner, trained modality, EMA/queue bookkeeping, layer choice."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import Tensor, nn

from vimix_ssl.methods import cmmc as cmmc_module
from vimix_ssl.methods.cmmc import (
    CrossModalManifoldCutMix,
    draw_cuts,
    matching_cut,
    partner_cuts,
)
from vimix_ssl.methods.config import MixingConfig, StageConfig
from vimix_ssl.methods.moco import MoCo
from vimix_ssl.methods.registry import build_stage_method
from vimix_ssl.models.base import StagedEncoder


class TinyVideo(StagedEncoder):
    """Conv3d+BN+ReLU stages; each stride-2 stage halves t, h, w."""

    feature_layout = "cthw"
    input_layout = "cthw"

    def __init__(self, in_channels: int, widths=(4, 8, 16), strides=(1, 2, 2)) -> None:
        super().__init__()
        self.in_channels = in_channels
        c = in_channels
        for i, (w, s) in enumerate(zip(widths, strides)):
            conv = nn.Conv3d(c, w, 3, stride=s, padding=1, bias=False)
            block = nn.Sequential(conv, nn.BatchNorm3d(w), nn.ReLU())
            self.add_stage(f"block{i}", block, w)
            c = w
        self.feature_dim = c

    def pool(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3, 4))  # (B, C, T, H, W) -> (B, C)


class TinySkeleton(StagedEncoder):
    """(B, 3, T, V, M) input -> (B, M, C, T, V) stages (conv over t, v), mean-pooled."""

    feature_layout = "mctv"
    input_layout = "ctvm"

    def __init__(self, widths=(4, 8)) -> None:
        super().__init__()
        self.in_channels = 3
        c = 3
        for i, w in enumerate(widths):
            self.add_stage(f"block{i}", _BodyConv(c, w, first=i == 0), w)
            c = w
        self.feature_dim = c

    def pool(self, x: Tensor) -> Tensor:
        return x.mean(dim=(3, 4)).mean(dim=1)  # (B, M, C, T, V) -> (B, C)


class _BodyConv(nn.Module):
    def __init__(self, cin: int, cout: int, first: bool) -> None:
        super().__init__()
        self.first = first
        self.conv, self.bn = nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        if self.first:
            x = x.permute(0, 4, 1, 2, 3)  # (B, C, T, V, M) -> (B, M, C, T, V)
        b, m = x.shape[:2]
        y = torch.relu(self.bn(self.conv(x.flatten(0, 1))))  # (B·M, C', T, V)
        return y.view(b, m, *y.shape[1:])


def make_moco(encoder: StagedEncoder, queue_size: int = 16, momentum: float = 0.9) -> MoCo:
    head = nn.Sequential(nn.Linear(encoder.feature_dim, 8), nn.ReLU(), nn.Linear(8, 4))
    return MoCo(encoder, head, dim=4, queue_size=queue_size, momentum=momentum, temperature=0.2)


def video_setup(seed: int = 0, partner: StagedEncoder | None = None):
    torch.manual_seed(seed)
    mocos = nn.ModuleDict({"rgb": make_moco(TinyVideo(3)), "flow": make_moco(partner or TinyVideo(2))})
    b = 4
    batch = {"rgb": [torch.randn(b, 3, 4, 8, 8), torch.randn(b, 3, 4, 8, 8)],
             "flow": [torch.randn(b, 2, 4, 8, 8), torch.randn(b, 2, 4, 8, 8)]}
    return mocos, batch


def snapshot(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same(before: dict[str, Tensor], module: nn.Module) -> None:
    after = module.state_dict()
    for key, value in before.items():
        assert torch.equal(value, after[key]), f"{key} changed"


@pytest.mark.parametrize("op,axes,random_layer", [("cutmix", "s+t+c", True), ("cutmix", "s", False),
                                                  ("mixup", "s+t+c", False)])
def test_partner_frozen_trained_modality_learns(op, axes, random_layer):
    mocos, batch = video_setup()
    method = CrossModalManifoldCutMix(mocos, "rgb", "flow", op=op, axes=axes,
                                      random_partner_layer=random_layer)
    optimizer = torch.optim.SGD(mocos["rgb"].query_parameters(), lr=0.5)
    partner_before = snapshot(mocos["flow"])  # query+key encoders, heads, BN stats, queue
    rgb = mocos["rgb"]
    for _ in range(2):
        method.train()  # as the trainer does every epoch: puts the partner in train mode too
        q_before = {k: v.detach().clone() for k, v in rgb.encoder_q.named_parameters()}
        k_before = {k: v.detach().clone() for k, v in rgb.encoder_k.named_parameters()}
        queue_before = rgb.queue.keys.clone()
        out = method.training_step(batch)
        # EMA θ_k ← m θ_k + (1−m) θ_q with the query weights of this step
        for name, param in rgb.encoder_k.named_parameters():
            torch.testing.assert_close(param, 0.9 * k_before[name] + 0.1 * q_before[name])
        assert not torch.equal(rgb.queue.keys, queue_before)  # enqueued into m1's queue
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        assert all(p.grad is None for p in mocos["flow"].parameters()), "partner received a gradient"
        assert all(p.grad is None for p in rgb.encoder_k.parameters())
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in rgb.encoder_q.parameters())
        optimizer.step()
        changed = [not torch.equal(p, q_before[n]) for n, p in rgb.encoder_q.named_parameters()]
        assert all(changed), "every trained query parameter should move"
        assert torch.isfinite(out["loss"]) and 0 <= out["lam"] <= 1
    assert_same(partner_before, mocos["flow"])


def test_partner_input_is_other_modality_of_another_instance(monkeypatch):
    mocos, batch = video_setup(1)
    seen: dict = {}
    real_mix = cmmc_module.feature_cutmix

    def spy_mix(g1, g2, *args, **kwargs):
        seen.update(g1=g1, g2=g2, perm=kwargs["perm"])
        out = real_mix(g1, g2, *args, **kwargs)
        seen["mixed"] = out
        return out

    partner = mocos["flow"].encoder_q
    real_forward = partner.forward_stages

    def spy_forward(x, start=0, end=None):
        seen.update(partner_input=x, partner_end=end, grad_enabled=torch.is_grad_enabled(),
                    partner_training=partner.training)
        return real_forward(x, start, end)

    monkeypatch.setattr(cmmc_module, "feature_cutmix", spy_mix)
    monkeypatch.setattr(partner, "forward_stages", spy_forward)
    method = CrossModalManifoldCutMix(mocos, "rgb", "flow")
    method.train()
    out = method.training_step(batch)
    perm = seen["perm"]
    assert sorted(perm.tolist()) == list(range(4))
    torch.testing.assert_close(seen["partner_input"], batch["flow"][0][perm])
    assert not seen["grad_enabled"] and not seen["partner_training"]
    assert seen["g1"].requires_grad and not seen["g2"].requires_grad
    assert seen["partner_end"] == int(out["partner_cut"]) >= int(out["cut"])
    assert seen["g1"].shape[1] == mocos["rgb"].encoder_q.cut_channels(int(out["cut"]))


def test_partner_layer_choice():
    same_a, same_b = TinyVideo(3, widths=(2, 2, 2, 2), strides=(1,) * 4), TinyVideo(2, widths=(2,) * 4,
                                                                                  strides=(1,) * 4)
    gen = torch.Generator().manual_seed(0)
    pairs = {draw_cuts(same_a, same_b, True, gen) for _ in range(300)}
    assert all(deep_cut >= cut for cut, deep_cut in pairs)
    assert pairs == {(cut, deep_cut) for cut in range(1, 5) for deep_cut in range(cut, 5)}  # all occur
    assert all(p == k for k, p in (draw_cuts(same_a, same_b, False, gen) for _ in range(50)))
    # different stage lists: compared by relative depth cut / num_stages
    shallow, deep = TinyVideo(3, widths=(2, 2), strides=(1, 1)), same_b  # 2 vs 4 stages
    assert partner_cuts(shallow, deep, 1) == [2, 3, 4]  # 1/2 ≤ 2/4, 3/4, 4/4
    assert partner_cuts(deep, shallow, 3) == [2]  # 3/4 -> only 2/2
    assert matching_cut(shallow, deep, 1) == 2 and matching_cut(deep, shallow, 1) == 1
    deep.mixable = ["block0"]  # no partner cut that deep: its deepest mixable one
    assert partner_cuts(shallow, deep, 2) == [1]


def test_deeper_partner_with_more_channels_and_smaller_map():
    partner = TinyVideo(2, widths=(4, 32, 64), strides=(2, 2, 2))
    mocos, batch = video_setup(2, partner=partner)
    before = snapshot(mocos["flow"])
    method = CrossModalManifoldCutMix(mocos, "rgb", "flow", axes="s+t+c")
    for _ in range(3):
        out = method.training_step(batch)
        out["loss"].backward()
    assert_same(before, mocos["flow"])


def test_manifold_mixing_without_partner_modality():
    mocos, batch = video_setup(3)
    before = snapshot(mocos["flow"])
    rgb_only = {"rgb": batch["rgb"]}  # the partner modality is not needed
    method = CrossModalManifoldCutMix(mocos, "rgb", "flow", cross_modal=False, random_partner_layer=False)
    out = method.training_step(rgb_only)
    out["loss"].backward()
    assert out["cut"] == out["partner_cut"]
    assert_same(before, mocos["flow"])


def test_skeleton_streams_mix_joints():
    torch.manual_seed(4)
    mocos = nn.ModuleDict({"joint": make_moco(TinySkeleton()), "motion": make_moco(TinySkeleton())})
    views = lambda: [torch.randn(4, 3, 6, 25, 2), torch.randn(4, 3, 6, 25, 2)]  # (B, C, T, V, M)
    batch = {"joint": views(), "motion": views()}
    before = snapshot(mocos["motion"])
    method = CrossModalManifoldCutMix(mocos, "joint", "motion", axes="s")
    out = method.training_step(batch)
    out["loss"].backward()
    assert_same(before, mocos["motion"])
    assert 0 <= out["lam"] <= 1


def test_built_from_stage_config_and_bad_settings():
    mocos, _ = video_setup()
    stage = StageConfig(name="cmmc_rgb", train="rgb", partner="flow",
                        mixing=MixingConfig(kind="cmmc", op="cutmix", axes="s+t"))
    method = build_stage_method(stage, mocos)
    assert isinstance(method, CrossModalManifoldCutMix)
    assert method.axes == "s+t" and method.partner == "flow" and method.random_partner_layer
    with pytest.raises(ValueError, match="random_partner_layer=false"):
        CrossModalManifoldCutMix(mocos, "rgb", "flow", op="mixup", random_partner_layer=True)
    with pytest.raises(ValueError, match="partner modality"):
        CrossModalManifoldCutMix(mocos, "rgb", "rgb")
    with pytest.raises(ValueError, match="axes"):
        CrossModalManifoldCutMix(mocos, "rgb", "flow", axes="c")


def test_alpha_and_fold_lambda_of_the_stage_reach_the_mix(monkeypatch):
    mocos, batch = video_setup(6)
    seen: dict = {}
    real_mix = cmmc_module.feature_cutmix

    def spy_mix(g1, g2, *args, **kwargs):
        seen.update(kwargs)
        return real_mix(g1, g2, *args, **kwargs)

    monkeypatch.setattr(cmmc_module, "feature_cutmix", spy_mix)
    stage = StageConfig(name="c", train="rgb", partner="flow",
                        mixing=MixingConfig(kind="cmmc", alpha=0.3, axes="s+t"))
    build_stage_method(stage, mocos).training_step(batch)
    assert (seen["alpha"], seen["fold_lambda"], seen["axes"], seen["op"]) == (0.3, False, "s+t", "cutmix")
    folded = StageConfig(name="m", train="rgb", partner="flow",
                         mixing=MixingConfig(kind="cmmc", op="mixup", fold_lambda=True))
    for _ in range(3):
        out = build_stage_method(folded, mocos).training_step(batch)
        assert seen["fold_lambda"] is True and float(out["lam"]) >= 0.5
    with pytest.raises(ValueError, match="fold_lambda applies to op='mixup' only"):
        CrossModalManifoldCutMix(mocos, "rgb", "flow", fold_lambda=True)


def test_same_generator_gives_same_step():
    results = []
    for _ in range(2):
        mocos, batch = video_setup(5)
        method = CrossModalManifoldCutMix(copy.deepcopy(mocos), "rgb", "flow",
                                          generator=torch.Generator().manual_seed(9))
        results.append(method.training_step(batch)["loss"].item())
    assert results[0] == results[1]


# -- the staged schedule through the pre-training runner ------------------------------------------
@pytest.fixture(scope="module")
def synth_skeletons(tmp_path_factory):
    from vimix_ssl.data.skeleton.prepare import NtuPrepareConfig, prepare_ntu
    from vimix_ssl.data.skeleton.synthetic import SyntheticSkeletonConfig, write_synthetic_skeletons

    raw = tmp_path_factory.mktemp("skel_raw")
    write_synthetic_skeletons(raw, SyntheticSkeletonConfig(classes=2, per_class=8, min_frames=20,
                                                           max_frames=24, seed=1))
    out = tmp_path_factory.mktemp("skel_prepared")
    prepare_ntu(raw, out, config=NtuPrepareConfig(max_frames=30), workers=1)
    return out


def four_stage_config(root, out_dir):
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config

    stream = ("{encoder: stgcn_small, encoder_kwargs: {width: 0.0625}, head_hidden: 8, dim: 8, "
              "queue_size: 8, momentum: 0.9}")
    return load_pretrain_config(None, [
        f"out_dir={out_dir}", "device=cpu", "log_every=1", "seed=5",
        f"data={{root: '{root}', benchmark: xsub, batch_size: 2, num_workers: 0}}",
        f"modalities={{joint: {stream}, motion: {stream}}}",
        "stage_defaults={epochs: 1, optim: {name: sgd, lr: 0.05}, "
        "mixing: {kind: cmmc, op: cutmix, axes: s+t+c, random_partner_layer: true}}",
        "stages=[{name: s0_joint, train: joint, mixing: {kind: none}}, "
        "{name: s0_motion, train: motion, mixing: {kind: none}}, "
        "{name: cmmc_joint, train: joint, partner: motion, epochs: 2}, "
        "{name: cmmc_motion, train: motion, partner: joint}]"])


def test_four_stage_schedule_resumes_in_stage_three_and_freezes_the_partner(synth_skeletons, tmp_path,
                                                                            monkeypatch):
    import os
    import signal

    from vimix_ssl.engine.metrics import read_metrics
    from vimix_ssl.engine.trainer import Trainer
    from vimix_ssl.jobs.pretrain.schedule import run_pretrain
    from vimix_ssl.utils.checkpoint import load_checkpoint

    def losses(out_dir):
        return [(r["step"], r["stage"], r["loss"]) for r in read_metrics(out_dir / "metrics.jsonl")
                if "loss" in r]

    full = tmp_path / "full"
    run_pretrain(four_stage_config(synth_skeletons, full))
    reference = losses(full)
    steps = len(reference) // 5  # stages of 1, 1, 2, 1 epochs
    assert steps >= 3 and len(reference) == 5 * steps
    assert [s for _, s, _ in reference] == [0] * steps + [1] * steps + [2] * 2 * steps + [3] * steps

    # the partner is frozen for a whole stage: weights, BN statistics, key encoder and queue
    def modality_state(path, modality):
        model = load_checkpoint(path)["model"]
        return {k: v for k, v in model.items() if k.startswith(f"{modality}.")}

    before = modality_state(full / "stage1_s0_motion.pt", "motion")
    after = modality_state(full / "stage2_cmmc_joint.pt", "motion")
    assert all(torch.equal(before[k], after[k]) for k in before)
    joint_before = modality_state(full / "stage1_s0_motion.pt", "joint")
    joint_after = modality_state(full / "stage2_cmmc_joint.pt", "joint")
    assert not torch.equal(joint_before["joint.queue.keys"], joint_after["joint.queue.keys"])
    assert any(not torch.equal(joint_before[k], joint_after[k]) for k in joint_before
               if k.startswith("joint.encoder_k."))

    part = tmp_path / "part"
    original, calls = Trainer._update, {"n": 0}

    def update(self, loss):  # Ctrl-C during an update of stage 3's second epoch
        calls["n"] += 1
        if calls["n"] == 3 * steps + 1:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, loss)

    monkeypatch.setattr(Trainer, "_update", update)
    with pytest.raises(KeyboardInterrupt):
        run_pretrain(four_stage_config(synth_skeletons, part))
    monkeypatch.undo()
    saved = load_checkpoint(part / "checkpoint.pt")
    assert (saved["stage"], saved["epoch"], saved["step_in_epoch"]) == (2, 1, 2)
    run_pretrain(four_stage_config(synth_skeletons, part))  # resume=auto
    assert losses(part) == reference  # every loss equal, none duplicated or missing
    final, resumed = load_checkpoint(full / "checkpoint.pt"), load_checkpoint(part / "checkpoint.pt")
    for key, value in final["model"].items():
        assert torch.equal(value, resumed["model"][key]), key


def test_vimix_configs_hold_the_paper_schedules_and_table2_rows():
    from pathlib import Path

    from vimix_ssl.jobs.pretrain.build import build_mocos
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config

    configs = Path(__file__).resolve().parents[2] / "configs" / "pretrain"
    full = load_pretrain_config(configs / "vimix_ucf101.yaml")
    order = [(s.train, s.partner, s.epochs, s.mixing.kind) for s in full.stages]
    assert order == [("rgb", None, 300, "input"), ("flow", None, 300, "input"),
                     ("rgb", "flow", 100, "cmmc"), ("flow", "rgb", 100, "cmmc"),
                     ("rgb", "flow", 100, "cmmc"), ("flow", "rgb", 100, "cmmc")]
    assert all(s.mixing.mixer == "mixup" for s in full.stages[:2])
    for stage in full.stages:
        assert (stage.optim.name, stage.optim.lr, stage.optim.weight_decay) == ("adam", 1e-3, 1e-5)
    assert full.modalities["flow"].encoder_kwargs["in_channels"] == 3  # METHOD §4: constant third channel
    assert {m.queue_size for m in full.modalities.values()} == {2048}
    k400 = load_pretrain_config(configs / "vimix_k400.yaml")
    assert {m.queue_size for m in k400.modalities.values()} == {16384}
    assert k400.data["dataset"] == "kinetics400" and len(k400.stages) == 6
    # Table 2: (op, axes, cross_modal, random_partner_layer) of the CMMC stages
    rows = {"mixup": ("mixup", False, False), "cm_mixup": ("mixup", True, False),
            "cm_cutmix_s": ("cutmix", True, False, "s"), "cm_cutmix_st": ("cutmix", True, False, "s+t"),
            "cm_cutmix_stc": ("cutmix", True, False, "s+t+c"),
            "random_layer": ("cutmix", True, True, "s+t+c")}
    for prefix in ("vimix_ucf101_t2_", "vimix_synth_t2_"):
        for row, expected in rows.items():
            config = load_pretrain_config(configs / f"{prefix}{row}.yaml")
            cmmc_stages = [s for s in config.stages if s.mixing.kind == "cmmc"]
            assert len(cmmc_stages) == 4, (prefix, row)
            for s in cmmc_stages:
                got = (s.mixing.op, s.mixing.cross_modal, s.mixing.random_partner_layer)
                assert got == expected[:3], (prefix, row, got)
                assert s.mixing.alpha == 1.0 and s.uses_partner() == expected[1]
                assert (s.partner is None) == (not expected[1])  # "+ mixup": no partner to load
                if len(expected) == 4:
                    assert s.mixing.axes == expected[3]
        baseline = load_pretrain_config(configs / f"{prefix}moco.yaml")
        assert [(s.train, s.mixing.kind) for s in baseline.stages] == [("rgb", "none"), ("flow", "none")]
    assert load_pretrain_config(configs / "vimix_ucf101_t2_moco.yaml").stages[0].epochs == 500
    for benchmark in ("xsub", "xview"):
        skeleton = load_pretrain_config(configs / f"vimix_ntu60_{benchmark}.yaml")
        assert skeleton.data["benchmark"] == benchmark
        assert [(s.train, s.partner, s.epochs, s.mixing.kind) for s in skeleton.stages] == [
            ("joint", None, 150, "none"), ("motion", None, 150, "none"),
            ("joint", "motion", 150, "cmmc"), ("motion", "joint", 150, "cmmc")]
        sgd = {(s.optim.name, s.optim.lr, s.optim.momentum, s.optim.weight_decay) for s in skeleton.stages}
        assert sgd == {("sgd", 0.1, 0.9, 1e-4)}
        assert {m.queue_size for m in skeleton.modalities.values()} == {32768}
    for name in ("vimix_synth", "vimix_synth_k400", "vimix_synth_skeleton"):
        config = load_pretrain_config(configs / f"{name}.yaml")
        assert [s.mixing.kind for s in config.stages][-2:] == ["cmmc", "cmmc"]
        mocos = build_mocos(config)  # every stage's method builds on the configured encoders
        for stage in config.stages:
            build_stage_method(stage, mocos)
