"""``vimix study``: do Vi-Mix's claimed orderings hold on the synthetic benchmarks?

For several seeds, on the demo's data and model sizes, it trains the rows of

* Table 1 — input mixing strategies vs MoCo (RGB; each row one pre-training run),
* Table 2 — after a shared stage 0 (MoCo + mixup, RGB and flow), one round of
  rgb → flow training per row: continued input mixup, CM mixup, CM cutmix over s / s+t /
  s+t+c with the partner at the same layer, and s+t+c with a random deeper partner layer,
* Table 5 — after a shared SkeletonCLR stage 0 (joint and motion), continued SkeletonCLR
  vs CMMC joint → motion,

evaluates every final encoder (linear probe top-1 and R@1 on the test split, kNN), and
reports mean ± std over seeds together with whether each claimed ordering holds. Nothing is
selected on the test split: every run's last epoch is evaluated.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from vimix_ssl.jobs.demo.run import (
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
    "+CM mixup": {**_CM, "op": "mixup", "axes": "s+t+c", "random_partner_layer": False},
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
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    tables: list[int] = field(default_factory=lambda: [1, 2, 5])
    stage_epochs: int = 4  # epochs of each row's rgb / flow (joint / motion) stage after stage 0


def _metrics(eval_cfg: Any, run_dir: Path, modality: str) -> dict[str, float]:
    from vimix_ssl.models.export import export_from_checkpoint

    path = export_from_checkpoint(run_dir / "checkpoint.pt", modality, run_dir / f"{modality}_final.pt")
    m = evaluate_encoder(eval_cfg, path, modality)
    return {k: m[k] for k in ("linear_top1", "r_at_1", "knn_top1")}


def _continue_from(base_run: Path, out: Path) -> None:
    """Start a row from the shared stage-0 checkpoint (resume=auto picks it up)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "checkpoint.pt").is_file():
        shutil.copyfile(base_run / "checkpoint.pt", out / "checkpoint.pt")


def run_seed(cfg: StudyConfig, seed: int, out: Path, root: Path, flow_dir: Path, ntu_dir: Path,
             eval_cfg: Any) -> list[dict[str, Any]]:
    demo = replace(cfg.demo, seed=seed)
    rows: list[dict[str, Any]] = []
    seed_dir = out / f"seed{seed}"
    if 1 in cfg.tables:
        for name, mixing in TABLE1.items():
            run = seed_dir / "table1" / _slug(name)
            stages = [{"name": "stage0_rgb", "train": "rgb", "epochs": demo.video_stage0_epochs,
                       "mixing": mixing}]
            pretrain(video_pretrain_config(demo, root, flow_dir, run, stages))
            rows.append({"table": 1, "row": name, "modality": "rgb", "seed": seed,
                         **_metrics(eval_cfg, run, "rgb")})
    if 2 in cfg.tables:
        def video(out: Path, stages: list | None = None) -> dict[str, Any]:
            return video_pretrain_config(demo, root, flow_dir, out, stages)

        rows += _staged_rows(2, TABLE2, VIDEO_PAIR, seed_dir / "table2", cfg.stage_epochs, seed, eval_cfg,
                             video)
    if 5 in cfg.tables:
        def skeleton(out: Path, stages: list | None = None) -> dict[str, Any]:
            return skeleton_pretrain_config(demo, ntu_dir, out, stages)

        rows += _staged_rows(5, TABLE5, SKELETON_PAIR, seed_dir / "table5", cfg.stage_epochs, seed, eval_cfg,
                             skeleton)
    return rows


