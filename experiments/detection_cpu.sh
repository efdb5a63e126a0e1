#!/usr/bin/env bash
# Issue 5: Faster R-CNN (ResNet-18 FPN) on BCCD and Aquarium with 100% and ~10% of the training
# labels, from a random backbone, from a SimCLR backbone pretrained on the data set's own
# training images (labels unused) and, when experiments/ssl_imagenette.sh has run, from the
# Imagenette SimCLR backbone. Every run has the same budget of STEPS optimizer steps (default
# 200), sized for 2 CPU cores: images at 320 px (short side), pyramid from stride 8, 128 FPN
# channels, 300 proposals. SimCLR: ResNet-18 on SSL_SIZE px views (default 96), batch 64,
# about SSL_STEPS steps (default 200). Results: docs/results.md.
set -euo pipefail
shared="${CONDET_SHARED_DATA:-../shared/data}"
out="${OUT:-runs/exp}"
datasets="${DATASETS:-bccd aquarium}"
steps="${STEPS:-200}"
ssl_steps="${SSL_STEPS:-200}"
ssl_size="${SSL_SIZE:-96}"
detector=(--backbone resnet18 --min-size 320 --max-size 427 --smallest-stride 8
          --fpn-channels 128 --proposals 300 --roi-samples 256 --batch-size 4 --lr 0.02
          --warmup-steps 50 --checkpoint-every 100 --no-progress)

for name in $datasets; do
    case "$name" in
        bccd) data="$shared/bccd/BCCD" ;;
        aquarium) data="$shared/aquarium/data.yaml" ;;
    esac
    images=$(condet data check "$data" --split train | awk '$1 == "train" {print $2}' || true)
    ssl="$out/simclr-$name-r18"
    if [ ! -f "$ssl/backbone.safetensors" ]; then
        ssl_epochs=$(python3 -c "import math; print(math.ceil($ssl_steps / ($images // 64)))")
        condet pretrain --data "$data" --split train --backbone resnet18 --image-size "$ssl_size" \
            --batch-size 64 --epochs "$ssl_epochs" --lr 0.12 --checkpoint-every 100 \
            --no-progress --out "$ssl"
    fi
    inits=(random "$ssl")
    [ -f "$out/simclr-imagenette-r18/backbone.safetensors" ] && inits+=("$out/simclr-imagenette-r18")
    for fraction in 1.0 0.1; do
        steps_per_epoch=$(python3 -c "print(max(1, round($images * $fraction) // 4))")
        epochs=$(python3 -c "import math; print(math.ceil($steps / $steps_per_epoch))")
        for init in "${inits[@]}"; do
            run="$out/det-$name-$fraction-$(basename "$init")"
            [ -f "$run/metrics.json" ] && continue
            condet detect-train --data "$data" --split train --test-split test \
                --weights "$init" --label-fraction "$fraction" --epochs "$epochs" \
                --max-steps "$steps" "${detector[@]}" --out "$run"
        done
    done
done
