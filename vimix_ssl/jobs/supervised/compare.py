"""The mixer comparison behind ``vimix compare``: means, 95 % intervals and paired verdicts.

Trains the same supervised config once per mixer and seed (same data, model, epochs and test
protocol; only ``mixer``, ``seed`` and ``out_dir`` differ). Runs go to ``OUT/<mixer>`` when
one seed is used (the config's, or a single ``--seeds N``) and to ``OUT/<mixer>/seed<N>``
when several are. Every run's ``results.json`` holds its per-test-video outcomes
(``per_video``, written by ``run.evaluate``); from them, with ``eval.stats``:

* per mixer, mean top-1 / top-5 and their 95 % percentile-bootstrap interval over the test
  videos and the seeds (both resampled, ``stats.interval``; with one seed over the videos
  only, so seed-to-seed variation is then not in it);
* per claimed ordering (``CLAIMS``: the orderings the VideoMix, temporal-augmentation and
  SV-Mix papers report, each with its table and numbers) and per mixer against the baseline,
  the paired top-1 difference over the same videos and seeds (``stats.compare``), its
  interval and the verdict *holds* / *reversed* / *not resolved*. Only pairs whose two
  mixers were both run are listed.

``OUT/comparison.json`` and ``OUT/comparison.md`` carry both tables, the test protocol and the
command. A run whose ``results.json`` exists is not retrained (delete it to redo): under another
test protocol or seed it is an error; written before per-video outcomes were recorded, it is
re-evaluated from its final ``checkpoint.pt`` (no training). ``mixer_kwargs`` and
``randaugment_t`` of the config apply to every row, so compare from a config without them
(e.g. ``configs/supervised/synth_baseline.yaml``); each mixer then runs at its defaults.

Compare names: any ``vimix list mixers`` name or alias (``baseline`` = ``none``; the VideoMix
variants are ``videomix`` = spatial, ``temporal_cutmix`` / ``framecutmix`` = temporal,
``st_cutmix`` / ``cubecutmix`` = spatio-temporal), ``svmix``, and the pseudo-mixer
``randaugment_t`` = no mixer + RandAugment-T at the temporal-augmentation paper's row
(``RANDAUGMENT_T``: N 2, M 10, temporal+, as ``configs/supervised/ucf101_randaugment_t.yaml``);
``randaugment_t:VARIANT`` picks another variant (spatial, temporal, temporal+, mix).
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MIXERS = "baseline,mixup,videomix,framecutmix,cubecutmix,fademixup,svmix,randaugment_t"
BASELINE = "none"  # the row key of the baseline (compare name `baseline` or `none`)
RANDAUGMENT_T = "randaugment_t"
# The temporal-augmentation paper's RandAugment-T row (Table 2 "Temporal+"), as
# configs/supervised/ucf101_randaugment_t.yaml states it.
RANDAUGMENT_T_KWARGS: dict[str, Any] = {"num_ops": 2, "magnitude": 10.0, "variant": "temporal+",
                                        "magnitude_convention": "paper", "draw_per": "op"}
METRIC = "top1"  # the metric the claims are checked on (every paper states its orderings in top-1)


@dataclass(frozen=True)
class Claim:
    """``better`` beats ``worse``; row keys: canonical mixer names, ``none``, ``svmix``, ``randaugment_t``."""

    better: str
    worse: str
    source: str  # paper, table and the numbers it reports (top-1 %)


_VIDEOMIX = "VideoMix (Yun et al. 2020)"
_TEMPAUG = ("Temporal augmentation (Kim et al. 2020, Learning Temporally Invariant and Localizable "
            "Features via Data Augmentation for Video Recognition)")
_SVMIX = "SV-Mix (Tan et al. 2022)"
CLAIMS: tuple[Claim, ...] = (
    Claim("videomix", "mixup", f"{_VIDEOMIX}, Table 2 (Mini-Kinetics): 77.6 vs 77.0"),
    Claim("videomix", "st_cutmix", f"{_VIDEOMIX}, Tables 2-3: spatial 77.6 vs spatio-temporal (CutMix) 76.7"),
    Claim("videomix", "temporal_cutmix", f"{_VIDEOMIX}, Table 3: spatial 77.6 vs temporal 75.6"),
    Claim("videomix", BASELINE, f"{_VIDEOMIX}, Table 2: 77.6 vs vanilla 75.2"),
    Claim("mixup", BASELINE, f"{_VIDEOMIX}, Table 2: 77.0 vs 75.2 (SV-Mix Table III reports the "
                             "opposite on UCF101: 84.7 vs 85.2)"),
    Claim("fademixup", "mixup", f"{_TEMPAUG}, Table 6 (HMDB51 split 1): 39.80 vs 38.95 (Table 5, UCF101, "
                                "the opposite: 59.22 vs 59.60; 3-split average a tie, 39.96)"),
    Claim(RANDAUGMENT_T, BASELINE, f"{_TEMPAUG}, Table 2 (UCF101): temporal+ 69.23 vs 49.37; Table 6 "
                                   "(HMDB51 split 1): 48.17 vs 36.60"),
    Claim("cutmixup", "videomix", f"{_TEMPAUG}, Tables 4-5: 59.35 vs CutMix 50.81; Table 6: 40.92 vs 33.95"),
    Claim("framecutmixup", "temporal_cutmix", f"{_TEMPAUG}, Tables 4-5: FrameMixUp 60.67 vs FrameCutMix "
                                              "53.10; Table 6: 40.33 vs 34.97"),
    Claim("cubecutmixup", "st_cutmix", f"{_TEMPAUG}, Tables 4-5: CubeMixUp 59.85 vs CubeCutMix 51.86; "
                                       "Table 6: 40.72 vs 35.10"),
    Claim("svmix", "mixup", f"{_SVMIX}, Table III (TSM): UCF101 88.4 vs 84.7, Sth-Sth V1 47.2 vs 44.6"),
    Claim("svmix", "videomix", f"{_SVMIX}, Table III (TSM): UCF101 88.4 vs CutMix (VideoMix) 86.9, "
                               "Sth-Sth V1 47.2 vs 45.7"),
    Claim("svmix", BASELINE, f"{_SVMIX}, Tables II-III (TSM): UCF101 88.4 vs 85.2"),
)
GENERIC_SOURCE = "none (every mixer against the baseline)"
INTERVAL_NOTE = ("Intervals: 95 % percentile bootstrap (`vimix_ssl/eval/stats.py`, 2000 replicates) over "
                 "the test videos and the seeds, both resampled; with one seed over the test videos only "
                 "(seed-to-seed variation is then not in it). Differences are paired: both mixers on the "
                 "same test videos and seeds, resampled together. Verdict: *holds* = the difference's "
                 "interval is above 0, *reversed* = below 0, *not resolved* = it contains 0.")


def row_key(name: str) -> str:
    """A compare name's canonical key: ``framecutmix`` -> ``temporal_cutmix``, ``baseline`` -> ``none``."""
    from vimix_ssl.methods.supervised import SVMIX
    from vimix_ssl.mixing.randaugment_t import VARIANTS
    from vimix_ssl.mixing.registry import canonical_name

    key = name.strip().lower()
    if key in (SVMIX, RANDAUGMENT_T):
        return key
    if key.startswith(RANDAUGMENT_T + ":"):
        variant = key.split(":", 1)[1]
        if variant not in VARIANTS:
            raise ValueError(f"{name!r}: RandAugment-T variant must be one of {', '.join(VARIANTS)}")
        return key
    return canonical_name(key)


