"""``vimix study``: do Vi-Mix's claimed orderings hold on the synthetic benchmarks?

For several seeds, on the demo's data and model sizes, it trains the rows of

* Table 1 — input mixing strategies vs MoCo (RGB; each row one pre-training run),
* Table 2 — after a shared stage 0 (MoCo + mixup, RGB and flow), one round of
  rgb → flow training per row: continued input mixup, CM mixup, CM cutmix over s / s+t /
  s+t+c with the partner at the same layer, and s+t+c with a random deeper partner layer,
* Table 5 — after a shared SkeletonCLR stage 0 (joint and motion), continued SkeletonCLR
  vs CMMC joint → motion,

evaluates every final encoder (linear probe top-1 and R@1 on the test split, kNN), and
reports for every number its 95 % bootstrap interval over seeds and test videos
(``eval.stats``), and for every claimed ordering the paired difference with its interval
and a verdict (*holds* / *reversed* / *not resolved*). Two synthetic video settings are
run and reported separately: ``motion_only`` (a fresh look per clip, no scene: motion is
the only class signal, the case the paper's cross-modal idea is about) and ``scene_cue``
(the demo's data: half the clips in their class's scene, as in real datasets). The video
test split has >= 500 clips so that a 5-point difference can be resolved. Table 2 rows
also record the linear CKA between the RGB and flow features of the same test clips and
each encoder's effective rank (``eval.diagnostics``). Nothing is selected on the test
split: every run's last epoch is evaluated.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vimix_ssl.jobs.demo.run import (
    SETTINGS,
    SKELETON_PAIR,
    VIDEO_PAIR,
    DemoConfig,
    evaluate_encoder,
    evaluation_config,
    prepare_skeleton_data,
    prepare_video_data,
    pretrain,
    skeleton_pretrain_config,
    video_pretrain_config,
)
from vimix_ssl.utils.io import atomic_write_json, atomic_write_text
from vimix_ssl.utils.logging import get_logger

log = get_logger("vimix.study")

TABLE1 = {  # row -> stage-0 mixing of the RGB MoCo (Vi-Mix Table 1)
    "MoCo": {"kind": "none"},
    "+mixup": {"kind": "input", "mixer": "mixup"},
    "+temporal cutmix": {"kind": "input", "mixer": "temporal_cutmix"},
    "+ST cutmix": {"kind": "input", "mixer": "st_cutmix"},
    "+VideoMix": {"kind": "input", "mixer": "videomix"},
}
_CM = {"kind": "cmmc", "cross_modal": True}
TABLE2 = {  # row -> mixing of the rgb and flow stages after the shared stage 0 (Vi-Mix Table 2)
    "+mixup": {"kind": "input", "mixer": "mixup"},
    "+CM mixup": {**_CM, "op": "mixup", "random_partner_layer": False},
    "+CM cutmix s": {**_CM, "op": "cutmix", "axes": "s", "random_partner_layer": False},
    "+CM cutmix s+t": {**_CM, "op": "cutmix", "axes": "s+t", "random_partner_layer": False},
    "+CM cutmix s+t+c": {**_CM, "op": "cutmix", "axes": "s+t+c", "random_partner_layer": False},
    "+CM cutmix s+t+c, random layer": {**_CM, "op": "cutmix", "axes": "s+t+c",
                                       "random_partner_layer": True},
}
TABLE5 = {  # row -> mixing of the joint and motion stages after SkeletonCLR stage 0 (Table 5)
    "SkeletonCLR": {"kind": "none"},
    "SkeletonCLR + CMMC": {"kind": "cmmc", "op": "cutmix", "axes": "s+t+c"},
}


@dataclass
class StudyConfig:
    demo: DemoConfig = field(default_factory=DemoConfig.quick)
    # The study's video benchmark size, used instead of the demo's per-class count: with 6
    # classes x 300 clips split 1 tests 7 of 25 groups, 504 test clips, enough to resolve a
    # 5-point difference (a 95 % interval of about +-4 points at 70 % accuracy).
    video_per_class: int = 300
    # skeleton samples per class for Table 5 (the demo's 24 give a 60-sample test split)
    skeleton_per_class: int = 100
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    tables: list[int] = field(default_factory=lambda: [1, 2, 5])
    # Table 1's input-mixing rows per modality: the paper's is RGB; flow adds the same rows for
    # the flow encoder (does input mixing help or hurt flow's stage 0?)
    table1_modalities: list[str] = field(default_factory=lambda: ["rgb"])
    stage_epochs: int = 4  # epochs of each row's rgb / flow (joint / motion) stage after stage 0
    # epochs of every video stage 0 (Table 1 rows, Table 2's shared stage 0); None = the demo's.
    # The demo's budget in clips seen: 30 epochs x 224 clips = 6720 clips per stage 0, about 5
    # epochs of the study's 1296 training clips (--full sizes, 300 videos per class).
    stage0_epochs: int | None = None
    settings: list[str] = field(default_factory=lambda: list(SETTINGS))
    # "test": the dataset's test split; "validation": groups carved from the training list
    # (data/validation.py) are the evaluation split, for choosing settings without the test split
    evaluate_on: str = "test"


METRICS = ("linear_top1", "r_at_1", "knn_top1")


def _metrics(eval_cfg: Any, run_dir: Path, modality: str) -> dict[str, Any]:
    """Percentages, per-video scores (``scores``, for intervals) and test features (``_features``)."""
    from vimix_ssl.models.export import export_from_checkpoint

    path = export_from_checkpoint(run_dir / "checkpoint.pt", modality, run_dir / f"{modality}_final.pt")
    return _encoder_metrics(eval_cfg, path, modality)


def _encoder_metrics(eval_cfg: Any, path: Path, modality: str) -> dict[str, Any]:
    m = evaluate_encoder(eval_cfg, path, modality)
    return {**{k: m[k] for k in METRICS}, "scores": {k: m["_scores"][k].tolist() for k in METRICS},
            "_features": m["_test_features"]}


def _continue_from(base_run: Path, out: Path) -> None:
    """Start a row from the shared stage-0 checkpoint (resume=auto picks it up)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "checkpoint.pt").is_file():
        shutil.copyfile(base_run / "checkpoint.pt", out / "checkpoint.pt")


