#!/usr/bin/env bash
# 3D ResNet-RS (seed 003, Du et al.): R3D-RS-50 trained from scratch on Kinetics-400 with the paper's
# recipe, all in configs/supervised/k400_r3d_rs50.yaml: SGD momentum 0.9, lr 0.8 at the global batch
# 1024 scaled linearly to the batch actually run (optim.reference_batch; 16 clips -> 0.0125), 5
# warm-up epochs then cosine, 350 epochs, dropout 0.5, label smoothing 0.1, stochastic depth 0.2,
# weight decay 4e-5, scale jitter + 224 px crops, no RandAugment (the paper adds it only to
# R3D-RS-200), test on 30 views: 10 clips x 3 crops of 256 px (test_views: seed003).
# `vimix train` runs in one process: it does not join a torchrun process group yet, so it is
# launched plainly, on one GPU.
# Usage: K400_ROOT=/data/kinetics400 K400_ANNOTATIONS=/data/kinetics400/annotations \
#            bash scripts/r3d_rs50_kinetics400.sh
set -euo pipefail

K400_ROOT="${K400_ROOT:-/data/kinetics400}"                      # <label>/<youtube_id>_<start>_<end>.mp4
K400_ANNOTATIONS="${K400_ANNOTATIONS:-/data/kinetics400/annotations}"   # kinetics-400_{train,val}.csv
K400_STORE="${K400_STORE:-/data/kinetics400_store}"
RUNS="${RUNS:-runs/r3d_rs50}"

# Unreadable videos are common in Kinetics downloads: list them first, then decode once into a store
# (short side 320: the scale jitter reaches 320 px).
vimix data check --dataset kinetics400 --root "$K400_ROOT" --splits "$K400_ANNOTATIONS"
vimix prepare video --dataset kinetics400 --root "$K400_ROOT" --splits "$K400_ANNOTATIONS" \
    --out "$K400_STORE" --short-side 320

# Seed 003 Table 3: R3D-RS-50 top-1 78.2, top-5 93.7 (30 views; R3D-50 baseline 74.4 / 91.0).
vimix train configs/supervised/k400_r3d_rs50.yaml \
    out_dir="$RUNS/k400" \
    data.root="$K400_ROOT" data.splits="$K400_ANNOTATIONS" data.store="$K400_STORE"
