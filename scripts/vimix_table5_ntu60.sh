#!/usr/bin/env bash
# Vi-Mix Table 5: SkeletonCLR and SkeletonCLR + CMMC on NTU RGB+D 60 (ST-GCN at 1/4 width, joint and
# motion streams), skeleton linear evaluation on xsub and xview. One run per benchmark (pre-training
# uses that benchmark's training set): stage 0 = SkeletonCLR on each stream (150 epochs each), then
# CMMC joint -> motion (150 epochs each). The baseline row is the stage-0 encoders of the same run.
# "Joint + Motion" = mean of the two streams' linear-probe softmax. Paper: 1 V100, batch 128.
# Usage: NTU_RAW=/data/nturgb+d_skeletons bash scripts/vimix_table5_ntu60.sh
set -euo pipefail

NTU_RAW="${NTU_RAW:-/data/nturgb+d_skeletons}"                      # raw S001C001P001R001A001.skeleton files
NTU_MISSING="${NTU_MISSING:-/data/NTU_RGBD_samples_with_missing_skeletons.txt}"   # the 302 official skips
NTU60="${NTU60:-/data/ntu60}"                                        # written by `vimix prepare ntu`
RUNS="${RUNS:-runs/table5}"

# Parse the skeletons once: xsub/xview splits, frame50 arrays (docs/DATA_SKELETON.md).
vimix prepare ntu "$NTU_RAW" "$NTU60" --missing "$NTU_MISSING"

vimix pretrain configs/pretrain/vimix_ntu60_xsub.yaml out_dir="$RUNS/xsub" data.root="$NTU60"
vimix pretrain configs/pretrain/vimix_ntu60_xview.yaml out_dir="$RUNS/xview" data.root="$NTU60"

latest() { ls -t "$@" | head -n 1; }

# evaluate_xsub / evaluate_xview CHECKPOINT NAME: the joint and motion encoders of a run's CHECKPOINT
# -> skeleton linear evaluation of each on that benchmark -> Joint + Motion fusion.
export_streams() {
    vimix export "$1" --modality joint --out "$2/joint_encoder.pt" --force
    vimix export "$1" --modality motion --out "$2/motion_encoder.pt" --force
}
fuse_streams() {
    vimix eval finetune --fuse "$(latest "$1/eval/linear_joint_"*.npz)" \
        "$(latest "$1/eval/linear_motion_"*.npz)" --out "$1"
}
evaluate_xsub() {
    local out="$RUNS/xsub/$2"
    export_streams "$RUNS/xsub/$1" "$out"
    vimix eval skeleton-linear configs/eval/ntu60.yaml skeleton.root="$NTU60" \
        --encoder "$out/joint_encoder.pt" --benchmark xsub --out "$out/eval"
    vimix eval skeleton-linear configs/eval/ntu60.yaml skeleton.root="$NTU60" \
        --encoder "$out/motion_encoder.pt" --benchmark xsub --out "$out/eval"
    fuse_streams "$out/eval"
}
evaluate_xview() {
    local out="$RUNS/xview/$2"
    export_streams "$RUNS/xview/$1" "$out"
    vimix eval skeleton-linear configs/eval/ntu60.yaml skeleton.root="$NTU60" \
        --encoder "$out/joint_encoder.pt" --benchmark xview --out "$out/eval"
    vimix eval skeleton-linear configs/eval/ntu60.yaml skeleton.root="$NTU60" \
        --encoder "$out/motion_encoder.pt" --benchmark xview --out "$out/eval"
    fuse_streams "$out/eval"
}

# Paper (Table 5), top-1 (%) of Joint + Motion:
evaluate_xsub stage1_stage0_motion.pt skeletonclr    # SkeletonCLR* (baseline): xsub 70.1
evaluate_xsub checkpoint.pt cmmc                     # SkeletonCLR + CMMC:      xsub 72.5
evaluate_xview stage1_stage0_motion.pt skeletonclr   # SkeletonCLR* (baseline): xview 77.2
evaluate_xview checkpoint.pt cmmc                    # SkeletonCLR + CMMC:      xview 79.1
# Reference rows of the same table (not run here): 2s-CrosSCLR 74.5 / 82.1, 3s-CrosSCLR 77.8 / 83.4.
