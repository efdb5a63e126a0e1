#!/usr/bin/env bash
# Issue 5: Faster R-CNN (ResNet-18 FPN) on BCCD and Aquarium with 100% and ~10% of the training
# labels, from a random backbone, a SimCLR backbone pretrained on the data set's own images
# (labels unused) and one pretrained on Imagenette (experiments/ssl_imagenette.sh). Every run has
# the same budget of about 300 optimizer steps, sized for 2 CPU cores: images at 320 px (short
# side), pyramid from stride 8, 128 FPN channels, 300 proposals. Results: docs/results.md.
set -euo pipefail
shared="${CONDET_SHARED_DATA:-../shared/data}"
out="${OUT:-runs/exp}"
datasets="${DATASETS:-bccd aquarium}"
detector=(--backbone resnet18 --min-size 320 --max-size 427 --smallest-stride 8
          --fpn-channels 128 --proposals 300 --roi-samples 256 --batch-size 4 --lr 0.02
          --warmup-steps 50 --checkpoint-every 100 --no-progress)

for name in $datasets; do
    case "$name" in
        bccd) data="$shared/bccd/BCCD"; train=train; test=test; unlabelled=(--split trainval) ;;
        aquarium) data="$shared/aquarium/data.yaml"; train=train; test=test; unlabelled=(--split train) ;;
    esac
    ssl="$out/simclr-$name-r18"
    if [ ! -f "$ssl/backbone.safetensors" ]; then
        condet pretrain --data "$data" "${unlabelled[@]}" --backbone resnet18 --image-size 128 \
            --batch-size 64 --epochs 60 --lr 0.12 --checkpoint-every 100 --no-progress --out "$ssl"
    fi
    images=$(condet data check "$data" --split "$train" | awk '$1 == "'"$train"'" {print $2}' || true)
    for fraction in 1.0 0.1; do
        steps_per_epoch=$(python3 -c "print(max(1, round($images * $fraction) // 4))")
        epochs=$(python3 -c "import math; print(math.ceil(300 / $steps_per_epoch))")
        for init in random "$ssl" "$out/simclr-imagenette-r18"; do
            label=$(basename "$init")
            run="$out/det-$name-$fraction-$label"
            [ -f "$run/metrics.json" ] && continue
            condet detect-train --data "$data" --split "$train" --test-split "$test" \
                --weights "$init" --label-fraction "$fraction" --epochs "$epochs" \
                "${detector[@]}" --out "$run"
        done
    done
done
