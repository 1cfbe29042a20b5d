#!/usr/bin/env bash
# Several nodes: run this same line on every node. c10d rendezvous on HEAD_NODE:PORT (any node's
# address reachable from all), up to MAX_RESTARTS restarts of the whole group after a failure; on a
# restart every process resumes from OUT_DIR/checkpoint.pt, so OUT_DIR must be on a file system
# shared by all nodes. NODES may be a range MIN:MAX for an elastic job.
# Usage: NODES=2 GPUS=4 HEAD_NODE=node01 bash scripts/launch/torchrun_multi_node.sh [key=value ...]
set -euo pipefail

NODES="${NODES:-2}"
GPUS="${GPUS:-4}"
HEAD_NODE="${HEAD_NODE:-node01}"
PORT="${PORT:-29500}"
JOB_ID="${JOB_ID:-vimix}"                     # the same on every node of one job
MAX_RESTARTS="${MAX_RESTARTS:-3}"
CONFIG="${CONFIG:-configs/pretrain/vimix_k400.yaml}"
OUT_DIR="${OUT_DIR:-runs/vimix_k400}"        # shared file system

torchrun --nnodes="$NODES" --nproc-per-node="$GPUS" \
    --rdzv-backend=c10d --rdzv-endpoint="$HEAD_NODE:$PORT" --rdzv-id="$JOB_ID" \
    --max-restarts="$MAX_RESTARTS" \
    -m vimix_ssl pretrain "$CONFIG" out_dir="$OUT_DIR" "$@"
