#!/usr/bin/env bash
# ssl_levers_aquarium, JOBS runs at a time: the pretrains, then every detector, seed 0 of every
# row first, so that a run cut short still has whole seeds. Each run is a `condet experiment
# --only` process of one thread into one folder; started again, the protocol keeps what
# finished. Then one more process writes the tables and report.html of every finished run.
# Run it from a worktree with its own install, so that editing the code cannot change a run
# half-way (docs/results.md says how it was run).
#
#   JOBS=2 bash experiments/ssl_levers_aquarium.sh          # 2 CPU cores: about 6 hours
#   JOBS=8 DATA=.../aquarium/data.yaml bash experiments/ssl_levers_aquarium.sh   # one GPU
#   SMOKE=1 JOBS=2 bash experiments/ssl_levers_aquarium.sh  # a few steps of each, to check it
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
# the longest first, so that the last to finish is a short one
pretrains=(imagenet-simclr-long imagenet-simclr-160 imagenet-simclr imagenet-simclr-lr001
           imagenet-simclr-crops)
# the levers of continued SimCLR first, then BatchNorm trained in the detector
detectors=(detect-imagenet-10 detect-imagenet-simclr-10 detect-imagenet-simclr-long-10
           detect-imagenet-simclr-160-10 detect-imagenet-simclr-crops-10
           detect-imagenet-simclr-lr001-10 detect-imagenet-bn-10 detect-imagenet-simclr-bn-10)

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

mkdir -p "$OUT_DIR/logs"
printf '%s\n' "${pretrains[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
for seed in "${seeds[@]}"; do
    printf "%s-s$seed\n" "${detectors[@]}"
done | xargs -P "$jobs" -I{} bash -c 'run_one {}'
# every run is finished now, so this keeps them all and writes the tables and report.html
$CONDET experiment "$PROTOCOL" --data "$DATA" --out "$OUT_DIR" --only "${pretrains[0]}" $SMOKE
