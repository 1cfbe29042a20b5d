#!/usr/bin/env bash
# Temporal data augmentation paper (seed 002, Kim et al., VIPriors 2020): RandAugment-T and the
# deleting / mixing / blending video augmentations, supervised from scratch, one run per row.
# The configs hold the paper's setting (configs/supervised/ucf101_baseline.yaml and the ucf101_*
# rows): 64-frame clips, short-side scale jitter 160-200 + 160 px crop + flip, Adam lr 1e-4 at
# batch 16, wd 1e-5, warm-up + cosine, 150 epochs, test on 10 clips per video (test_views: seed002).
# Differences from the paper, on purpose: S3D stands in for SlowFast-50 (not in the registry) and
# UCF101 split 1 for the VIPriors split (4795 train / 4742 validation videos). Expected numbers:
# the paper's top-1 / top-5 (%) on its UCF101 split, then on HMDB51 split 1.
# Usage: UCF101_ROOT=/data/UCF-101 HMDB51_ROOT=/data/hmdb51 bash scripts/temporal_augmentation_supervised.sh
set -euo pipefail

UCF101_ROOT="${UCF101_ROOT:-/data/UCF-101}"
UCF101_SPLITS="${UCF101_SPLITS:-/data/ucfTrainTestlist}"
UCF101_STORE="${UCF101_STORE:-/data/ucf101_store200}"            # short side 200 (scale jitter 160-200)
HMDB51_ROOT="${HMDB51_ROOT:-/data/hmdb51}"
HMDB51_SPLITS="${HMDB51_SPLITS:-/data/testTrainMulti_7030_splits}"
HMDB51_STORE="${HMDB51_STORE:-/data/hmdb51_store200}"
RUNS="${RUNS:-runs/temporal_augmentation}"

vimix prepare video --dataset ucf101 --root "$UCF101_ROOT" --splits "$UCF101_SPLITS" --out "$UCF101_STORE" \
    --short-side 200
vimix prepare video --dataset hmdb51 --root "$HMDB51_ROOT" --splits "$HMDB51_SPLITS" --out "$HMDB51_STORE" \
    --short-side 200

# One `vimix train` per row (rerun a line to resume it); each writes OUT_DIR/results.json (top1, top5).
# The paper's top-1 / top-5 (%) above each row.
# Table 2 (augmentation).
# Baseline: 49.37 / 73.62
vimix train configs/supervised/ucf101_baseline.yaml out_dir="$RUNS/baseline" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# RandAugment (spatial): 66.87 / 88.04
vimix train configs/supervised/ucf101_randaugment_t.yaml out_dir="$RUNS/randaugment_spatial" \
    randaugment_t.variant=spatial \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# RandAugment-T temporal: 67.33 / 88.42
vimix train configs/supervised/ucf101_randaugment_t.yaml out_dir="$RUNS/randaugment_temporal" \
    randaugment_t.variant=temporal \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# RandAugment-T temporal+: 69.23 / 89.20
vimix train configs/supervised/ucf101_randaugment_t.yaml out_dir="$RUNS/randaugment_temporal_plus" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# RandAugment-T mix: 68.24 / 89.25
vimix train configs/supervised/ucf101_randaugment_t.yaml out_dir="$RUNS/randaugment_mix" \
    randaugment_t.variant=mix \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# Table 3 (deleting).
# CutOut: 46.01 / 69.80
vimix train configs/supervised/ucf101_cutout.yaml out_dir="$RUNS/cutout" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# FrameCutOut: 47.60 / 71.32
vimix train configs/supervised/ucf101_framecutout.yaml out_dir="$RUNS/framecutout" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# CubeCutOut: 47.45 / 72.06
vimix train configs/supervised/ucf101_cubecutout.yaml out_dir="$RUNS/cubecutout" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# Table 4 (mixing, mixing probability 0.5).
# CutMix (alpha 2): 50.81 / 75.62
vimix train configs/supervised/ucf101_videomix.yaml out_dir="$RUNS/cutmix_alpha2" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# FrameCutMix (alpha 2): 51.29 / 74.99
vimix train configs/supervised/ucf101_framecutmix.yaml out_dir="$RUNS/framecutmix_alpha2" \
    mixer_kwargs.alpha=2.0 \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# FrameCutMix (alpha 5, the config's): 53.10 / 76.61
