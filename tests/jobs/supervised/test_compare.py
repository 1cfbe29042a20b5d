"""`vimix compare`: per-video results, seeds, 95 % intervals and paired verdicts on the claimed orderings.

Every test goes through the real entry point (``vimix_ssl.cli.main(["compare", ...])``); the
paired differences are recomputed here with a plain loop over seeds and videos from the runs'
``results.json``, independently of ``eval.stats``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CONFIG = "configs/supervised/synth_baseline.yaml"
TINY = ["num_classes=3", "epochs=1", "data.clip_len=8", "data.size=32", "data.batch_size=4",
        "encoder_kwargs.width=0.0625"]


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory) -> Path:
    from vimix_ssl.cli import main

    root = tmp_path_factory.mktemp("synth")
    assert main(["synth", "video", str(root), "--classes", "3", "--per-class", "4", "--frames", "12",
                 "--size", "32x24"]) == 0
    return root


def _results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def _paired_difference(better: list[dict], worse: list[dict]) -> float:
    """Mean over seeds and videos of 100·(better right) − 100·(worse right), by a plain loop."""
    total, count = 0.0, 0
    for a, b in zip(better, worse):
        assert a["seed"] == b["seed"] and a["per_video"]["video_id"] == b["per_video"]["video_id"]
        rows = zip(a["per_video"]["predicted"], b["per_video"]["predicted"], a["per_video"]["label"])
        for pa, pb, label in rows:
            total += 100.0 * (pa == label) - 100.0 * (pb == label)
            count += 1
    return total / count


def _check_verdict(claim: dict) -> None:
    ci = claim["difference"]
    assert ci["low"] <= ci["mean"] <= ci["high"], claim
    expected = "holds" if ci["low"] > 0 else "reversed" if ci["high"] < 0 else "not resolved"
    assert claim["verdict"] == expected, claim


def test_compare_names_claims_and_defaults() -> None:
    from vimix_ssl.jobs.supervised.compare import CLAIMS, DEFAULT_MIXERS, row_key, run_overrides

    names = ("baseline", "framecutmix", "cubecutmix", "videomix", "svmix", "randaugment_t")
    assert [row_key(n) for n in names] == ["none", "temporal_cutmix", "st_cutmix", "videomix", "svmix",
                                           "randaugment_t"]
    defaults = [row_key(n) for n in DEFAULT_MIXERS.split(",")]
    assert {"temporal_cutmix", "st_cutmix", "randaugment_t", "none"} <= set(defaults)
    assert all(row_key(c.better) == c.better and row_key(c.worse) == c.worse for c in CLAIMS)
    assert len({(c.better, c.worse) for c in CLAIMS}) == len(CLAIMS)
    papers = ("VideoMix", "Temporal augmentation", "SV-Mix")
    assert all(any(p in c.source for p in papers) and "Table" in c.source for c in CLAIMS)
    assert run_overrides("framecutmix") == ["mixer=temporal_cutmix"]
    ra = run_overrides("randaugment_t")
    assert "mixer=none" in ra and "randaugment_t.variant=temporal+" in ra
    assert "randaugment_t.variant=temporal" in run_overrides("randaugment_t:temporal")
    with pytest.raises(ValueError, match="variant"):
        row_key("randaugment_t:sideways")


@pytest.mark.slow
def test_two_seeds_give_intervals_and_paired_claims(tiny_synth, tmp_path) -> None:
    from vimix_ssl.cli import main

    out = tmp_path / "compare"
    mixers = ("baseline", "framecutmix", "randaugment_t")
    assert main(["compare", CONFIG, f"data.root={tiny_synth}", *TINY, "--mixers", ",".join(mixers),
                 "--seeds", "0,1", "--out", str(out)]) == 0
    runs = {m: [_results(out / m / f"seed{s}") for s in (0, 1)] for m in mixers}
    ids = runs["baseline"][0]["per_video"]["video_id"]
    for results in runs.values():
        for seed, r in zip((0, 1), results):
            per_video = r["per_video"]
            assert r["seed"] == seed and per_video["video_id"] == ids and len(ids) == r["test_videos"] > 0
            assert all(0 <= p < 3 for p in per_video["predicted"]) and set(per_video["label"]) <= {0, 1, 2}
            right = [p == y for p, y in zip(per_video["predicted"], per_video["label"])]
            assert r["top1"] == pytest.approx(100.0 * sum(right) / len(ids))
            assert r["top5"] == pytest.approx(100.0 * sum(per_video["top5_correct"]) / len(ids))
    saved = (out / "randaugment_t" / "seed0" / "config.yaml").read_text()
    assert "mixer: none" in saved and "variant: temporal+" in saved  # no mixer + RandAugment-T

    table = json.loads((out / "comparison.json").read_text())
    assert [r["mixer"] for r in table["rows"]] == ["baseline", "framecutmix", "randaugment_t"]
    for row in table["rows"]:
        assert row["seeds"] == [0, 1] and row["test_videos"] == len(ids)
        for metric in ("top1", "top5"):
            ci = row[f"{metric}_ci"]
            assert ci["low"] <= row[metric] == ci["mean"] <= ci["high"]
            assert (ci["seeds"], ci["videos"]) == (2, len(ids))
            assert row[metric] == pytest.approx(sum(s[metric] for s in row["per_seed"]) / 2)
    claims = {c["claim"]: c for c in table["claims"]}
    assert set(claims) == {"randaugment_t > baseline", "framecutmix > baseline"}
    assert "Temporal augmentation" in claims["randaugment_t > baseline"]["source"]
    assert claims["framecutmix > baseline"]["source"].startswith("none")
    for text, claim in claims.items():
        better, worse = text.split(" > ")
        assert claim["difference"]["mean"] == pytest.approx(_paired_difference(runs[better], runs[worse]))
        _check_verdict(claim)
    md = (out / "comparison.md").read_text()
    assert "| top-1 (%) [95 % CI] | top-5 (%) [95 % CI] | test videos | seeds |" in md
    assert "| framecutmix > baseline | none (every mixer against the baseline) |" in md
    assert "over the test videos and the seeds" in md and "paired" in md and "--seeds 0,1" in md


def _fake_results(seed: int, predicted: list[int], labels: list[int]) -> dict:
    from vimix_ssl.eval.multiview import parse_protocol

    right = [p == y for p, y in zip(predicted, labels)]
    return {"mixer": "x", "epochs": 1, "seed": seed, "lr": 1e-3, "global_batch": 4,
            "top1": 100.0 * sum(right) / len(labels), "top5": 100.0, "test_videos": len(labels),
            "test_protocol": parse_protocol("centre").record(32),
            "per_video": {"video_id": [f"v{i}" for i in range(len(labels))], "label": labels,
                          "predicted": predicted, "top5_correct": [True] * len(labels)}}


def test_claims_from_saved_runs_hold_reverse_or_stay_unresolved(tmp_path) -> None:
    """Saved runs (not retrained) with known outcomes: each verdict matches the loop-recomputed difference."""
    from vimix_ssl.cli import main

    labels = [i % 3 for i in range(40)]
    wrong = [(y + 1) % 3 for y in labels]
    right_on = {"videomix": set(range(20)), "mixup": set(range(34)), "baseline": set(range(19))}
    out, runs = tmp_path / "compare", {}
    for name, right in right_on.items():
        runs[name] = []
        for seed in (3, 4):
            predicted = [labels[i] if i in right else wrong[i] for i in range(40)]
            r = _fake_results(seed, predicted, labels)
            (out / name / f"seed{seed}").mkdir(parents=True)
            (out / name / f"seed{seed}" / "results.json").write_text(json.dumps(r))
            runs[name].append(r)
    assert main(["compare", CONFIG, "data.size=32", "--mixers", "baseline,videomix,mixup", "--seeds", "3,4",
                 "--out", str(out)]) == 0
    assert not (out / "mixup" / "seed3" / "checkpoint.pt").exists()  # reused, not trained
    table = json.loads((out / "comparison.json").read_text())
    claims = {c["claim"]: c for c in table["claims"]}
    assert list(claims) == ["videomix > mixup", "videomix > baseline", "mixup > baseline"]  # CLAIMS order
    expected = {"videomix > mixup": "reversed", "videomix > baseline": "not resolved",
                "mixup > baseline": "holds"}
    for text, claim in claims.items():
        better, worse = text.split(" > ")
        assert claim["difference"]["mean"] == pytest.approx(_paired_difference(runs[better], runs[worse]))
        _check_verdict(claim)
        assert claim["verdict"] == expected[text]
    assert "VideoMix (Yun et al. 2020), Table 2" in claims["mixup > baseline"]["source"]
    row = {r["mixer"]: r for r in table["rows"]}["mixup"]
    assert row["top1"] == pytest.approx(85.0) and row["top1_ci"]["low"] < 85.0 < row["top1_ci"]["high"]
    md = (out / "comparison.md").read_text()
    row_text = ("| videomix > mixup | VideoMix (Yun et al. 2020), Table 2 (Mini-Kinetics): 77.6 vs 77.0 "
                "| -35.00 [")
    assert row_text in md
    assert md.count("| reversed |") == 1 and md.count("| holds |") == 1 and md.count("| not resolved |") == 1


@pytest.mark.slow
def test_single_seed_keeps_the_old_layout_and_reevaluates_old_results(tiny_synth, tmp_path, capsys) -> None:
    from vimix_ssl.cli import main

    out = tmp_path / "compare"

    def args(*extra: str, overrides: tuple[str, ...] = (), where: Path = out) -> list[str]:
        return ["compare", CONFIG, f"data.root={tiny_synth}", *TINY, *overrides,
                "--mixers", "baseline,framecutmix", *extra, "--out", str(where)]

    assert main(args()) == 0
    assert (out / "framecutmix" / "checkpoint.pt").is_file() and not (out / "framecutmix" / "seed0").exists()
    table = json.loads((out / "comparison.json").read_text())
    assert [r["mixer"] for r in table["rows"]] == ["baseline", "framecutmix"]
    assert all(r["seeds"] == [0] and 0 <= r["top1"] <= 100 for r in table["rows"])
    assert [c["claim"] for c in table["claims"]] == ["framecutmix > baseline"]
    assert "| framecutmix |" in (out / "comparison.md").read_text()

    # a results.json from before per-video outcomes: re-evaluated from its final checkpoint, not retrained
    run = out / "framecutmix"
    before, steps = _results(run), (run / "metrics.jsonl").read_text()
    (run / "results.json").write_text(json.dumps({k: v for k, v in before.items() if k != "per_video"}))
    assert main(args()) == 0
    assert "re-evaluating" in capsys.readouterr().err
    assert _results(run)["per_video"] == before["per_video"] and (run / "metrics.jsonl").read_text() == steps

    # refused before anything runs: a repeated seed, a mixer named twice (alias), an unknown name
    refused = tmp_path / "refused"
    for extra in (["--seeds", "1,1"], ["--mixers", "framecutmix,temporal_cutmix"], ["--mixers", "warpmix"]):
        assert main(args(*extra, where=refused)) == 2
    assert not refused.exists()
    # a saved run of another seed is not reused under a different one
    assert main(args(overrides=("seed=7",))) == 2
    assert "trained with seed 0, not 7" in capsys.readouterr().err
