"""Cross-Modal Manifold CutMix (METHOD §3): one training stage for modality m1, m2 frozen.

One step, for a batch holding two views of modality m1 and the partner modality m2:

1. Draw a cut ``k`` uniformly from m1's mixable cuts; the partner cut ``l`` uniformly from
   m2's mixable cuts at a depth ≥ ``k`` (``random_partner_layer``) or ``l = k``.
2. ``g1 = f1_q(x1_q, 0→k)``; ``g2 = f2_q(x2[perm], 0→l)`` under ``torch.no_grad`` with
   ``f2_q`` in eval mode: the partner is the **other modality of another instance**.
   ``x2`` is the partner modality's first (query) view of the same clips.
3. ``feature_cutmix(g1, g2)`` (Vi-Mix eqs. 7–9, λ₀ ~ Beta(α, α)) → ``(g_mix, λ, perm)``;
   ``q = head_q(f1_q(g_mix, k→end))``.
4. Keys of ``x1_k`` from m1's key encoder (EMA-updated first), i-Mix loss against the
   batch keys + m1's queue, then enqueue into m1's queue. Nothing of m2 changes.

Depth across different architectures: a cut's *relative depth* is ``cut / num_stages``
(the share of the encoder's stages run). "Depth ≥ k" means relative depth ≥ that of
``k``; for two encoders of the same stage list this is exactly ``l ≥ k``. If the partner
has no mixable cut that deep, its deepest mixable cut is used. ``l = k`` on a partner
with a different stage list means the partner cut of the nearest relative depth.

``cross_modal=False`` is manifold mixing within m1 (Table 2 "+ mixup" rows): the
partner map is ``g1[perm]`` (m1's own features of instance ``perm[i]`` at the same cut,
as in manifold mixup; gradients flow through both); such a stage has no partner and does
not load one.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vimix_ssl.methods.config import StageConfig
from vimix_ssl.methods.registration import register_stage_method
from vimix_ssl.mixing import boxes
from vimix_ssl.mixing.feature_mix import AXES_CHOICES, OPS, feature_cutmix
from vimix_ssl.models.base import StagedEncoder
from vimix_ssl.ssl.distributed import all_gather_nograd, rank
from vimix_ssl.ssl.losses import dominant_targets, imix_loss, pretext_accuracy

DEPTH_TOLERANCE = 1e-9  # float comparison of relative depths


def relative_depth(encoder: StagedEncoder, cut: int) -> float:
    """Share of ``encoder``'s stages run to reach cut ``cut``."""
    return cut / encoder.num_stages


def partner_cuts(encoder: StagedEncoder, partner: StagedEncoder, cut: int) -> list[int]:
    """The partner's mixable cuts at a relative depth ≥ that of ``cut`` (never empty)."""
    cuts = partner.mixable_cuts()
    if not cuts:
        raise ValueError(f"partner encoder {type(partner).__name__} has no mixable stages")
    depth = relative_depth(encoder, cut)
    deep = [c for c in cuts if relative_depth(partner, c) >= depth - DEPTH_TOLERANCE]
    return deep or [max(cuts)]


def matching_cut(encoder: StagedEncoder, partner: StagedEncoder, cut: int) -> int:
    """``l = k``: the same cut for the same stage list, else the nearest relative depth."""
    cuts = partner.mixable_cuts()
    if not cuts:
        raise ValueError(f"partner encoder {type(partner).__name__} has no mixable stages")
    if partner.num_stages == encoder.num_stages and cut in cuts:
        return cut
    depth = relative_depth(encoder, cut)
    return min(cuts, key=lambda c: (abs(relative_depth(partner, c) - depth), -c))


def _choice(options: list[int], generator: torch.Generator | None) -> int:
    device = generator.device if generator is not None else "cpu"
    return options[int(torch.randint(len(options), (1,), generator=generator, device=device))]


def draw_cuts(encoder: StagedEncoder, partner: StagedEncoder, random_partner_layer: bool,
              generator: torch.Generator | None = None) -> tuple[int, int]:
    """``(k, l)``: ``k`` uniform over ``encoder``'s mixable cuts, ``l`` per METHOD §3 step 1."""
    cuts = encoder.mixable_cuts()
    if not cuts:
        raise ValueError(f"encoder {type(encoder).__name__} has no mixable stages")
    k = _choice(cuts, generator)
    if random_partner_layer:
        return k, _choice(partner_cuts(encoder, partner, k), generator)
    return k, matching_cut(encoder, partner, k)


