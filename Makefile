# Two commands on a fresh machine: `make demo` (set up + main job) and `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The CPU build of torch (this pin takes a local CPU wheel on the project machines; never the CUDA build in CI).
TORCH_SPEC ?= torch==2.13.0

# The full Fashion-MNIST (60k/10k) from Debian's package, unpacked without root or installing.
DATA_DIR ?= $(if $(XDG_DATA_HOME),$(XDG_DATA_HOME),$(HOME)/.local/share)/designspace

.PHONY: setup demo test test-fast test-cluster lint bench clean data

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[dev]'
	# pycls, the exports' oracle in the tests (its own complexity of an exported config); --no-deps: its
	# opencv-python is for data loading, which the tests do not use (yacs comes with fvcore)
	$(PY) -m pip install -q --no-deps "pycls==0.1.1"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) -m designspace.describe model=RegNetY-800MF
	$(PY) -m designspace.sample space=anynetx_c n=500 overwrite=true progress=false

# Both on two processes (pytest-xdist; the machines have 2 cores): each test's torch uses the threads left free.
test: setup
	$(PY) -m ruff check designspace models tests experiments
	$(PY) -m pytest -q -m "not cluster" -n 2 --durations=10

# The fast loop: everything but the tests marked `slow` (trainings of more than a few seconds) and the cluster.
test-fast: setup
	$(PY) -m pytest -q -m "not cluster and not slow" -n 2

# Sweeps on real engines (tests/cluster, marker `cluster`, ~11 min): the `cluster` extras (Ray, the Hydra Ray
# launcher), then the tests, which start a one-node SLURM cluster (.ci/cluster/slurm-up.sh: apt-get, root) and a
# local Ray head on 127.0.0.1, and stop both at the end.
CLUSTER_STAMP := $(VENV)/.cluster-installed
$(CLUSTER_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[dev,cluster]'
	touch $(CLUSTER_STAMP)

test-cluster: $(CLUSTER_STAMP)
	$(PY) -m pytest -q -m cluster tests/cluster --durations=0

lint: setup
	$(PY) -m ruff check designspace models tests experiments

bench: setup
	$(PY) experiments/bench_complexity.py
	$(PY) experiments/bench_sampler.py
	$(PY) experiments/bench_analysis.py
	$(PY) experiments/bench_analysis.py --report --repeats 1
	$(PY) experiments/bench_model_overhead.py
	$(PY) experiments/bench_pack.py
	$(PY) experiments/bench_pack.py --workload folder --ks 1,4,8

data: $(DATA_DIR)/fashion_mnist/train-images-idx3-ubyte.gz

$(DATA_DIR)/fashion_mnist/train-images-idx3-ubyte.gz:
	rm -rf $(DATA_DIR)/.deb && mkdir -p $(DATA_DIR)/.deb $(DATA_DIR)/fashion_mnist
	cd $(DATA_DIR)/.deb && apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-mnist_*.deb x
	cp $(DATA_DIR)/.deb/x/usr/share/datasets/fashion-mnist/*.gz $(DATA_DIR)/fashion_mnist/
	rm -rf $(DATA_DIR)/.deb
	@echo "Fashion-MNIST (full) in $(DATA_DIR)/fashion_mnist"

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
