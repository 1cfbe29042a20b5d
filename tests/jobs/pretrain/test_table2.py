"""Vi-Mix Table 2 configs: their resolved switches, one training step of each stage kind on CPU,
no partner loaded where none is used, and unused settings refused by `vimix pretrain`."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vimix_ssl.config import to_dict
from vimix_ssl.jobs.pretrain.config import load_pretrain_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "pretrain"

# row -> switches of its CMMC stages as the resolved (saved) config shows them
ROWS = {
    "mixup": {"op": "mixup", "axes": None, "cross_modal": False, "random_partner_layer": False},
    "cm_mixup": {"op": "mixup", "axes": None, "cross_modal": True, "random_partner_layer": False},
    "cm_cutmix_s": {"op": "cutmix", "axes": "s", "cross_modal": True, "random_partner_layer": False},
    "cm_cutmix_st": {"op": "cutmix", "axes": "s+t", "cross_modal": True, "random_partner_layer": False},
    "cm_cutmix_stc": {"op": "cutmix", "axes": "s+t+c", "cross_modal": True, "random_partner_layer": False},
    "random_layer": {"op": "cutmix", "axes": "s+t+c", "cross_modal": True, "random_partner_layer": True},
}


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory) -> tuple[Path, Path]:
    """A few synthetic clips (UCF101 layout) and their DIS flow store."""
    from vimix_ssl.data.flow_extract import FlowExtractSpec, extract_flow_store
    from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf

    base = tmp_path_factory.mktemp("t2_video")
    result = generate_synthetic_ucf(base / "videos", SynthVideoConfig(
        classes=2, per_class=4, clips_per_group=1, frames_min=10, frames_max=10, width=40, height=32, seed=3))
    spec = FlowExtractSpec(source="raw", source_root=str(result.root), out_dir=str(base / "flow"),
                           method="dis")
    assert not extract_flow_store(result.train, spec, workers=1).failed
    return result.root, base / "flow"


def tiny_config(name: str, root: Path, flow: Path, out: Path):
    return load_pretrain_config(CONFIGS / f"{name}.yaml", [
        f"data.root={root}", f"modalities.flow.store={flow}", f"out_dir={out}", "device=cpu",
        "data.clip_len=8", "data.size=32", "data.batch_size=2", "data.num_workers=0", "knn.every=0",
        "modalities.rgb.encoder_kwargs.width=0.0625", "modalities.flow.encoder_kwargs.width=0.0625",
        "modalities.rgb.queue_size=8", "modalities.flow.queue_size=8"])


def one_step(config, stage, mocos) -> tuple[dict, dict]:
    """The schedule's own pieces for one stage: its loader's first batch, transforms, method, a step."""
    from vimix_ssl.jobs.pretrain import build
    from vimix_ssl.jobs.pretrain.schedule import stage_modalities
    from vimix_ssl.methods.registry import build_stage_method

    device = torch.device("cpu")
    modalities = stage_modalities(stage)
    loader = build.build_train_loader(config, modalities, device)
    loader.set_epoch(0)
    raw = next(iter(loader))
    transforms = build.build_batch_transforms(config, modalities, device)
    batch = {k: [transforms.get(k, lambda v: v)(v) for v in views] for k, views in raw.items()
             if k in modalities}
    method = build_stage_method(stage, mocos)
    method.train()
    out = method.training_step(batch)
    out["loss"].backward()
    return raw, out


@pytest.mark.parametrize("row", [*ROWS, "moco"])
def test_synthetic_table2_config_resolves_its_switches_and_trains_a_step_per_stage_kind(row, tiny_video,
                                                                                      tmp_path):
    from vimix_ssl.jobs.pretrain import build

    config = tiny_config(f"vimix_synth_t2_{row}", *tiny_video, tmp_path)
    saved = to_dict(config)["stages"]  # what the run writes to config.yaml
    if row == "moco":
        assert [(s["train"], s["mixing"]["kind"]) for s in saved] == [("rgb", "none"), ("flow", "none")]
        chosen = config.stages[:1]
    else:
        cmmc = [s for s in saved if s["mixing"]["kind"] == "cmmc"]
        assert len(cmmc) == 4 and [s["train"] for s in cmmc] == ["rgb", "flow", "rgb", "flow"]
        for stage in cmmc:
            shown = {k: stage["mixing"][k] for k in ROWS[row]}
            assert shown == ROWS[row], (row, stage["name"])
            assert stage["mixing"]["alpha"] == 1.0 and stage["mixing"]["mixer"] is None  # λ₀ ~ U(0, 1)
            assert stage["mixing"]["fold_lambda"] == (False if ROWS[row]["op"] == "mixup" else None)
            other = {"rgb": "flow", "flow": "rgb"}[stage["train"]]
            assert stage["partner"] == (None if row == "mixup" else other)
        assert all(s["mixing"]["op"] is None for s in saved[:2])  # stage 0 (input mixup) has no CMMC keys
        chosen = [s for s in config.stages if s.mixing.kind == "cmmc"][:1]  # rgb, flow frozen
    torch.manual_seed(0)
    mocos = build.build_mocos(config)
    for stage in chosen:
        raw, out = one_step(config, stage, mocos)
        loaded = {k for k, v in raw.items() if isinstance(v, list) and torch.is_tensor(v[0])}
        expected = {stage.train} | ({stage.partner} if stage.uses_partner() else set())
        assert loaded == expected, (stage.name, loaded)  # cross_modal=false: the partner is not decoded
        assert torch.isfinite(out["loss"]), stage.name
        if stage.mixing.kind == "cmmc":
            assert 0.0 <= float(out["lam"]) <= 1.0


def test_flow_encoder_takes_three_channels_by_default_and_two_as_an_option(tiny_video, tmp_path):
    from vimix_ssl.jobs.pretrain import build

    root, flow = tiny_video
    config = tiny_config("vimix_synth_t2_cm_cutmix_s", root, flow, tmp_path)
    assert config.modalities["flow"].encoder_kwargs["in_channels"] == 3  # METHOD §4
    clips = build.build_dataset(config, ["flow"], "train")[0]["flow"]
    assert clips[0].shape[0] == 3 and torch.equal(clips[0][2], torch.zeros_like(clips[0][2]))  # constant
    two = load_pretrain_config(CONFIGS / "vimix_synth_t2_cm_cutmix_s.yaml", [
        f"data.root={root}", f"modalities.flow.store={flow}", "modalities.flow.encoder_kwargs.in_channels=2"])
    assert build.build_dataset(two, ["flow"], "train")[0]["flow"][0].shape[0] == 2
    bad = load_pretrain_config(CONFIGS / "vimix_synth_t2_cm_cutmix_s.yaml", [
        f"data.root={root}", f"modalities.flow.store={flow}", "modalities.flow.encoder_kwargs.in_channels=4"])
    with pytest.raises(ValueError, match=r"in_channels: expected 3 .* or 2"):
        build.build_dataset(bad, ["flow"], "train")


@pytest.mark.parametrize("row,override,message", [
    ("cm_mixup", "stage_defaults.mixing.axes=s", "stage_defaults.mixing.axes='s': read by no stage"),
    ("moco", "stage_defaults.mixing.alpha=0.5", "stage_defaults.mixing.alpha=0.5: read by no stage"),
    ("cm_mixup", "stages=[{name: s0, train: rgb, mixing: {kind: input, op: cutmix}}]",
     "stage 's0': mixing.op='cutmix' is not used by mixing.kind=input"),
    ("cm_cutmix_s", "stages=[{name: c1, train: rgb, partner: flow, mixing: {kind: cmmc, mixer: mixup}}]",
     "stage 'c1': mixing.mixer='mixup' is not used by mixing.kind=cmmc"),
    ("mixup", "stages=[{name: c1, train: rgb, partner: flow}]", "stage 'c1': partner='flow' is not used"),
])
def test_pretrain_command_refuses_settings_no_stage_reads(row, override, message, capsys):
    from vimix_ssl.cli import main

    assert main(["pretrain", str(CONFIGS / f"vimix_synth_t2_{row}.yaml"), override]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
