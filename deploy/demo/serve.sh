#!/usr/bin/env bash
# Serve the demo base model and its three LoRA adapters from one vLLM on CPU.
# Usage: deploy/demo/serve.sh [PORT]   (PYTHON: the vLLM virtualenv's python, default .venv-vllm)
set -euo pipefail
cd "$(dirname "$0")"
PORT="${1:-8000}"
PYTHON="${PYTHON:-$(cd ../.. && pwd)/.venv-vllm/bin/python}"
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
exec "$PYTHON" -m vllm.entrypoints.openai.api_server \
  --model models/base --served-model-name demo-base \
  --dtype float32 --max-model-len 512 \
  --enable-lora --max-lora-rank 8 --max-loras 3 \
  --lora-modules demo-medical=models/adapters/medical demo-legal=models/adapters/legal \
  demo-control=models/adapters/control \
  --host 127.0.0.1 --port "$PORT"
