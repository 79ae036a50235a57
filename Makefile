# DiTKit. `make demo` and `make test` are the two commands a fresh clone needs.
SHELL := /bin/bash
SWIFT ?= swift
BOOTSTRAP_STAMP := .deps/torch-prefix

.PHONY: deps build release demo test bench fixtures clean

$(BOOTSTRAP_STAMP): scripts/bootstrap.sh
	@bash scripts/bootstrap.sh

deps: $(BOOTSTRAP_STAMP)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Until the trainer lands, the demo is the engine's smoke run: a small MLP trained from Swift.
demo: release
	.build/release/dit info
	.build/release/dit demo

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

# Swift vs PyTorch on the same DiT training step, alternating in one run; the last line is the speedup.
bench: release
	"$$(cat .deps/python)" benchmarks/bench_dit_step.py --swift .build/release/dit-bench

# Regenerates Tests/Fixtures with the pinned Python packages (offline once installed).
fixtures: deps
	"$$(cat .deps/python)" -m pip install -q -r python/requirements-fixtures.txt
	"$$(cat .deps/python)" python/make_fixtures.py

clean:
	rm -rf .build
