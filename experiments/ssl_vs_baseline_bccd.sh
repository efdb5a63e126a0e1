#!/usr/bin/env bash
# ssl_vs_baseline_bccd on 2 CPU cores: two `condet experiment --only` processes with disjoint
# runs, one thread each, into one folder; started again, each keeps its finished runs and
# resumes the interrupted one. Then `--only gradcam` (which needs runs of both lists) writes
# the Grad-CAM figure and the whole tables and report.html. Run it from a worktree with its own install, so
# that editing the code cannot change a run half-way (docs/results.md says how it was run).
set -euo pipefail
export CONDET_SHARED_DATA="${CONDET_SHARED_DATA:-../shared/data}" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
protocol=configs/experiments/ssl_vs_baseline_bccd.yaml
out=runs/ssl_vs_baseline_bccd
first=(simclr-imagenette simclr features-imagenette-simclr-imagenette features-imagenette-simclr
       features-bccd-simclr detect-imagenet-simclr-10 detect-simclr-10 detect-imagenet-simclr-100
       detect-simclr-100 imagenet-simclr-lr001 imagenet-simclr-crops detect-imagenet-simclr-lr001-10
       detect-imagenet-simclr-crops-10)
second=(imagenet-simclr features-imagenette-random features-imagenette-imagenet
        features-imagenette-imagenet-simclr features-bccd-random features-bccd-imagenet
        features-bccd-imagenet-simclr detect-imagenet-10 detect-random-10 detect-imagenet-100
        detect-random-100 imagenet-simclr-160 imagenet-simclr-long detect-imagenet-simclr-160-10
        detect-imagenet-simclr-long-10 detect-imagenet-bn-10 detect-imagenet-simclr-bn-10)
mkdir -p "$out"
condet experiment "$protocol" --out "$out" --only "${first[@]}" >> "$out/first.log" 2>&1 &
condet experiment "$protocol" --out "$out" --only "${second[@]}" >> "$out/second.log" 2>&1 &
wait
condet experiment "$protocol" --out "$out" --only gradcam
