#!/usr/bin/env bash
# ssl_levers_aquarium on one GPU: the five pretrains side by side with the detectors that need
# none of them, then the other detectors JOBS at a time, seed 0 of every row first, so that a
# run cut short still has whole seeds. Each run is a `condet experiment --only` process of one
# thread into one folder; started again, the protocol keeps what finished. Then one more
# process writes the tables and report.html of every finished run.
#
#   JOBS=8 DATA=../shared/data/aquarium/data.yaml bash experiments/ssl_levers_aquarium.sh
#   SMOKE=1 JOBS=2 bash experiments/ssl_levers_aquarium.sh    # a few steps of each, to check it
set -euo pipefail
export PROTOCOL=configs/experiments/ssl_levers_aquarium.yaml
export DATA="${DATA:-${CONDET_SHARED_DATA:-../shared/data}/aquarium/data.yaml}"
export OUT_DIR="${OUT_DIR:-runs/ssl_levers_aquarium}"
export CONDET="${CONDET:-condet}"
export SMOKE="${SMOKE:+--smoke}"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
jobs="${JOBS:-8}"
seeds=(0 1 2)
[ -z "$SMOKE" ] || seeds=(0)  # a smoke run has one seed
pretrains=(imagenet-simclr imagenet-simclr-lr001 imagenet-simclr-crops imagenet-simclr-160
           imagenet-simclr-long)
from_imagenet=(detect-imagenet-10 detect-imagenet-bn-10)
from_pretrains=(detect-imagenet-simclr-10 detect-imagenet-simclr-lr001-10
                detect-imagenet-simclr-crops-10 detect-imagenet-simclr-160-10
                detect-imagenet-simclr-long-10 detect-imagenet-simclr-bn-10)

run_one() {
    if $CONDET experiment "$PROTOCOL" --data "$DATA" --out "$OUT_DIR" --only "$1" $SMOKE \
        > "$OUT_DIR/logs/$1.log" 2>&1; then
        echo "$(date -u +%T) finished $1"
    else
        echo "$(date -u +%T) FAILED $1 (see $OUT_DIR/logs/$1.log)"
        return 1
    fi
}
export -f run_one
by_seed() {
    for seed in "${seeds[@]}"; do printf "%s-s$seed\n" "$@"; done
}

mkdir -p "$OUT_DIR/logs"
first=("${pretrains[@]}" $(by_seed "${from_imagenet[@]}"))
printf '%s\n' "${first[@]}" | xargs -P "${#first[@]}" -I{} bash -c 'run_one {}'
by_seed "${from_pretrains[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
# every run is finished now, so this keeps them all and writes the tables and report.html
$CONDET experiment "$PROTOCOL" --data "$DATA" --out "$OUT_DIR" --only "${pretrains[0]}" $SMOKE
