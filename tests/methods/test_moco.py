"""MoCo (METHOD §1) and its stage methods: EMA before keys, logits, queue, gradients, registry, configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vimix_ssl.config import ConfigError
from vimix_ssl.jobs.pretrain.config import ModalityConfig, PretrainConfig
from vimix_ssl.methods.config import MixingConfig, StageConfig
from vimix_ssl.methods.moco import MoCo, MoCoMethod
from vimix_ssl.methods.registry import build_stage_method

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "pretrain"


def toy_moco(queue_size: int = 8, momentum: float = 0.9, batch_norm: bool = True) -> MoCo:
    torch.manual_seed(0)
    layers = [nn.Conv3d(3, 4, 3, padding=1)] + ([nn.BatchNorm3d(4)] if batch_norm else [])
    encoder = nn.Sequential(*layers, nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten())  # (B, 4)
    head = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6))
    return MoCo(encoder, head, dim=6, queue_size=queue_size, momentum=momentum, temperature=0.1)


def views(batch: int = 4) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(batch, 3, 2, 6, 6, generator=generator) for _ in range(2)]


def test_key_encoder_starts_as_a_frozen_copy():
    moco = toy_moco()
    for q, k in zip(moco.encoder_q.state_dict().values(), moco.encoder_k.state_dict().values()):
        assert torch.equal(q, k)
    assert not any(p.requires_grad for p in [*moco.encoder_k.parameters(), *moco.head_k.parameters()])
    assert len(moco.query_parameters()) == len(list(moco.encoder_q.parameters())) + 4


def test_logits_are_dot_products_over_temperature():
    moco = toy_moco(queue_size=8)
    q = F.normalize(torch.randn(4, 6), dim=1)
    k = F.normalize(torch.randn(4, 6), dim=1)
    logits = moco.logits(q, k)  # (B, B + K)
    assert logits.shape == (4, 4 + 8)
    assert torch.allclose(logits[1, 2], q[1] @ k[2] / 0.1)
    assert torch.allclose(logits[1, 4 + 5], q[1] @ moco.queue.keys[:, 5] / 0.1)
    moco_logits = moco.moco_logits(q, k)  # (B, 1 + K)
    assert moco_logits.shape == (4, 1 + 8)
    assert torch.allclose(moco_logits[:, 0], (q * k).sum(1) / 0.1)


@pytest.mark.parametrize("kind", ["none", "input"])
def test_training_step_updates_queue_ema_and_only_query_gradients(kind):
    moco = toy_moco(queue_size=8, momentum=0.9)
    mocos = nn.ModuleDict({"rgb": moco})
    method = build_stage_method(StageConfig(train="rgb", mixing=MixingConfig(kind=kind)), mocos)
    method.train()
    q_before = [p.detach().clone() for p in moco.encoder_q.parameters()]
    k_before = [p.detach().clone() for p in moco.encoder_k.parameters()]
    x_q, x_k = views()
    outputs = method.training_step({"rgb": [x_q, x_k]})
    assert outputs["loss"].ndim == 0 and torch.isfinite(outputs["loss"])
    assert 0.0 <= outputs["pretext_acc"].item() <= 1.0
    # EMA happened before keys: the enqueued keys come from the updated key encoder
    for k_new, k_old, q in zip(moco.encoder_k.parameters(), k_before, q_before):
        assert torch.allclose(k_new, 0.9 * k_old + 0.1 * q)
    with torch.no_grad():
        expected_keys = F.normalize(moco.head_k(moco.encoder_k(x_k)), dim=1)
    assert int(moco.queue.pointer) == 4
    assert torch.allclose(moco.queue.keys[:, :4].T, expected_keys, atol=1e-5)
    outputs["loss"].backward()
    assert all(p.grad is not None for p in moco.query_parameters())
    assert all(p.grad is None for p in [*moco.encoder_k.parameters(), *moco.head_k.parameters()])


def test_imix_stage_mixes_per_sample_with_folded_mixup():
    mocos = nn.ModuleDict({"rgb": toy_moco()})
    stage = StageConfig(train="rgb", mixing=MixingConfig(kind="input", mixer="mixup"))
    method = build_stage_method(stage, mocos)
    assert isinstance(method, MoCoMethod) and method.mixer is not None
    mixed = method.mixer(torch.randn(16, 3, 2, 4, 4))
    assert bool((mixed.lam >= 0.5).all()) and mixed.lam.unique().numel() > 1
    plain = build_stage_method(StageConfig(train="rgb", mixing=MixingConfig(kind="none")), mocos)
    assert plain.mixer is None


def test_imix_step_at_lambda_one_is_info_nce_over_batch_keys_and_queue():
    from vimix_ssl.mixing.base import identity
    from vimix_ssl.ssl.losses import info_nce

    moco = toy_moco(queue_size=8, momentum=1.0)  # m=1: the key encoder stays the initial copy
    method = MoCoMethod(nn.ModuleDict({"rgb": moco}), "rgb", mixer=identity)
    x_q, x_k = views()
    queue = moco.queue.keys.clone()
    reference = toy_moco(queue_size=8, momentum=1.0)
    with torch.no_grad():
        q = reference.query(x_q)
        k = F.normalize(reference.head_k(reference.encoder_k(x_k)), dim=1)
    logits = torch.cat([q @ k.T, q @ queue], dim=1) / 0.1  # (B, B + K): other keys are negatives
    expected = info_nce(logits, torch.arange(4))
    loss = method.training_step({"rgb": [x_q, x_k]})["loss"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_unknown_stage_kind_and_modality_are_clear_errors():
    mocos = nn.ModuleDict({"rgb": toy_moco()})
    with pytest.raises(KeyError, match="no MoCo"):
        build_stage_method(StageConfig(train="flow"), mocos)


def test_moco_state_dict_round_trips_with_the_queue():
    moco = toy_moco()
    method = MoCoMethod(nn.ModuleDict({"rgb": moco}), "rgb")
    method.training_step({"rgb": views()})
    other = toy_moco()
    other.load_state_dict(moco.state_dict())
    assert torch.equal(other.queue.keys, moco.queue.keys) and int(other.queue.pointer) == 4
    assert "queue.keys" in moco.state_dict() and "queue.pointer" in moco.state_dict()


def test_queue_size_must_divide_by_the_global_batch_in_build():
    from vimix_ssl.jobs.pretrain.build import build_mocos

    config = PretrainConfig(data={"batch_size": 6}, stages=[StageConfig(train="rgb")],
                            modalities={"rgb": ModalityConfig(encoder="s3d_small", head_hidden=8, dim=4,
                                                              queue_size=16)})
    with pytest.raises(ConfigError, match=r"queue_size 16 must be a multiple of the global batch size 6"):
        build_mocos(config, global_batch=6)


def test_skeletonclr_step_on_stgcn():
    from vimix_ssl.jobs.pretrain.build import build_moco

    torch.manual_seed(0)
    moco = build_moco(ModalityConfig(encoder="stgcn_small", head_hidden=16, dim=8, queue_size=8))
    method = MoCoMethod(nn.ModuleDict({"motion": moco}), "motion")
    x = [torch.randn(2, 3, 12, 25, 2) for _ in range(2)]  # (B, 3, T, V, M)
    outputs = method.training_step({"motion": x})
    outputs["loss"].backward()
    assert torch.isfinite(outputs["loss"]) and int(moco.queue.pointer) == 2


def test_every_pretrain_config_loads_and_builds_its_schema():
    from vimix_ssl.jobs.pretrain.build import data_config
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config

    files = sorted(CONFIGS.glob("[!_]*.yaml"))  # "_" files are fragments used as _base_
    assert len(files) >= 19, files
    for path in files:
        config = load_pretrain_config(path)
        data_config(config)  # the data section matches its schema
        for stage in config.stages:
            assert stage.train in config.modalities, path
        for name, modality in config.modalities.items():
            batch = int(config.data.get("batch_size", 32 if name in ("rgb", "flow") else 128))
            assert modality.queue_size % batch == 0, (path, name)


def test_table1_configs_hold_the_paper_settings():
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config

    expected = {"ucf101_moco": "none", "ucf101_mixup": "mixup", "ucf101_temporal_cutmix": "temporal_cutmix",
                "ucf101_st_cutmix": "st_cutmix", "ucf101_videomix": "videomix"}
    for name, mixer in expected.items():
        config = load_pretrain_config(CONFIGS / f"{name}.yaml")
        (stage,) = config.stages
        assert (stage.mixing.kind == "none") if mixer == "none" else (stage.mixing.mixer == mixer)
        rgb = config.modalities["rgb"]
        assert (rgb.encoder, rgb.queue_size, rgb.momentum, rgb.temperature) == ("s3d", 2048, 0.999, 0.07)
        assert (stage.optim.name, stage.optim.lr, stage.optim.weight_decay, stage.epochs) == \
            ("adam", 1e-3, 1e-5, 300)
        assert (config.data["clip_len"], config.data["size"], config.data["batch_size"]) == (32, 128, 32)
    k400 = load_pretrain_config(CONFIGS / "k400_mixup.yaml")
    assert k400.modalities["rgb"].queue_size == 16384
    for stream in ("joint", "motion"):
        config = load_pretrain_config(CONFIGS / f"ntu60_xsub_skeletonclr_{stream}.yaml")
        (stage,) = config.stages
        assert config.modalities[stream].queue_size == 32768 and stage.mixing.kind == "none"
        assert (stage.optim.name, stage.optim.lr, stage.optim.momentum, stage.optim.weight_decay) == \
            ("sgd", 0.1, 0.9, 1e-4)


def test_stage_defaults_expand_and_overrides_reach_every_stage(tmp_path):
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config

    path = tmp_path / "c.yaml"
    path.write_text("modalities: {rgb: {}, flow: {encoder_kwargs: {in_channels: 2}}}\n"
                    "stage_defaults: {epochs: 5, mixing: {kind: input}}\n"
                    "stages: [{name: a, train: rgb}, {name: b, train: flow, epochs: 7}]\n")
    config = load_pretrain_config(path, ["stage_defaults.epochs=2"])
    assert [s.epochs for s in config.stages] == [2, 7]
    assert all(s.mixing.kind == "input" for s in config.stages)
    with pytest.raises(ConfigError, match=r"stages\[0\].mixing.kind"):
        load_pretrain_config(path, ["stage_defaults.mixing.kind=bogus"])
    with pytest.raises(ConfigError, match="not one of the modalities"):
        load_pretrain_config(path, ["stages=[{name: a, train: joint}]"])
