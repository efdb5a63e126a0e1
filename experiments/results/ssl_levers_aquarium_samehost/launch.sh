#!/usr/bin/env bash
# The ImageNet and ImageNet + SimCLR starts of ssl_levers_aquarium again, on the host that ran the levers.
cd /work/levers
export CONDET_SHARED_DATA=/work/shared/data OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT=/work/levers-out/samehost/ssl_levers_aquarium
chain() {
  for seed in 0 1 2; do
    .venv/bin/condet experiment configs/experiments/ssl_levers_aquarium.yaml --data /work/shared/data/aquarium/data.yaml \
      --out $OUT --only detect-$1-10-s$seed > /work/levers-out/samehost/$1-s$seed.log 2>&1
    echo "$(date +%T) finished detect-$1-10-s$seed rc=$?"
  done
}
chain imagenet & chain imagenet-simclr & wait
