#!/usr/bin/env bash
# The four VGGT-SC CPU stages on the pretrained ViT-Tiny/16, in order (each starts from the previous
# stage's best checkpoint; run folders under results/runs). Run from the repository root:
#   CORRVIZ_WEIGHTS=../shared/weights bash scripts/run_vggt_sc_tiny.sh
set -euo pipefail
export HF_HUB_OFFLINE=1
for s in 1 2 3 4; do
  corrviz-train vggt_sc --config "training/configs/vggt_sc_tiny_stage$s.yaml" "$@"
done
