"""Stage mixing settings: every set key is read by its stage, kind defaults, stage_defaults inheritance."""

from __future__ import annotations

import pytest

from vimix_ssl.config import ConfigError
from vimix_ssl.methods.config import (
    MixingConfig,
    StageConfig,
    check_stage_defaults,
    merge_stage,
    used_mixing_keys,
)


def test_kind_defaults_are_filled_and_resolution_is_idempotent():
    cmmc = StageConfig(name="c", train="rgb", partner="flow", mixing=MixingConfig(kind="cmmc")).mixing
    assert (cmmc.op, cmmc.axes, cmmc.cross_modal, cmmc.random_partner_layer, cmmc.alpha) == (
        "cutmix", "s+t+c", True, True, 1.0)  # the full recipe, λ₀ ~ U(0, 1)
    assert cmmc.mixer is None and cmmc.fold_lambda is None
    assert cmmc.resolved() == cmmc
    mixup = MixingConfig(kind="cmmc", op="mixup").resolved()
    assert (mixup.axes, mixup.fold_lambda, mixup.random_partner_layer) == (None, False, False)
    within = MixingConfig(kind="cmmc", cross_modal=False).resolved()
    assert within.random_partner_layer is False  # same cut within m1
    imix = MixingConfig(kind="input").resolved()
    assert (imix.mixer, imix.alpha, imix.fold_lambda, imix.op) == ("mixup", 1.0, True, None)
    assert MixingConfig(kind="input", mixer="videomix").resolved().fold_lambda is None  # not a blend
    moved = MixingConfig(kind="input", mixer_kwargs={"alpha": 0.4, "fold_lambda": False}).resolved()
    assert (moved.alpha, moved.fold_lambda, moved.mixer_kwargs) == (0.4, False, {})
    assert MixingConfig().resolved() == MixingConfig()


@pytest.mark.parametrize("kind,key,value", [
    ("cmmc", "mixer", "mixup"), ("cmmc", "mixer_kwargs", {"lam": 0.5}), ("cmmc", "fold_lambda", True),
    ("input", "op", "cutmix"), ("input", "axes", "s"), ("input", "cross_modal", True),
    ("input", "random_partner_layer", False), ("none", "alpha", 0.5), ("none", "mixer", "mixup"),
    ("none", "op", "mixup"),
])
def test_a_key_the_kind_does_not_read_is_an_error_naming_key_and_stage(kind, key, value):
    partner = "flow" if kind == "cmmc" else None
    with pytest.raises(ConfigError, match=rf"stage 'row3'.*mixing\.{key}=.*not used by mixing\.kind={kind}"):
        StageConfig(name="row3", train="rgb", partner=partner, mixing=MixingConfig(kind=kind, **{key: value}))


def test_op_decides_between_axes_and_fold_lambda_and_partner_must_be_used():
    with pytest.raises(ConfigError, match=r"mixing\.axes='s'.*op=mixup"):
        MixingConfig(kind="cmmc", op="mixup", axes="s").resolved()
    with pytest.raises(ConfigError, match=r"mixing\.fold_lambda"):
        MixingConfig(kind="input", mixer="videomix", fold_lambda=True).resolved()
    with pytest.raises(ConfigError, match="both set"):
        MixingConfig(kind="input", alpha=1.0, mixer_kwargs={"alpha": 2.0}).resolved()
    with pytest.raises(ConfigError, match="random_partner_layer=true needs l = k"):
        MixingConfig(kind="cmmc", op="mixup", random_partner_layer=True).resolved()
    with pytest.raises(ConfigError, match="random_partner_layer=true needs l = k"):
        MixingConfig(kind="cmmc", cross_modal=False, random_partner_layer=True).resolved()
    with pytest.raises(ConfigError, match=r"alpha=0\.0 must be > 0"):
        MixingConfig(kind="cmmc", alpha=0.0).resolved()
    with pytest.raises(ConfigError, match="partner='flow' is not used"):
        StageConfig(name="m", train="rgb", partner="flow",
                    mixing=MixingConfig(kind="cmmc", cross_modal=False))
    with pytest.raises(ConfigError, match="partner='flow' is not used"):
        StageConfig(name="m", train="rgb", partner="flow", mixing=MixingConfig(kind="input"))
    with pytest.raises(ConfigError, match="needs a partner"):
        StageConfig(name="m", train="rgb", mixing=MixingConfig(kind="cmmc"))
    assert not StageConfig(name="m", train="rgb", mixing=MixingConfig(kind="cmmc", cross_modal=False)
                           ).uses_partner()


def test_used_keys_follow_kind_and_op():
    assert used_mixing_keys({"kind": "none"}) == set()
    assert used_mixing_keys({"kind": "cmmc"}) == {"alpha", "op", "axes", "cross_modal",
                                                  "random_partner_layer"}
    assert used_mixing_keys({"kind": "cmmc", "op": "mixup"}) == {
        "alpha", "op", "fold_lambda", "cross_modal", "random_partner_layer"}
    assert used_mixing_keys({"kind": "input", "mixer": "mixup"}) == {"mixer", "alpha", "mixer_kwargs",
                                                                     "fold_lambda"}
    assert "fold_lambda" not in used_mixing_keys({"kind": "input", "mixer": "temporal_cutmix"})


def test_stage_defaults_reach_only_the_stages_that_read_them():
    defaults = {"epochs": 3, "mixing": {"kind": "cmmc", "op": "cutmix", "axes": "s", "alpha": 0.5}}
    stage0 = merge_stage(defaults, {"name": "s0", "mixing": {"kind": "input", "mixer": "mixup"}})
    assert stage0["mixing"] == {"kind": "input", "mixer": "mixup", "alpha": 0.5}  # op/axes not inherited
    cmmc = merge_stage(defaults, {"name": "c1", "partner": "flow"})
    assert cmmc["mixing"] == defaults["mixing"] and cmmc["epochs"] == 3
    own = merge_stage(defaults, {"name": "s0", "mixing": {"kind": "input", "axes": "s+t"}})
    assert own["mixing"]["axes"] == "s+t"  # set in the stage itself: kept, so StageConfig reports it
    entries = [{"name": "s0", "mixing": {"kind": "input"}}, {"name": "c1", "partner": "flow"}]
    check_stage_defaults(defaults, entries)  # every default is read by c1
    unread = r"stage_defaults\.mixing\.op='cutmix', stage_defaults\.mixing\.axes='s': read by no stage"
    with pytest.raises(ConfigError, match=unread):
        check_stage_defaults(defaults, [entries[0], {"name": "c1", "mixing": {"op": "mixup"}}])
    check_stage_defaults({"mixing": {"kind": "cmmc", "axes": None}}, entries[:1])  # null = unset