def run_seed(cfg: StudyConfig, seed: int, out: Path, root: Path, flow_dir: Path, ntu_dir: Path,
             eval_cfg: Any, tables: list[int] | None = None,
             demo: DemoConfig | None = None) -> list[dict[str, Any]]:
    """The rows of ``tables`` (default ``cfg.tables``) for one seed on ``demo``'s data (default cfg.demo)."""
    tables = cfg.tables if tables is None else tables
    demo = replace(demo or cfg.demo, seed=seed)
    rows: list[dict[str, Any]] = []
    seed_dir = out / f"seed{seed}"
    if 1 in tables:
        for modality in cfg.table1_modalities:
            for name, mixing in TABLE1.items():
                run = seed_dir / "table1" / (_slug(name) + ("" if modality == "rgb" else f"_{modality}"))
                stages = [{"name": f"stage0_{modality}", "train": modality,
                           "epochs": demo.video_stage0_epochs, "mixing": mixing}]
                pretrain(video_pretrain_config(demo, root, flow_dir, run, stages))
                metrics = _metrics(eval_cfg, run, modality)
                metrics.pop("_features")
                rows.append({"table": 1, "row": name, "modality": modality, "seed": seed, **metrics})
    if 2 in tables:
        def video(out: Path, stages: list | None = None) -> dict[str, Any]:
            return video_pretrain_config(demo, root, flow_dir, out, stages)

        rows += _staged_rows(2, TABLE2, VIDEO_PAIR, seed_dir / "table2", cfg.stage_epochs, seed, eval_cfg,
                             video)
    if 5 in tables:
        def skeleton(out: Path, stages: list | None = None) -> dict[str, Any]:
            return skeleton_pretrain_config(demo, ntu_dir, out, stages)

        rows += _staged_rows(5, TABLE5, SKELETON_PAIR, seed_dir / "table5", cfg.stage_epochs, seed, eval_cfg,
                             skeleton)
    return rows


