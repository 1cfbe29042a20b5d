#!/usr/bin/env bash
# Vi-Mix Table 1: which input mixing helps MoCo on video? S3D RGB pre-trained on UCF101 split 1
# (train videos only, 200 epochs as in the table caption), then linear probe on UCF101 / HMDB51
# split 1 and retrieval R@1 (test clips query the train videos).
# Expected numbers are the paper's (Vi-Mix Table 1; paper: 2 V100, 32 clips per GPU). One GPU as
# written; for several, launch each `vimix pretrain` line with scripts/launch/torchrun_one_node.sh.
# Usage: UCF101_ROOT=/data/UCF-101 HMDB51_ROOT=/data/hmdb51 bash scripts/vimix_table1_ucf101_mixing.sh
set -euo pipefail

UCF101_ROOT="${UCF101_ROOT:-/data/UCF-101}"                       # <Class>/v_<Class>_gXX_cYY.avi
UCF101_SPLITS="${UCF101_SPLITS:-/data/ucfTrainTestlist}"          # classInd.txt, trainlist01.txt, ...
UCF101_STORE="${UCF101_STORE:-/data/ucf101_store}"                # written below by `vimix prepare video`
HMDB51_ROOT="${HMDB51_ROOT:-/data/hmdb51}"                        # <action>/<video>.avi
HMDB51_SPLITS="${HMDB51_SPLITS:-/data/testTrainMulti_7030_splits}"
RUNS="${RUNS:-runs/table1}"
EPOCHS="${EPOCHS:-200}"                                           # Table 1 caption: 200 epochs
FINETUNE="${FINETUNE:-0}"                                         # 1: also finetune (no paper number)

# Decode UCF101 once into a frame store (resumable; short side 128).
vimix prepare video --dataset ucf101 --root "$UCF101_ROOT" --splits "$UCF101_SPLITS" --out "$UCF101_STORE"

# Pre-training, one run per row (resumable: rerun the same line after an interruption).
vimix pretrain configs/pretrain/ucf101_moco.yaml \
    out_dir="$RUNS/moco" stage_defaults.epochs="$EPOCHS" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
vimix pretrain configs/pretrain/ucf101_mixup.yaml \
    out_dir="$RUNS/mixup" stage_defaults.epochs="$EPOCHS" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
vimix pretrain configs/pretrain/ucf101_temporal_cutmix.yaml \
    out_dir="$RUNS/temporal_cutmix" stage_defaults.epochs="$EPOCHS" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
vimix pretrain configs/pretrain/ucf101_st_cutmix.yaml \
    out_dir="$RUNS/st_cutmix" stage_defaults.epochs="$EPOCHS" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"
vimix pretrain configs/pretrain/ucf101_videomix.yaml \
    out_dir="$RUNS/videomix" stage_defaults.epochs="$EPOCHS" \
    data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" data.store="$UCF101_STORE"

# evaluate ROW: export the RGB query backbone, then linear probe and retrieval on both datasets.
evaluate() {
    local run="$RUNS/$1"
    vimix export "$run/checkpoint.pt" --modality rgb --out "$run/rgb_encoder.pt" --force
    vimix eval linear configs/eval/ucf101.yaml data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" \
        --encoder "$run/rgb_encoder.pt" --out "$run/eval_ucf101"
    vimix eval retrieval configs/eval/ucf101.yaml data.root="$UCF101_ROOT" data.splits="$UCF101_SPLITS" \
        --encoder "$run/rgb_encoder.pt" --out "$run/eval_ucf101"
    vimix eval linear configs/eval/hmdb51.yaml data.root="$HMDB51_ROOT" data.splits="$HMDB51_SPLITS" \
        --encoder "$run/rgb_encoder.pt" --out "$run/eval_hmdb51"
    vimix eval retrieval configs/eval/hmdb51.yaml data.root="$HMDB51_ROOT" data.splits="$HMDB51_SPLITS" \
        --encoder "$run/rgb_encoder.pt" --out "$run/eval_hmdb51"
    if [[ "$FINETUNE" == 1 ]]; then
        vimix eval finetune configs/eval/ucf101_finetune.yaml data.root="$UCF101_ROOT" \
            data.splits="$UCF101_SPLITS" --encoder "$run/rgb_encoder.pt" --out "$run/eval_ucf101"
    fi
    vimix eval report "$run/eval_ucf101"
    vimix eval report "$run/eval_hmdb51"
}

# Paper (Table 1): linear UCF101 / HMDB51, R@1 UCF101 / HMDB51 (%).
evaluate moco              # MoCo (baseline):   38.2 / 15.3, 29.1 /  9.8
evaluate mixup             # + Mixup:           49.6 / 24.9, 36.2 / 16.2
evaluate temporal_cutmix   # + Temporal cutmix: 41.7 / 17.3, 30.2 / 12.9
evaluate st_cutmix         # + ST cutmix:       19.8 / 14.3, 32.6 / 14.3
evaluate videomix          # + VideoMix:        45.5 / 21.2, 34.5 / 15.2
# Each row's numbers: $RUNS/<row>/eval_{ucf101,hmdb51}/results.md (top-1 of `linear`, R@1 of `retrieval`).
