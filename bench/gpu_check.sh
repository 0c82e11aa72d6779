#!/bin/bash
# The GPU path in under five minutes, on a machine with an NVIDIA GPU (README, "Scaling out"):
# BERT-base-sized full fine-tuning and LoRA in bf16 (fp16 where bf16 is missing): samples/s, peak memory,
# MFU, and whether mixed precision took effect; then, with two GPUs or more, the same run config on one GPU
# and through torchrun on two (DDP) on a small demo run. Exit code 1 when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PY -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'GPUs', torch.cuda.device_count())"
$PY -m bench.gpu_check --device cuda --steps 60 --out bench/results/gpu_check.json
GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -ge 2 ]; then
  export TRANSFERLAB_HOME=$(mktemp -d)
  FLAGS="--data data/spam_emails.csv --model minilm --strategy full --epochs 1 --batch-size 32"
  $PY -m engine.train $FLAGS --out "$TRANSFERLAB_HOME/one-gpu"
  $PY -m engine.train $FLAGS --devices 2 --out "$TRANSFERLAB_HOME/two-gpus"
  $PY -c "
import json, sys
a, b = (json.load(open(f'$TRANSFERLAB_HOME/{r}/metrics.json')) for r in ('one-gpu', 'two-gpus'))
for name, m in (('1 GPU', a), ('2 GPUs (DDP)', b)):
    print(f\"{name}: accuracy {m['accuracy']:.4f}, {m['train_seconds']:.1f} s, {m['train_samples_per_second']:.1f} samples/s, {m['device']}\")
sys.exit(0 if abs(a['accuracy'] - b['accuracy']) < 0.02 else 1)"
fi