def _staged_rows(table: int, table_rows: dict[str, dict[str, Any]], pair: tuple[str, str], folder: Path,
                 stage_epochs: int, seed: int, eval_cfg: Any,
                 make_config: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """A shared stage 0 for both modalities, then per row one stage per modality with its mixing."""
    from vimix_ssl.jobs.demo.evaluate import random_encoder_file

    base = folder / "stage0"
    stage0 = make_config(base)["stages"][:2]
    pretrain(make_config(base, stage0))
    randoms = {m: random_encoder_file(base / "checkpoint.pt", m, seed, base / "encoders" / f"{m}_random.pt")
               for m in pair}
    rows = _with_diagnostics([{"table": table, "row": "random init", "modality": m, "seed": seed,
                               **_encoder_metrics(eval_cfg, randoms[m], m)} for m in pair])
    rows += _with_diagnostics([{"table": table, "row": "stage 0", "modality": m, "seed": seed,
                                **_metrics(eval_cfg, base, m)} for m in pair])
    for name, mixing in table_rows.items():
        run = folder / _slug(name)
        _continue_from(base, run)
        stages = stage0 + [
            {"name": f"row_{m}", "train": m, "epochs": stage_epochs, "mixing": mixing,
             **({"partner": partner} if mixing["kind"] == "cmmc" else {})}
            for m, partner in (pair, pair[::-1])]
        pretrain(make_config(run, stages))
        rows += _with_diagnostics([{"table": table, "row": name, "modality": m, "seed": seed,
                                    **_metrics(eval_cfg, run, m)} for m in pair])
    return rows


def _with_diagnostics(pair_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each encoder's effective rank and the pair's linear CKA (same test clips) to the rows."""
    from vimix_ssl.eval.diagnostics import effective_rank, linear_cka

    first, second = (r.pop("_features") for r in pair_rows)
    cka = linear_cka(first, second) if len(first) == len(second) else float("nan")
    for r, features in zip(pair_rows, (first, second)):
        r.update(effective_rank=effective_rank(features), pair_cka=cka)
    return pair_rows


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (setting, table, row, modality): mean ± std over seeds, and with per-video scores the
    95 % bootstrap interval over seeds and test videos (``<metric>_ci``); ``_scores`` keeps the
    ``(seeds, videos)`` arrays for the paired claims."""
    from vimix_ssl.eval.stats import interval

    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r.get("setting", ""), r["table"], r["row"], r["modality"]), []).append(r)
    out = []
    for (setting, table, row, modality), items in groups.items():
        entry: dict[str, Any] = {"setting": setting, "table": table, "row": row, "modality": modality,
                                 "seeds": len(items), "_scores": {}}
        for metric in METRICS:
            values = [i[metric] for i in items]
            entry[metric] = statistics.fmean(values)
            entry[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
            scores = [i["scores"][metric] for i in items if "scores" in i]
            if len(scores) == len(items) and len({len(v) for v in scores}) == 1:
                array = np.asarray(scores, dtype=np.float64)  # (seeds, videos)
                ci = interval(array)
                entry[f"{metric}_ci"] = [round(ci.low, 2), round(ci.high, 2)]
                entry["_scores"][metric] = array
        for key in ("effective_rank", "pair_cka"):
            if all(key in i for i in items):
                entry[key] = statistics.fmean(i[key] for i in items)
        out.append(entry)
    return out


def claims(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each claimed ordering per setting: the paired difference over seeds and test videos, its
    interval and verdict (``eval.stats.compare``); without per-video scores only the seed means
    are compared (``verdict`` None)."""
    from vimix_ssl.eval.stats import compare

    index = {(s.get("setting", ""), s["table"], s["row"], s["modality"]): s for s in summary}
    checks: list[dict[str, Any]] = []

    def check(text: str, setting: str, table: int, better: str, worse: str, modality: str,
              worse_modality: str | None = None) -> None:
        a = index.get((setting, table, better, modality))
        b = index.get((setting, table, worse, worse_modality or modality))
        if a is None or b is None:
            return
        for metric in METRICS:
            entry = {"setting": setting, "claim": f"{text} ({modality}, {metric})", "better": a[metric],
                     "worse": b[metric], "verdict": None}
            sa, sb = a["_scores"].get(metric), b["_scores"].get(metric)
            if sa is not None and sb is not None and sa.shape == sb.shape:
                c = compare(sa, sb)
                entry.update(difference=round(c.difference.mean, 2), low=round(c.difference.low, 2),
                             high=round(c.difference.high, 2), verdict=c.verdict)
                entry["holds"] = c.verdict == "holds"
            else:
                entry["holds"] = a[metric] > b[metric]
            checks.append(entry)

    for setting in dict.fromkeys(s.get("setting", "") for s in summary):
        for m in ("rgb", "flow"):
            for row in ("+temporal cutmix", "+ST cutmix", "+VideoMix"):
                check(f"Table 1: +mixup beats {row}", setting, 1, "+mixup", row, m)
            check("Table 1: +mixup beats MoCo", setting, 1, "+mixup", "MoCo", m)
        for m in ("rgb", "flow"):
            check("Table 2: CM mixup beats (input) mixup", setting, 2, "+CM mixup", "+mixup", m)
            check("Table 2: CM cutmix s+t+c beats CM cutmix s", setting, 2, "+CM cutmix s+t+c",
                  "+CM cutmix s", m)
            random_layer = "+CM cutmix s+t+c, random layer"
            check("Table 2: random CM layer beats same layer", setting, 2, random_layer,
                  "+CM cutmix s+t+c", m)
            check("Table 2: CM cutmix (random layer) beats mixup", setting, 2, random_layer, "+mixup", m)
            check("Table 2: CM cutmix s+t+c beats (input) mixup", setting, 2, "+CM cutmix s+t+c", "+mixup", m)
            check("CMMC diagnostic: CM cutmix s+t+c beats stage 0", setting, 2, "+CM cutmix s+t+c",
                  "stage 0", m)
        check("flow beats RGB on motion classes (stage 0)", setting, 2, "stage 0", "stage 0", "flow", "rgb")
        check("flow beats RGB on motion classes (after CM cutmix s+t+c)", setting, 2, "+CM cutmix s+t+c",
              "+CM cutmix s+t+c", "flow", "rgb")
        for m in ("rgb", "flow"):
            check("pre-training beats random init (stage 0)", setting, 2, "stage 0", "random init", m)
            check("pre-training beats random init (CM cutmix s+t+c)", setting, 2, "+CM cutmix s+t+c",
                  "random init", m)
        for m in ("joint", "motion"):
            check("pre-training beats random init (SkeletonCLR)", setting, 5, "SkeletonCLR", "random init", m)
            check("pre-training beats random init (SkeletonCLR + CMMC)", setting, 5, "SkeletonCLR + CMMC",
                  "random init", m)
        for m in ("joint", "motion"):
            check("Table 5: +CMMC beats SkeletonCLR", setting, 5, "SkeletonCLR + CMMC", "SkeletonCLR", m)
    return checks


def _ci(entry: dict[str, Any], metric: str) -> str:
    ci = entry.get(f"{metric}_ci")
    text = f"{entry[metric]:.1f} ± {entry[metric + '_std']:.1f}"
    return text + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")


def render(summary: list[dict[str, Any]], checks: list[dict[str, Any]], cfg: StudyConfig,
           command: str) -> str:
    lines = ["# Reproduction study on the synthetic benchmarks", "", f"Command: `{command}`", "",
             f"Seeds {cfg.seeds}; settings {cfg.settings}; demo sizes {asdict(cfg.demo)} with "
             f"{cfg.video_per_class} videos per class; {cfg.stage_epochs} epochs per row stage.",
             "Video percentages are on the **validation split** carved from the training list (whole groups; "
             "the test split was not used)." if cfg.evaluate_on == "validation" else
             "Video percentages are on the test split.",
             "Percentages: mean ± std over seeds [95 % bootstrap interval over seeds and "
             "test videos]. Verdicts: *holds* = the paired difference's interval is above 0, *reversed* = "
             "below 0, *not resolved* = it contains 0.", ""]
    for setting in dict.fromkeys(s.get("setting", "") for s in summary):
        for table in sorted({s["table"] for s in summary if s.get("setting", "") == setting}):
            title = f"## Table {table}" + (f" — {setting}" if setting else "")
            lines += [title, "", "| row | modality | linear top-1 | R@1 | kNN top-1 | effective rank | "
                      "RGB-flow (joint-motion) CKA |", "|---|---|---|---|---|---|---|"]
            for s in (s for s in summary if s["table"] == table and s.get("setting", "") == setting):
                extra = " | ".join(f"{s[k]:.2f}" if k in s else "" for k in ("effective_rank", "pair_cka"))
                lines.append(f"| {s['row']} | {s['modality']} | "
                             + " | ".join(_ci(s, m) for m in METRICS) + f" | {extra} |")
            lines.append("")
    lines += ["## Claimed orderings", "",
              "| setting | claim | better row | other row | difference | verdict |",
              "|---|---|---|---|---|---|"]
    for c in checks:
        if c["verdict"] is None:
            difference, verdict = "", ("higher mean (no intervals)" if c["holds"] else "no")
        else:
            difference = f"{c['difference']:+.1f} [{c['low']:+.1f}, {c['high']:+.1f}]"
            verdict = c["verdict"]
        lines.append(f"| {c['setting']} | {c['claim']} | {c['better']:.1f} | {c['worse']:.1f} | "
                     f"{difference} | {verdict} |")
    return "\n".join(lines) + "\n"


def _public(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if not k.startswith("_")} for e in entries]


def run_study(cfg: StudyConfig, command: str = "vimix study") -> dict[str, Any]:
    from vimix_ssl.utils.threads import configure_threads

    configure_threads()
    out = Path(cfg.demo.out)
    unknown = sorted(set(cfg.settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f"study settings {unknown}: expected some of {sorted(SETTINGS)}")
    if not set(cfg.table1_modalities) <= set(VIDEO_PAIR):
        raise ValueError(f"table1_modalities {cfg.table1_modalities}: expected some of {list(VIDEO_PAIR)}")
    rows: list[dict[str, Any]] = []
    for number, setting in enumerate(cfg.settings):
        epochs = {} if cfg.stage0_epochs is None else {"video_stage0_epochs": cfg.stage0_epochs}
        demo = replace(cfg.demo, out=str(out / setting), video_per_class=cfg.video_per_class,
                       skeleton_per_class=cfg.skeleton_per_class, evaluate_on=cfg.evaluate_on, **epochs,
                       **SETTINGS[setting])
        data_dir = out / setting / "data"
        root, flow_dir = prepare_video_data(demo, data_dir)
        ntu_dir = prepare_skeleton_data(demo, out / "data")  # skeletons: one setting, run once
        eval_cfg = evaluation_config(demo, video_pretrain_config(demo, root, flow_dir, out / setting),
                                     flow_dir, ntu_dir, out / setting / "feature_cache")
        video_tables = [t for t in cfg.tables if t in (1, 2)]
        skeleton_tables = [t for t in cfg.tables if t == 5] if number == 0 else []
        for seed in cfg.seeds:
            log.info(f"{setting}: seed {seed}")
            for tables, name in ((video_tables, setting), (skeleton_tables, "skeleton")):
                if tables:
                    new = run_seed(cfg, seed, out / name, root, flow_dir, ntu_dir, eval_cfg, tables, demo)
                    rows += [{"setting": name, **r} for r in new]
            atomic_write_json(out / "study_rows.json", rows)  # partial results survive an interruption
    summary = summarise(rows)
    checks = claims(summary)
    result = {"config": asdict(cfg), "command": command, "rows": rows, "summary": _public(summary),
              "claims": checks}
    atomic_write_json(out / "study.json", result)
    atomic_write_text(out / "study.md", render(summary, checks, cfg, command))
    return result