def _staged_rows(table: int, table_rows: dict[str, dict[str, Any]], pair: tuple[str, str], folder: Path,
                 stage_epochs: int, seed: int, eval_cfg: Any,
                 make_config: Callable[..., dict[str, Any]]) -> list[dict[str, Any]]:
    """A shared stage 0 for both modalities, then per row one stage per modality with its mixing."""
    base = folder / "stage0"
    stage0 = make_config(base)["stages"][:2]
    pretrain(make_config(base, stage0))
    rows = [{"table": table, "row": "stage 0", "modality": m, "seed": seed, **_metrics(eval_cfg, base, m)}
            for m in pair]
    for name, mixing in table_rows.items():
        run = folder / _slug(name)
        _continue_from(base, run)
        stages = stage0 + [
            {"name": f"row_{m}", "train": m, "epochs": stage_epochs, "mixing": mixing,
             **({"partner": partner} if mixing["kind"] == "cmmc" else {})}
            for m, partner in (pair, pair[::-1])]
        pretrain(make_config(run, stages))
        rows += [{"table": table, "row": name, "modality": m, "seed": seed, **_metrics(eval_cfg, run, m)}
                 for m in pair]
    return rows


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std over seeds per (table, row, modality)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["table"], r["row"], r["modality"]), []).append(r)
    out = []
    for (table, row, modality), items in groups.items():
        entry: dict[str, Any] = {"table": table, "row": row, "modality": modality, "seeds": len(items)}
        for metric in ("linear_top1", "r_at_1", "knn_top1"):
            values = [i[metric] for i in items]
            entry[metric] = statistics.fmean(values)
            entry[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        out.append(entry)
    return out


def claims(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each claimed ordering, checked on the seed means (linear top-1 and R@1)."""
    def get(table: int, row: str, modality: str, metric: str) -> float | None:
        key = (table, row, modality)
        e = next((s for s in summary if (s["table"], s["row"], s["modality"]) == key), None)
        return None if e is None else e[metric]

    checks = []

    def check(text: str, table: int, better: str, worse: str, modality: str) -> None:
        for metric in ("linear_top1", "r_at_1"):
            a, b = get(table, better, modality, metric), get(table, worse, modality, metric)
            if a is not None and b is not None:
                checks.append({"claim": f"{text} ({modality}, {metric})", "better": a, "worse": b,
                               "holds": a > b})

    for row in ("+temporal cutmix", "+ST cutmix", "+VideoMix"):
        check(f"Table 1: +mixup beats {row}", 1, "+mixup", row, "rgb")
    check("Table 1: +mixup beats MoCo", 1, "+mixup", "MoCo", "rgb")
    for m in ("rgb", "flow"):
        check("Table 2: CM mixup beats (input) mixup", 2, "+CM mixup", "+mixup", m)
        check("Table 2: CM cutmix s+t+c beats CM cutmix s", 2, "+CM cutmix s+t+c", "+CM cutmix s", m)
        check("Table 2: random CM layer beats same layer", 2, "+CM cutmix s+t+c, random layer",
              "+CM cutmix s+t+c", m)
        check("Table 2: CM cutmix (random layer) beats mixup", 2, "+CM cutmix s+t+c, random layer",
              "+mixup", m)
    for m in ("joint", "motion"):
        check("Table 5: +CMMC beats SkeletonCLR", 5, "SkeletonCLR + CMMC", "SkeletonCLR", m)
    for metric in ("linear_top1", "r_at_1"):
        a = get(2, "stage 0", "flow", metric)
        b = get(2, "stage 0", "rgb", metric)
        if a is not None and b is not None:
            checks.append({"claim": f"flow beats RGB on motion classes (stage 0, {metric})",
                           "better": a, "worse": b, "holds": a > b})
    return checks


def render(summary: list[dict[str, Any]], checks: list[dict[str, Any]], cfg: StudyConfig,
           command: str) -> str:
    lines = ["# Reproduction study on the synthetic benchmarks", "", f"Command: `{command}`", "",
             f"Seeds {cfg.seeds}; demo sizes {asdict(cfg.demo)}; {cfg.stage_epochs} epochs per row stage.",
             "Percentages on the test split, mean ± std over seeds.", ""]
    for table in sorted({s["table"] for s in summary}):
        lines += [f"## Table {table}", "", "| row | modality | linear top-1 | R@1 | kNN top-1 |",
                  "|---|---|---|---|---|"]
        for s in (s for s in summary if s["table"] == table):
            lines.append(f"| {s['row']} | {s['modality']} | " + " | ".join(
                f"{s[m]:.1f} ± {s[m + '_std']:.1f}" for m in ("linear_top1", "r_at_1", "knn_top1")) + " |")
        lines.append("")
    lines += ["## Claimed orderings", "", "| claim | better row | other row | holds |", "|---|---|---|---|"]
    for c in checks:
        holds = "yes" if c["holds"] else "no"
        lines.append(f"| {c['claim']} | {c['better']:.1f} | {c['worse']:.1f} | {holds} |")
    return "\n".join(lines) + "\n"


def run_study(cfg: StudyConfig, command: str = "vimix study") -> dict[str, Any]:
    out = Path(cfg.demo.out)
    data_dir = out / "data"
    root, flow_dir = prepare_video_data(cfg.demo, data_dir)
    ntu_dir = prepare_skeleton_data(cfg.demo, data_dir)
    eval_cfg = evaluation_config(cfg.demo, video_pretrain_config(cfg.demo, root, flow_dir, out),
                                 flow_dir, ntu_dir, out / "feature_cache")
    rows: list[dict[str, Any]] = []
    for seed in cfg.seeds:
        log.info(f"seed {seed}")
        rows += run_seed(cfg, seed, out, root, flow_dir, ntu_dir, eval_cfg)
        atomic_write_json(out / "study_rows.json", rows)  # partial results survive an interruption
    summary = summarise(rows)
    checks = claims(summary)
    result = {"config": asdict(cfg), "command": command, "rows": rows, "summary": summary, "claims": checks}
    atomic_write_json(out / "study.json", result)
    atomic_write_text(out / "study.md", render(summary, checks, cfg, command))
    return result
