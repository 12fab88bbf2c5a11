#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine, start to end on the default device:
# install what is missing, build, check the device, make a small NEURON dataset,
# train a reduced NOBLE on it for a few minutes, evaluate it on held-out models,
# then, with the pretrained checkpoint kept in the repository (models/pretrained/,
# docs/results.md says how it was made), evaluate on this dataset's neurons, make a
# synthetic population and a variability report. Prints where everything is.
#
# Environment: QUICKSTART_TRAIN_S (training time limit, default 150 s),
# NOBLE_DEVICE (which device; default: the best there is).
set -euo pipefail
cd "$(dirname "$0")"

t_start=$(date +%s)
stage() { printf '\n== %s (%d s)\n' "$1" $(( $(date +%s) - t_start )); }
die() { echo "quickstart: $*" >&2; exit 1; }

stage "packages"
./install-deps.sh

stage "build"
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > build.log 2>&1 ||
  { cat build.log; die "cmake configure failed (log above)"; }
cmake --build build -j "$jobs" >> build.log 2>&1 ||
  { tail -50 build.log; die "build failed (log: build.log)"; }
noble=./build/scripting/noble
echo "built $noble"

stage "device"
$noble devices
$noble selfcheck || die "the self-check failed on the default device"

out=runs/quickstart
data=data/quickstart.h5
pretrained=models/pretrained/pvalb-noble.h5
mkdir -p "$out" data

stage "NEURON ground truth: 12 PVALB-like models (seed 2), $data"
if [ -s "$data" ]; then
  echo "kept $data (delete it to make it again)"
else
  $noble datagen --models 12 --amplitudes -110,-30,30,90,150,210,270 --threshold-offsets 0,20 \
    --test 2 --validation 1 --seed 2 --out "$data" || die "noble datagen failed"
fi

stage "training a reduced NOBLE for ${QUICKSTART_TRAIN_S:-150} s on the default device"
$noble train --dataset "$data" --out "$out/train" --resume false --width 8 --blocks 2 --modes 32 \
  --lifting-channels 16 --projection-channels 32 --mlp-channels 4 --stride 4 --batch 16 --epochs 200 \
  --time-limit-s "${QUICKSTART_TRAIN_S:-150}" || die "noble train failed"

stage "evaluating it on the held-out models"
$noble eval --checkpoint "$out/train/best.h5" --out "$out/train-eval" || die "noble eval failed"

[ -s "$pretrained" ] || die "$pretrained is missing (it is kept in the repository; see docs/results.md)"

stage "the pretrained checkpoint on this dataset's neurons (none of them seen in training)"
$noble eval --checkpoint "$pretrained" --dataset "$data" --out "$out/pretrained-eval" ||
  die "noble eval of the pretrained checkpoint failed"

stage "a synthetic population: 200 neurons in the training hull x 4 steps"
$noble population --checkpoint "$pretrained" --dataset "$data" --sample 200 --stimuli -110,50,150,270 \
  --out "$out/population.h5" || die "noble population failed"

stage "variability at 150 pA against NEURON"
$noble variability --checkpoint "$pretrained" --dataset "$data" --amplitude 150 --out "$out/variability" ||
  die "noble variability failed"

stage "done"
cat <<EOF
reports and plots:
  $out/train/log.jsonl                          training log (one line per epoch)
  $out/train-eval/report.json, *.png            the model trained here, on held-out models
  $out/pretrained-eval/report.json, *.png       the pretrained model on this dataset (traces.png, fi.png, errors.png)
  $out/population.h5, $out/population.json      200 synthetic neurons: features, plausibility checks
  $out/variability/variability.json, .png       noble's and NEURON's spread at 150 pA
wall time: $(( $(date +%s) - t_start )) s
EOF