def run_overrides(name: str) -> list[str]:
    """The ``key=value`` overrides that make a compare name's run (on top of the user's)."""
    key = row_key(name)
    if key.startswith(RANDAUGMENT_T):
        variant = key.split(":", 1)[1] if ":" in key else RANDAUGMENT_T_KWARGS["variant"]
        kwargs = {**RANDAUGMENT_T_KWARGS, "variant": variant}
        return [f"mixer={BASELINE}", *(f"randaugment_t.{k}={v}" for k, v in kwargs.items())]
    return [f"mixer={key}"]


def run_dir(out: Path, name: str, seed: int, several_seeds: bool) -> Path:
    """``OUT/<name>`` for one seed (the layout before seeds existed), else ``OUT/<name>/seed<N>``."""
    folder = out / name.strip().replace(":", "_")
    return folder / f"seed{seed}" if several_seeds else folder


def _views(row: dict) -> str:
    protocol = row["test_protocol"]
    return f"{protocol['name']}: {protocol['clips']}x{protocol['crops']} @ {protocol['size']} px"


def _ci(ci: dict) -> str:
    return f"{ci['mean']:.2f} [{ci['low']:.2f}, {ci['high']:.2f}]"


def _difference(ci: dict) -> str:
    return f"{ci['mean']:+.2f} [{ci['low']:+.2f}, {ci['high']:+.2f}]"


