"""The schedule's CUDA preparation, checked on CPU: channels-last only where it applies; fp32 logits."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vimix_ssl.jobs.pretrain.schedule import convert_channels_last, prepare_for_device


def build(kind: str) -> nn.ModuleDict:
    from vimix_ssl.jobs.pretrain.build import build_moco
    from vimix_ssl.jobs.pretrain.config import ModalityConfig

    torch.manual_seed(0)
    if kind == "video":
        config = ModalityConfig(encoder="s3d_small", encoder_kwargs={"width": 0.0625}, head_hidden=8, dim=8,
                                queue_size=8)
    else:
        config = ModalityConfig(encoder="stgcn_small", encoder_kwargs={"width": 0.0625}, head_hidden=8, dim=8,
                                queue_size=8)
    return build_moco(config)


def test_channels_last_converts_video_convolutions_and_leaves_4d_modules_alone():
    mocos = nn.ModuleDict({"rgb": build("video"), "joint": build("skeleton")})
    with pytest.raises(RuntimeError):  # what a whole-model conversion did to every NTU config on a GPU
        build("skeleton").to(memory_format=torch.channels_last_3d)
    before = {name: (p.clone(), p.stride()) for name, p in mocos.named_parameters()}
    assert prepare_for_device(mocos, torch.device("cpu"), channels_last=True) == ()  # CPU: untouched
    assert all(p.stride() == before[n][1] for n, p in mocos.named_parameters())

    assert convert_channels_last(mocos) == ("rgb",)  # the same conversion the CUDA path runs
    five_d = [n for n, p in mocos.named_parameters() if p.dim() == 5]
    assert five_d and all(n.startswith("rgb.") for n in five_d)
    assert any(not p.is_contiguous() for p in mocos.parameters())  # a layout did change
    for name, p in mocos.named_parameters():
        assert torch.equal(p, before[name][0]), name  # values kept
        if p.dim() == 5:
            assert p.is_contiguous(memory_format=torch.channels_last_3d), name
            layout_free = p.shape[1] == 1 or p.shape[2:].numel() == 1  # one input channel or 1x1x1: both
            assert layout_free or not p.is_contiguous(), name
        else:  # ST-GCN's 4-D Conv2d weights, heads, biases: as they were
            assert p.stride() == before[name][1], name
    # both still train: a MoCo step of each modality runs on the converted modules
    from vimix_ssl.methods.moco import MoCoMethod

    for modality, shape in (("rgb", (2, 3, 8, 32, 32)), ("joint", (2, 3, 16, 25, 2))):
        x = torch.randn(shape)
        out = MoCoMethod(mocos, modality).training_step({modality: [x, x.clone()]})
        out["loss"].backward()
        assert torch.isfinite(out["loss"])


def test_logits_losses_and_queue_are_fp32_under_autocast():
    from vimix_ssl.methods.moco import MoCo, MoCoMethod
    from vimix_ssl.mixing.input_mixers import Mixup

    torch.manual_seed(1)
    dim, size, tau = 16, 32, 0.07
    moco = MoCo(nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 4 * 4, 24)), nn.Linear(24, dim), dim=dim,
                queue_size=size, temperature=tau)
    q = nn.functional.normalize(torch.randn(4, dim), dim=1)
    k = nn.functional.normalize(torch.randn(4, dim), dim=1)
    # reference: q·[k; queue]/τ summed in float64, element by element
    bank = torch.cat([k.double(), moco.queue.keys.double().T])  # (4 + K, dim)
    reference = torch.tensor([[sum(q[i, d].double() * bank[j, d] for d in range(dim)).item() / tau
                               for j in range(bank.shape[0])] for i in range(4)])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        in_bf16 = torch.cat([q @ k.T, q @ moco.queue.keys], dim=1) / tau  # what AMP computed before
        logits = moco.logits(q.bfloat16(), k.bfloat16())
        exact = moco.logits(q, k)
    assert in_bf16.dtype == torch.bfloat16 and (in_bf16.double() - reference).abs().max() > 1e-2
    assert logits.dtype == exact.dtype == torch.float32
    assert (exact.double() - reference).abs().max() < 1e-4
    assert (logits.double() - reference).abs().max() < 0.2  # only the bf16 rounding of the inputs

    views = [torch.randn(4, 3, 2, 4, 4) for _ in range(2)]
    for mixer in (None, Mixup(alpha=1.0, per_sample=True, fold_lambda=True)):
        method = MoCoMethod(nn.ModuleDict({"rgb": moco}), "rgb", mixer=mixer)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert moco.query(views[0]).dtype == torch.float32  # normalised in fp32
            assert moco.keys(views[1]).dtype == torch.float32
            out = method.training_step({"rgb": views})
        assert out["loss"].dtype == torch.float32 and torch.isfinite(out["loss"])
        assert moco.queue.keys.dtype == torch.float32
