#!/usr/bin/env bash
# DIY-SC on the pretrained ViT-Tiny/16 (ImageNet-supervised, not DINOv2), CPU, end to end; run from the
# repository root with CORRVIZ_WEIGHTS=../shared/weights. Every step skips what already exists.
#   1. the synthetic SPair (train / val / test instances; table held out)    ~3 min
#   2. an SPH sphere mapper on the same backbone (spherical rejection)        ~20 min, 1 thread
#   3. the ablation: label stores (no filter / cycle / cycle + sphere) from the same tuples, one adapter
#      per store (training/configs/diy_sc_vit_tiny_cpu.yaml), all evaluated on the test split; then the same
#      with 800 tuples per category                                                               ~60 min
#   4. the cycle + sphere adapter on the real sets (PF-WILLOW, the SPair subset), before and after
set -euo pipefail
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
DATA=${DATA:-../shared/data}
OUT=results/diy_sc
[ -f results/synth/synthetic_spair.json ] || corrviz-data synthetic-spair results/synth \
    --categories car,airplane,chair,lamp,mug,bottle,quadruped,table --holdout table
[ -f results/runs/sph_tiny/checkpoints/best/model.safetensors ] || corrviz-train sph \
    --config training/configs/sph_vit_tiny_cpu.yaml run.out_dir=results/runs run.name=sph_tiny
LABELS=(--data results/synth --mapper results/runs/sph_tiny --out "$OUT" --backbone vit_tiny_patch16_224
        --resolution 448 --source 5:prenorm --r-max 1 --tuples 100)
corrviz-train diy_sc ablation "${LABELS[@]}"
# the same arms from 8x more tuples (precision is measured on the 100-tuple sample above)
LABELS8=(--data results/synth --mapper results/runs/sph_tiny --out results/diy_sc_t800 --backbone vit_tiny_patch16_224
         --resolution 448 --source 5:prenorm --r-max 1 --tuples 800 --no-measure)
corrviz-train diy_sc ablation "${LABELS8[@]}"
CKPT=results/diy_sc_t800/runs/diy_sc_ablation_cycle_sphere/checkpoints/best/model.safetensors
O=(--backbone vit_tiny_patch16_224 --resolution 448 --matcher soft-argmax --no-plots)
for set in pfwillow spair; do
  root=$DATA/PF-WILLOW; [ "$set" = spair ] && root=$DATA/SPair-71k
  [ -d "results/diy_real/$set-base" ] || corrviz-eval "$set" --data "$root" "${O[@]}" --layer 5 --facet prenorm --out "results/diy_real/$set-base"
  [ -d "results/diy_real/$set-diy" ] || corrviz-eval "$set" --data "$root" "${O[@]}" --checkpoint "$CKPT" --out "results/diy_real/$set-diy"
done