def markdown(report: dict[str, Any]) -> str:
    """``comparison.md``: the mixer table, what the intervals are over, the claims table, the command."""
    lines = ["| mixer | top-1 (%) [95 % CI] | top-5 (%) [95 % CI] | test videos | seeds | "
             "test views (softmax averaged) |", "|---|---:|---:|---:|---|---|"]
    lines += [f"| {r['mixer']} | {_ci(r['top1_ci'])} | {_ci(r['top5_ci'])} | {r['test_videos']} | "
              f"{', '.join(map(str, r['seeds']))} | {_views(r)} |" for r in report["rows"]]
    lines += ["", report["interval"], "", "## Claimed orderings (top-1, paired difference in points)", ""]
    if report["claims"]:
        lines += ["| claim | source paper | difference top-1 [95 % CI] | verdict |", "|---|---|---:|---|"]
        lines += [f"| {c['claim']} | {c['source']} | {_difference(c['difference'])} | {c['verdict']} |"
                  for c in report["claims"]]
    else:
        lines.append("No claimed ordering has both of its mixers in this comparison.")
    return "\n".join(lines) + f"\n\nProduced by:\n\n```\n{report['command']}\n```\n"


def _load_or_run(config: Any, where: Path) -> dict[str, Any]:
    """The run's results: saved ones when they match (protocol, seed), else train (or re-evaluate)."""
    from vimix_ssl.config import ConfigError
    from vimix_ssl.data.config import VideoDataConfig
    from vimix_ssl.eval.multiview import parse_protocol
    from vimix_ssl.jobs.supervised.run import run_supervised

    done = where / "results.json"
    results = json.loads(done.read_text()) if done.is_file() else None
    if results is not None and "per_video" not in results:  # saved before per-video outcomes existed
        print(f"{where}: no per-video results, re-evaluating (a finished checkpoint.pt is not retrained)",
              file=sys.stderr)
        results = None
    if results is None:
        results = run_supervised(config)
    wanted = parse_protocol(config.test_views).record(config.data.get("size", VideoDataConfig().size))
    if results.get("test_protocol") != wanted:
        raise ConfigError(f"{done}: tested with {results.get('test_protocol')}, not test_views="
                          f"{config.test_views}; delete it (or use another --out) to re-run that mixer")
    if results.get("seed") != config.seed:
        raise ConfigError(f"{done}: trained with seed {results.get('seed')}, not {config.seed}; delete it "
                          "(or use another --out) to re-run that mixer")
    return results


