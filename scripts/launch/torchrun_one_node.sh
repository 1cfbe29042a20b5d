#!/usr/bin/env bash
# One node, several GPUs: one process per GPU with torchrun's standalone rendezvous.
# data.batch_size is per process, so the global batch is GPUS x data.batch_size; every MoCo queue
# size must be a multiple of it (the run refuses to start otherwise and names both numbers).
# Rerunning the same line continues from OUT_DIR/checkpoint.pt (resume=auto).
# Usage: GPUS=4 bash scripts/launch/torchrun_one_node.sh [key=value ...]
#        (the template is for `vimix pretrain`; `vimix train` does not join a process group yet)
set -euo pipefail

GPUS="${GPUS:-4}"
CONFIG="${CONFIG:-configs/pretrain/vimix_ucf101.yaml}"
OUT_DIR="${OUT_DIR:-runs/vimix_ucf101}"

torchrun --standalone --nnodes=1 --nproc-per-node="$GPUS" \
    -m vimix_ssl pretrain "$CONFIG" out_dir="$OUT_DIR" "$@"
