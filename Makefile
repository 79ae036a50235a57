# DiTKit. `make demo` and `make test` are the two commands a fresh clone needs.
SHELL := /bin/bash
# Package.swift decides from the torch it finds (.deps/torch-prefix, TORCH_PREFIX) whether CUDA and NCCL are linked;
# SwiftPM's shared manifest cache is not keyed by that, so a switched torch would keep the old answer.
SWIFT ?= swift
SWIFTPM := --manifest-cache none

.PHONY: deps pyenv build release demo smoke test lab-check bench bench-ddp fuzz torture gpu-rehearsal fixtures clean

# Always asked: bootstrap's fast path returns at once when the recorded torch is still there.
deps:
	@bash scripts/bootstrap.sh

build: deps
	$(SWIFT) build $(SWIFTPM) $(LAYERS)

release: deps
	$(SWIFT) build $(SWIFTPM) -c release

# The course's first run, on a laptop CPU: built-in shapes data -> cache -> train the tiny DiT -> sample -> score.
DIT := .build/release/dit
DEMO_HOLDOUT := --holdout "red circle" --holdout "blue square"
demo: release
	@$(DIT) info
	@bash scripts/demo.sh

# The engine's smoke test: a small MLP trained from Swift (`make demo` is the course's shapes demo).
smoke: release
	$(DIT) smoke

# Reference Python packages for parity tests (pinned in python/requirements-test.txt).
pyenv: deps
	@bash scripts/python-env.sh

# The layer check: a target that imports a target it does not declare (a lower layer reaching up) fails the build.
LAYERS := --explicit-target-dependency-import-check error

test: deps pyenv
	$(SWIFT) build $(SWIFTPM) --build-tests $(LAYERS)
	$(SWIFT) test $(SWIFTPM) --skip-build --no-parallel

# dit lab in headless Chromium and over HTTP (traversal, a 10 MB request, 20 generations at once) alone; `make test`
# runs the same checks. Installs the browser first (scripts/browser-deps.sh, Debian).
lab-check: deps pyenv
	@bash scripts/browser-deps.sh
	$(SWIFT) build $(SWIFTPM) --build-tests $(LAYERS)
	$(SWIFT) test $(SWIFTPM) --skip-build --filter LabTests

# Swift vs PyTorch (diffusers' DiTTransformer2DModel), eager and torch.compile, on the same DiT training step,
# alternating in one run; the last two lines are the speedups.
bench: release pyenv
	"$$(cat .deps/test-python)" benchmarks/bench_dit_step.py --swift .build/release/dit-bench

# Data-parallel scaling on CPU: DiTKit's c10d training with BENCH_NPROC workers vs one process, and PyTorch's
# DistributedDataParallel the same way, alternating in one run; the last line is the DDP speedup.
BENCH_NPROC ?= 2
bench-ddp: release pyenv
	"$$(cat .deps/test-python)" benchmarks/bench_ddp.py --swift .build/release/dit-bench --nproc $(BENCH_NPROC)

# Every parser a user file reaches, FUZZ_INPUTS seeded mutations each (Tests/FuzzTargets). A crash or hang leaves
# the input as .build/fuzz/<target>.current: fix the parser, then commit the input under Tests/Fixtures/fuzz/<target>/
# (`make test` replays every input there).
FUZZ_INPUTS ?= 10000
FUZZ_SEED ?= 1
fuzz: deps
	$(SWIFT) build $(SWIFTPM) --product dit-fuzz
	@.build/debug/dit-fuzz --inputs $(FUZZ_INPUTS) --seed $(FUZZ_SEED) --out .build/fuzz || { status=$$?; \
	  echo "dit-fuzz failed (status $$status); the input that did it:"; ls .build/fuzz/*.current; exit 1; }

# Kill-and-resume: train (1 and 2 processes), prepare (1 and 2) and export are SIGKILLed at random moments, some
# inside checkpoint writes, and restarted until done; every resume must take the newest complete checkpoint and the
# end must equal an uninterrupted run's bytes (scripts/torture.py). TORTURE_RUNS trials per mode.
TORTURE_RUNS ?= 10
torture: release pyenv
	"$$(cat .deps/test-python)" scripts/torture.py --dit .build/release/dit --runs $(TORTURE_RUNS)

# benchmarks/gpu_check.sh rehearsed on this CPU (tiny sizes, a virtual environment with only the GPU machine's Python
# packages, the carried folder as scripts/gpu-carry.sh makes it): the last lines are the carry size and stage times.
gpu-rehearsal: release pyenv
	@bash scripts/gpu-rehearsal.sh

# Regenerates Tests/Fixtures with the pinned Python packages (offline once installed).
fixtures: deps pyenv
	"$$(cat .deps/test-python)" -m pip install -q -r python/requirements-fixtures.txt
	for script in python/make_*fixtures.py; do "$$(cat .deps/test-python)" "$$script" || exit 1; done

clean:
	rm -rf .build