def _scores(name: str, runs: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    """Test video ids and the ``(seeds, videos)`` 0/100 scores of one mixer's runs."""
    import numpy as np

    from vimix_ssl.config import ConfigError
    from vimix_ssl.eval.stats import correct

    ids = runs[0]["per_video"]["video_id"]
    if any(r["per_video"]["video_id"] != ids for r in runs):
        raise ConfigError(f"{name}: its seeds were tested on different videos; delete the runs to redo them")
    top1 = np.stack([correct(r["per_video"]["predicted"], r["per_video"]["label"]) for r in runs])
    top5 = 100.0 * np.asarray([r["per_video"]["top5_correct"] for r in runs], dtype=np.float64)
    return ids, {"top1": top1, "top5": top5}


def claims(rows: list[dict[str, Any]], scores: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every claimed ordering with both mixers run, then each other mixer against the baseline:
    the paired top-1 difference over the same videos and seeds, its interval and verdict."""
    from vimix_ssl.eval.stats import compare

    by_key = {r["key"]: r for r in rows}
    pairs = [(c.better, c.worse, c.source) for c in CLAIMS]
    stated = {(better, worse) for better, worse, _ in pairs}
    pairs += [(r["key"], BASELINE, GENERIC_SOURCE) for r in rows
              if r["key"] != BASELINE and (r["key"], BASELINE) not in stated]
    checks = []
    for better, worse, source in pairs:
        a, b = by_key.get(better), by_key.get(worse)
        if a is None or b is None:
            continue
        result = compare(scores[a["mixer"]][METRIC], scores[b["mixer"]][METRIC])
        checks.append({"claim": f"{a['mixer']} > {b['mixer']}", "better": a["mixer"], "worse": b["mixer"],
                       "source": source, "metric": METRIC, "difference": result.difference.to_dict(),
                       "verdict": result.verdict})
    return checks


def run_comparison(config_path: str, overrides: list[str], mixers: list[str], out: Path, command: str,
                   seeds: list[int] | None = None) -> dict[str, Any]:
    """Train ``config_path`` once per mixer and seed, write ``comparison.json`` / ``.md``, return the report.

    ``seeds`` None: the config's seed only. The report: ``rows`` (one per mixer: mean top-1 /
    top-5, ``top1_ci`` / ``top5_ci``, ``per_seed``, ``runs``), ``claims``, ``interval`` (what the
    intervals are over) and ``command``.
    """
    from vimix_ssl.config import ConfigError
    from vimix_ssl.eval.stats import interval
    from vimix_ssl.jobs.supervised.config import load_supervised_config
    from vimix_ssl.utils.io import atomic_write_json, atomic_write_text

    keys = {name: row_key(name) for name in mixers}  # unknown names fail here, before any training
    repeated = sorted({k for k in keys.values() if list(keys.values()).count(k) > 1})
    if repeated:
        raise ConfigError(f"--mixers names the same mixer twice ({', '.join(repeated)}; aliases count)")
    if seeds is not None and (not seeds or len(set(seeds)) != len(seeds)):
        raise ConfigError(f"--seeds: expected distinct seeds, got {seeds}")
    several = seeds is not None and len(seeds) > 1
    if seeds is None:  # the config's own seed
        seeds = [load_supervised_config(config_path, overrides).seed]
    rows, scores, videos = [], {}, None
    for name in mixers:
        runs, dirs = [], []
        for seed in seeds:
            where = run_dir(out, name, seed, several)
            config = load_supervised_config(config_path, [*overrides, f"seed={seed}", *run_overrides(name),
                                                          f"out_dir={where}"])
            results = _load_or_run(config, where)
            print(f"{name} (seed {config.seed}): top-1 {results['top1']:.2f}%", file=sys.stderr)
            runs.append(results)
            dirs.append(str(where))
        ids, scores[name] = _scores(name, runs)
        if videos is None:
            videos = ids
        elif ids != videos:
            raise ConfigError(f"{name}: tested on other videos than {mixers[0]} (another eval_max_videos or "
                              "split?); delete its runs to redo them")
        top1, top5 = interval(scores[name]["top1"]), interval(scores[name]["top5"])
        first = runs[0]
        rows.append({"mixer": name, "key": keys[name], "top1": top1.mean, "top5": top5.mean,
                     "top1_ci": top1.to_dict(), "top5_ci": top5.to_dict(), "seeds": [r["seed"] for r in runs],
                     "per_seed": [{"seed": r["seed"], "top1": r["top1"], "top5": r["top5"]} for r in runs],
                     "test_videos": first["test_videos"], "test_protocol": first["test_protocol"],
                     "epochs": first.get("epochs"), "lr": first.get("lr"),
                     "global_batch": first.get("global_batch"), "runs": dirs})
    report = {"command": command, "interval": INTERVAL_NOTE, "rows": rows, "claims": claims(rows, scores)}
    atomic_write_json(out / "comparison.json", report)
    atomic_write_text(out / "comparison.md", markdown(report))
    return report


def command_line(config_path: str, overrides: list[str], mixers: str, out: str,
                 seeds: str | None = None) -> str:
    words = [config_path, *overrides, "--mixers", mixers, *(["--seeds", seeds] if seeds else []),
             "--out", out]
    return "vimix compare " + " ".join(shlex.quote(a) for a in words)