vimix train configs/supervised/ucf101_framecutmix.yaml out_dir="$RUNS/framecutmix_alpha5" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# CubeCutMix (alpha 2): 51.86 / 74.34
vimix train configs/supervised/ucf101_cubecutmix.yaml out_dir="$RUNS/cubecutmix_alpha2" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# CubeCutMix (alpha 5): 51.81 / 75.16
vimix train configs/supervised/ucf101_cubecutmix.yaml out_dir="$RUNS/cubecutmix_alpha5" \
    mixer_kwargs.alpha=5.0 \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# Table 5 (blending).
# MixUp: 59.60 / 82.56
vimix train configs/supervised/ucf101_mixup.yaml out_dir="$RUNS/mixup" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# FadeMixUp: 59.22 / 82.24
vimix train configs/supervised/ucf101_fademixup.yaml out_dir="$RUNS/fademixup" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# CutMixUp: 59.35 / 81.99
vimix train configs/supervised/ucf101_cutmixup.yaml out_dir="$RUNS/cutmixup" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# FrameMixUp (FrameCutMixUp): 60.67 / 83.47
vimix train configs/supervised/ucf101_framecutmixup.yaml out_dir="$RUNS/framecutmixup" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# CubeMixUp (CubeCutMixUp): 59.85 / 82.20
vimix train configs/supervised/ucf101_cubecutmixup.yaml out_dir="$RUNS/cubecutmixup" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
# Not in the paper: SV-Mix in the same setting, for comparison (no published number).
vimix train configs/supervised/ucf101_svmix_seed002.yaml out_dir="$RUNS/svmix" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"

# Table 6 (HMDB51 split 1, same model and settings), top-1 / top-5:
# baseline 36.60 / 67.25, CutOut 34.71 / 65.49, FrameCutOut 31.05 / 61.57, CubeCutOut 33.01 / 63.99,
# MixUp 38.95 / 68.10, CutMixUp 40.92 / 71.07, FrameMixUp 40.33 / 70.98, CubeMixUp 40.72 / 70.65,
# FadeMixUp 39.80 / 70.39.
vimix compare configs/supervised/hmdb51_baseline.yaml \
    data.root="$HMDB51_ROOT" data.splits="$HMDB51_SPLITS" data.store="$HMDB51_STORE" \
    --mixers baseline,cutout,framecutout,cubecutout,mixup,cutmixup,framecutmixup,cubecutmixup,fademixup \
    --out "$RUNS/hmdb51"
# Table 6, mixing rows (alpha 2, probability 0.5): CutMix 33.95 / 64.27, FrameCutMix 34.97 / 65.56,
# CubeCutMix 35.10 / 65.10.
vimix compare configs/supervised/hmdb51_baseline.yaml \
    data.root="$HMDB51_ROOT" data.splits="$HMDB51_SPLITS" data.store="$HMDB51_STORE" \
    mixer_kwargs.alpha=2.0 mix_probability=0.5 \
    --mixers videomix,framecutmix,cubecutmix --out "$RUNS/hmdb51_mixing"
# Table 6, RandAug-T (temporal+): 48.17 / 79.35 (spatial RandAug: 47.45 / 79.21).
vimix train configs/supervised/hmdb51_baseline.yaml out_dir="$RUNS/hmdb51_randaugment_t" \
    data.root="$HMDB51_ROOT" data.splits="$HMDB51_SPLITS" data.store="$HMDB51_STORE" \
    randaugment_t.num_ops=2 randaugment_t.magnitude=10.0 randaugment_t.variant=temporal+