class CrossModalManifoldCutMix(nn.Module):
    """Training method of one CMMC stage: trains ``mocos[train]``, ``mocos[partner]`` frozen.

    ``batch[modality]`` is ``[query view, key view]`` for both modalities, each
    ``(B, C, T, H, W)`` (video) or ``(B, 3, T, 25, 2)`` (skeleton), already on the device
    and photometrically augmented by the engine (as for ``MoCoMethod``).
    """

    def __init__(self, mocos: nn.ModuleDict, train: str, partner: str | None, op: str = "cutmix",
                 axes: str = "s+t+c", cross_modal: bool = True, random_partner_layer: bool = True,
                 generator: torch.Generator | None = None, alpha: float = 1.0,
                 fold_lambda: bool = False) -> None:
        super().__init__()
        if train not in mocos:
            raise ValueError(f"CMMC: trained modality {train!r} has no MoCo; modalities: {list(mocos)}")
        if op not in OPS:
            raise ValueError(f"CMMC: mixing.op={op!r} is not one of {list(OPS)}")
        if axes not in AXES_CHOICES:
            raise ValueError(f"CMMC: mixing.axes={axes!r} is not one of {list(AXES_CHOICES)}")
        if cross_modal:
            if partner is None or partner not in mocos or partner == train:
                raise ValueError(f"CMMC with cross_modal=true needs a partner modality other than "
                                 f"{train!r} among {list(mocos)}, got partner={partner!r}")
        if not cross_modal and random_partner_layer:
            raise ValueError("CMMC: cross_modal=false mixes m1's own features at the same cut; "
                             "set random_partner_layer=false")
        if not alpha > 0:
            raise ValueError(f"CMMC: mixing.alpha={alpha} must be > 0 (λ₀ ~ Beta(α, α))")
        if fold_lambda and op != "mixup":
            raise ValueError("CMMC: fold_lambda applies to op='mixup' only (cutmix's λ is the pasted volume)")
        if op == "mixup" and random_partner_layer:
            raise ValueError("CMMC: op='mixup' needs equal feature shapes, i.e. l = k: set "
                             "random_partner_layer=false")
        self.mocos = mocos
        self.train_modality, self.partner = train, partner if cross_modal else None
        self.op, self.axes = op, axes
        self.cross_modal, self.random_partner_layer = cross_modal, random_partner_layer
        self.alpha, self.fold_lambda = alpha, fold_lambda
        self.generator = generator

    def partner_features(self, batch: dict, perm: Tensor, cut: int) -> tuple[Tensor, str]:
        """``f2_q(x2[perm], 0→cut)`` with the partner frozen (eval mode, no autograd graph)."""
        encoder = self.mocos[self.partner].encoder_q
        encoder.eval()  # BN uses (and keeps) its running statistics
        with torch.no_grad():
            x2 = batch[self.partner][0][perm]  # query view of the partner instance perm[i]
            return encoder.forward_stages(x2, 0, cut), encoder.feature_layout

    def training_step(self, batch: dict) -> dict[str, Tensor]:
        moco = self.mocos[self.train_modality]
        encoder = moco.encoder_q
        x_q, x_k = batch[self.train_modality]
        b = x_q.shape[0]
        perm = boxes.sample_perm(b, self.generator).to(x_q.device)  # (B,) partner instances

        if self.cross_modal:
            partner_encoder = self.mocos[self.partner].encoder_q
            cut, partner_cut = draw_cuts(encoder, partner_encoder, self.random_partner_layer,
                                         self.generator)
        else:  # manifold mixing within m1: same cut
            cut = partner_cut = _choice(encoder.mixable_cuts(), self.generator)
        g1 = encoder.forward_stages(x_q, 0, cut)  # (B, *map at cut) in encoder.feature_layout
        if self.cross_modal:
            g2, layout2 = self.partner_features(batch, perm, partner_cut)
        else:
            g2, layout2 = g1[perm], encoder.feature_layout
        mixed = feature_cutmix(g1, g2, encoder.feature_layout, layout2, axes=self.axes, op=self.op,
                               perm=perm, generator=self.generator, alpha=self.alpha,
                               fold_lambda=self.fold_lambda)
        q = moco.project(encoder.forward_from(mixed.x, cut))  # (B, dim)

        moco.momentum_update()
        keys = all_gather_nograd(moco.keys(x_k))  # (B_global, dim)
        logits = moco.logits(q, keys)  # (B, B_global + K)
        offset = rank() * b
        loss = imix_loss(logits, mixed.lam, mixed.perm, offset)
        moco.enqueue(keys)
        target = dominant_targets(mixed.lam.to(logits.device), mixed.perm, offset)
        return {"loss": loss, "pretext_acc": pretext_accuracy(logits.detach(), target),
                "lam": mixed.lam.mean().detach(), "cut": torch.tensor(float(cut)),
                "partner_cut": torch.tensor(float(partner_cut))}


@register_stage_method("cmmc")
def build_cmmc(stage: StageConfig, mocos: nn.ModuleDict) -> nn.Module:
    """CMMC stage: ``stage.train`` learns, ``stage.partner`` is the frozen partner."""
    mixing = stage.mixing  # resolved by StageConfig: every field CMMC reads is set
    return CrossModalManifoldCutMix(mocos, stage.train, stage.partner, op=mixing.op,
                                    axes=mixing.axes or "s+t+c", cross_modal=mixing.cross_modal,
                                    random_partner_layer=mixing.random_partner_layer, alpha=mixing.alpha,
                                    fold_lambda=bool(mixing.fold_lambda))
