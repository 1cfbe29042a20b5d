"""Config system contract: defaults <- YAML (with _base_) <- key=value; errors name key and value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from vimix_ssl.config import ConfigError, load_config, parse_overrides, save_config, to_dict


@dataclass
class Optim:
    name: Literal["adam", "sgd"] = "adam"
    lr: float = 1e-3  # learning rate
    milestones: list[int] = field(default_factory=list)


@dataclass
class Run:
    seed: int = 0
    out_dir: str = "runs/x"
    device: str | None = None
    optim: Optim = field(default_factory=Optim)
    extra: dict[str, float] = field(default_factory=dict)


def test_defaults_file_and_overrides(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("seed: 3\noptim:\n  lr: 0.1\n  milestones: [60, 80]\n")
    child = tmp_path / "child.yaml"
    child.write_text("_base_: base.yaml\noptim:\n  name: sgd\n")
    cfg = load_config(Run, child, ["optim.lr=2e-4", "out_dir=/tmp/o", "extra.w=1"])
    assert cfg.seed == 3 and cfg.optim.name == "sgd" and cfg.optim.milestones == [60, 80]
    assert cfg.optim.lr == pytest.approx(2e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.out_dir == "/tmp/o" and cfg.extra == {"w": 1.0}
    assert load_config(Run).optim.lr == 1e-3  # untouched defaults


def test_int_widens_to_float_but_not_the_reverse():
    assert load_config(Run, None, ["optim.lr=1"]).optim.lr == 1.0
    with pytest.raises(ConfigError, match="seed: expected an integer, got 1.5"):
        load_config(Run, None, ["seed=1.5"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lrr=1", r"unknown key\(s\) in optim: \['lrr'\]"),
        ("optim.name=rmsprop", r"optim.name: value 'rmsprop' is not one of \['adam', 'sgd'\]"),
        ("optim.milestones=[1, x]", r"optim.milestones\[1\]: expected an integer"),
        ("seed", "not of the form key=value"),
        ("optim=3", "expected a mapping for Optim"),
    ],
)
def test_errors_name_key_and_value(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Run, None, [override])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Run, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_config(Run, bad)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(Run, None, ["optim.milestones=[5]", "device=cpu"])
    save_config(cfg, tmp_path / "resolved.yaml")
    again = load_config(Run, tmp_path / "resolved.yaml")
    assert to_dict(again) == to_dict(cfg)


def test_parse_overrides_nested():
    assert parse_overrides(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}


@dataclass
class WithTuple:
    crop_area: tuple[float, float] = (0.2, 1.0)


def test_fixed_length_tuple_override():
    assert load_config(WithTuple, None, ["crop_area=[0.5, 1]"]).crop_area == (0.5, 1.0)
    with pytest.raises(ConfigError, match="crop_area: expected 2 values, got 3"):
        load_config(WithTuple, None, ["crop_area=[0.5, 1, 2]"])


def _tuned_optim() -> Optim:
    return Optim(name="sgd", lr=3.0)


@dataclass
class WithFactory:
    probe: Optim = field(default_factory=_tuned_optim)


def test_partial_mapping_overrides_the_field_default_not_the_class_default():
    cfg = load_config(WithFactory, None, ["probe.milestones=[80]"])
    assert (cfg.probe.name, cfg.probe.lr, cfg.probe.milestones) == ("sgd", 3.0, [80])


def test_base_cycle_and_missing_base_name_the_chain(tmp_path):
    """Issue 18: a `_base_` cycle was a RecursionError traceback."""
    (tmp_path / "a.yaml").write_text("_base_: sub/b.yaml\nseed: 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("_base_: c.yaml\n")
    (tmp_path / "sub" / "c.yaml").write_text("_base_: ../a.yaml\n")
    chain = r"_base_ cycle: .*a\.yaml -> .*b\.yaml -> .*c\.yaml -> .*a\.yaml"
    with pytest.raises(ConfigError, match=chain) as e:
        load_config(Run, tmp_path / "a.yaml")
    assert "\n" not in str(e.value)
    (tmp_path / "sub" / "c.yaml").write_text("_base_: missing.yaml\n")
    with pytest.raises(ConfigError, match=r"missing\.yaml \(the _base_ of .*c\.yaml\)"):
        load_config(Run, tmp_path / "a.yaml")
    (tmp_path / "sub" / "c.yaml").write_text("seed: 3\n")  # a diamond (two files sharing a base) is no cycle
    (tmp_path / "d.yaml").write_text("_base_: [sub/c.yaml, sub/b.yaml]\n")
    assert load_config(Run, tmp_path / "d.yaml").seed == 3


def test_yaml_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML") as e:
        load_config(Run, bad)
    assert "\n" not in str(e.value)
