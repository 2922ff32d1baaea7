#!/usr/bin/env bash
# Every GPU measurement of mae_lab in one call, in under 8 minutes on one modern GPU, so that a short
# GPU rental is enough. Never part of CI (CI has no GPU). Writes logs and JSON to ${1:-runs/gpu_suite}
# and prints one summary at the end; paste it into benchmarks/RESULTS.md with the GPU's name.
#
#   bash benchmarks/gpu_suite.sh                 # everything (about 7 minutes)
#   QUICK=1 bash benchmarks/gpu_suite.sh         # a one-minute check that every step runs
#
# Steps (each under a time limit, so one slow step cannot eat the rest):
#   1. train_step.py     one pretraining step against Hugging Face's and a timm-blocks MAE, MFU (tiny, base)
#   2. model_speed.py    does dropping hidden patches pay off on the GPU (mae_base, bf16)?
#   3. train_throughput.py  images/s in fp32, bf16 and bf16 + torch.compile
#   4. probe_quality.py  pretrain on Fashion-MNIST for a few GPU-minutes, then kNN, linear probe and
#                        fine-tuning against raw pixels and random init (goals: 88 / 89 / 94 %)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/gpu_suite}
mkdir -p "$out"
python=${PYTHON:-python}
if ! $python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA device: this suite measures the GPU (the CPU benchmarks are in benchmarks/README.md)"; exit 1
fi
$python -c "import torch; print('device:', torch.cuda.get_device_name(0), '| torch', torch.__version__)" | tee "$out/device.txt"
quick=${QUICK:-0}
minutes=4; [ "$quick" = 1 ] && minutes=0.3
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "== $name (at most ${limit} s)"
  local start=$(date +%s)
  timeout "$limit" "$@" 2>&1 | tee "$out/$name.log"
  local status=${PIPESTATUS[0]}
  echo "== $name: exit $status after $(( $(date +%s) - start )) s"
}
start=$(date +%s)
step train_step_tiny 60 $python benchmarks/train_step.py --shape tiny --device cuda --compile --markdown
step train_step_base 75 $python benchmarks/train_step.py --shape base --device cuda --markdown
step model_speed 60 $python benchmarks/model_speed.py --device cuda --amp --markdown
step throughput 75 $python benchmarks/train_throughput.py --device cuda --markdown --json "$out/throughput.json"
step probe_quality $(( 60 * minutes + 150 )) $python benchmarks/probe_quality.py --device cuda \
  --minutes "$minutes" --json "$out/probe_quality.json"
echo
echo "== summary ($(( $(date +%s) - start )) s in all), logs in $out"
grep -h -A 12 "^| " "$out"/train_step_*.log "$out"/model_speed.log "$out"/throughput.log 2>/dev/null | head -60
tail -n 6 "$out/probe_quality.log"
