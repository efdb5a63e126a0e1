#!/usr/bin/env bash
# The GPU figures of docs/results.md in one run of under 8 minutes, for a GPU lent for a short
# while (from the repository root, with condet installed):
#   1. one detector alone: training and inference images/s at 320 and 640 px, bf16 autocast,
#      channels_last, against torchvision's fasterrcnn_mobilenet_v3_large_320_fpn
#      (benchmarks/detect.py --device cuda);
#   2. SimCLR pretraining images/s of EfficientNet-Lite0 and ResNet-50 at 224 px, bf16
#      (benchmarks/pretrain.py, condet's step against the bare backbone's);
#   3. N detect-train runs side by side on the one GPU, N = 1, 4, 8, without and then with
#      CUDA MPS (which lets the processes' kernels run at once instead of taking turns):
#      optimizer steps per second of all of them together.
# Data: $DATA (a VOC / COCO / YOLO data set), else $CONDET_SHARED_DATA/bccd/BCCD, else a
# synthetic set made here. Output: everything on stdout, and the side-by-side runs' folders in
# $OUT (default runs/gpu).
#
#   bash benchmarks/gpu.sh 2>&1 | tee gpu.log
#   DEVICE=cpu ACCELERATOR=cpu bash benchmarks/gpu.sh   # the same steps on a CPU, to check it
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT="${OUT:-runs/gpu}"
DEVICE="${DEVICE:-cuda}"
ACCELERATOR="${ACCELERATOR:-gpu}"
mkdir -p "$OUT"
if [ -z "${DATA:-}" ]; then
    if [ -n "${CONDET_SHARED_DATA:-}" ] && [ -d "$CONDET_SHARED_DATA/bccd/BCCD" ]; then
        DATA="$CONDET_SHARED_DATA/bccd/BCCD"
    else
        DATA="$OUT/synthetic"
        condet data synth "$DATA" --images 200 --seed 0 > /dev/null
    fi
fi
echo "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'bf16', torch.cuda.is_bf16_supported())"
echo "data: $DATA"

echo "== 1. one detector alone (batch 8, bf16, channels_last)"
for size in "320 427" "640 853"; do
    set -- $size
    timeout 150 python benchmarks/detect.py --device "$DEVICE" --data "$DATA" --split train \
        --min-size "$1" --max-size "$2" --batch-size 8 --steps 20 --warmup 5 --repeats 3 \
        --profile-steps 0 --bf16 --channels-last | sed -n '/^| run |/,/^$/p'
done

echo "== 2. SimCLR pretraining, 224 px, bf16"
for backbone in efficientnet_lite0 resnet50; do
    timeout 90 python benchmarks/pretrain.py --device "$DEVICE" --data "$DATA" \
        --backbone "$backbone" --image-size 224 --batch-size 128 --steps 20 --repeats 2 \
        --precision bf16-mixed --no-lightly | tail -n 6
done

side_by_side() {  # $1 runs at once; prints their optimizer steps per second together
    local count=$1 label=$2 pids=()
    for index in $(seq "$count"); do
        condet detect-train --data "$DATA" --split train --test-split test --accelerator "$ACCELERATOR" \
            --recipe gpu --min-size 320 --max-size 427 --batch-size 4 --epochs 100 \
            --max-steps 60 --eval-every 0 --no-progress --checkpoint-every 1000 --seed "$index" \
            --out "$OUT/$label-$count-$index" > "$OUT/$label-$count-$index.log" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"
    python - "$OUT" "$label-$count" "$count" <<'EOF'
import csv, sys
from pathlib import Path
out, prefix, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rates = []
for index in range(1, count + 1):
    rows = list(csv.DictReader((out / f"{prefix}-{index}" / "logs" / "metrics.csv").open()))
    timed = [(float(r["step"]), float(r["time/wall_s"])) for r in rows if r.get("time/wall_s")]
    (first_step, first_s), (last_step, last_s) = timed[0], timed[-1]
    rates.append((last_step - first_step) / (last_s - first_s))
print(f"{prefix}: {count} runs, {sum(rates):.1f} steps/s together "
      f"({', '.join(f'{rate:.1f}' for rate in rates)} each)")
EOF
}

echo "== 3. detectors side by side (60 steps each, batch 4, 320 px, gpu recipe sizes)"
for count in 1 4 8; do
    timeout 100 bash -c "$(declare -f side_by_side); DATA='$DATA' OUT='$OUT' \
        ACCELERATOR='$ACCELERATOR' side_by_side $count no-mps" || echo "no-mps-$count: timed out"
done
if command -v nvidia-cuda-mps-control > /dev/null; then
    export CUDA_MPS_PIPE_DIRECTORY="$OUT/mps-pipe" CUDA_MPS_LOG_DIRECTORY="$OUT/mps-log"
    mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
    nvidia-cuda-mps-control -d
    for count in 1 4 8; do
        timeout 100 bash -c "$(declare -f side_by_side); DATA='$DATA' OUT='$OUT' \
            ACCELERATOR='$ACCELERATOR' side_by_side $count mps" || echo "mps-$count: timed out"
    done
    echo quit | nvidia-cuda-mps-control
else
    echo "nvidia-cuda-mps-control not found: no MPS figures"
fi
