"""Protocol presets: CrosSCLR's skeleton linear evaluation feeds raw pooled features; CoCLR's finetune."""

from __future__ import annotations

import shutil

import pytest
import torch

from vimix_ssl.cli import main as vimix
from vimix_ssl.data.inputs import input_record
from vimix_ssl.data.skeleton.dataset import SkeletonDataConfig, SkeletonDataset
from vimix_ssl.data.skeleton.prepare import NtuPrepareConfig, prepare_ntu
from vimix_ssl.eval.features import FeatureSet
from vimix_ssl.eval.results import load_results
from vimix_ssl.models.export import export_encoder, load_encoder
from vimix_ssl.models.registry import build_encoder


@pytest.fixture(scope="module")
def ntu(real_data, tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    for path in (real_data / "ntu_rgbd60" / "nturgb+d_skeletons").glob("*.skeleton"):
        shutil.copy(path, raw / path.name)
    out = tmp_path_factory.mktemp("ntu")
    prepare_ntu(raw, out / "prepared", config=NtuPrepareConfig(max_frames=128), workers=1)
    torch.manual_seed(0)
    kwargs = {"in_channels": 3, "width": 0.25}
    encoder = build_encoder("stgcn_small", **kwargs)
    export_encoder(out / "joint.pt", "stgcn_small", kwargs, encoder.state_dict(), "joint",
                   inputs=input_record("joint", {"root": str(out / "prepared")}, kwargs))
    return out


@pytest.mark.parametrize("protocol", ["clean", "crossclr"])
def test_skeleton_probe_feeds_raw_pooled_features(ntu, protocol):
    """CrosSCLR processor/linear_evaluation.py: fc(backbone(x)) with no normalisation in between."""
    out = ntu / f"eval_{protocol}"
    assert vimix(["eval", "skeleton-linear", f"skeleton.root={ntu / 'prepared'}", "features.device=cpu",
                  "skeleton_probe.epochs=2", "--benchmark", "xsub", "--encoder", str(ntu / "joint.pt"),
                  "--out", str(out), "--protocol", protocol]) == 0
    (result,) = load_results(out)
    assert result["protocol"]["protocol_preset"] == protocol and "raw features" in result["notes"]
    assert result["protocol"]["probe"]["head"] == "linear" and result["protocol"]["probe"]["lr"] == 3.0
    train = FeatureSet.load(result["protocol"]["cache"]["train"]["cache"])
    dataset = SkeletonDataset(SkeletonDataConfig(root=str(ntu / "prepared"), streams=["joint"]), "train",
                              train=False)
    encoder = load_encoder(ntu / "joint.pt")
    with torch.no_grad():
        raw = encoder(torch.stack([dataset[i]["joint"] for i in range(len(dataset))]))  # (N, 64)
    assert torch.allclose(train.features, raw, atol=1e-5)
    assert encoder.spec["inputs"]["modality"] == "joint"  # the input record travels with the file
    assert not torch.allclose(train.features.norm(dim=1), torch.ones(len(raw)), atol=1e-3)


def test_coclr_finetune_preset_is_coupled_adam_with_five_crops():
    from vimix_ssl.eval.finetune import FinetuneModel, build_optimizer, ten_crop
    from vimix_ssl.jobs.evaluate.session import load_eval_config

    config, _ = load_eval_config(None, ["protocol=coclr"])
    assert (config.finetune.optimizer, config.finetune.milestones, config.finetune.epochs) == (
        "adam_l2", [400, 450], 500)
    model = FinetuneModel(torch.nn.Flatten(), 4, 2, 0.0)
    model.encoder = torch.nn.Linear(4, 4)
    optimiser = build_optimizer(model, config.finetune)
    assert type(optimiser) is torch.optim.Adam and optimiser.param_groups[0]["weight_decay"] == 1e-3
    assert optimiser.param_groups[0]["lr"] == pytest.approx(1e-4)
    clips = torch.arange(2 * 3 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 3, 1, 6, 6)
    crops = ten_crop(clips, 4, crops=config.finetune.test_crops)
    assert crops.shape == (10, 3, 1, 4, 4)  # five per clip, no mirror images
    assert config.finetune.test_frame == "full"  # five crops of the whole frame, as test_10crop
    assert load_eval_config(None, [])[0].finetune.test_frame == "square"  # clean: the centre square
    assert torch.equal(crops[0], clips[0, ..., :4, :4]) and torch.equal(crops[4], clips[0, ..., 1:5, 1:5])
    augment = config.data.augment
    assert (augment.jitter_probability, augment.grayscale_probability, augment.blur_probability) == (
        0.3, 0.0, 0.0)
