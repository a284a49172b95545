# The two commands of the README: `make run` and `make test`. Both set everything up first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test bench soak lint setup-run setup-test setup-bench clean

setup-run:
	@deploy/bootstrap.sh run

setup-test:
	@deploy/bootstrap.sh test

setup-bench:
	@deploy/bootstrap.sh bench

## Run the service: gate + web on http://127.0.0.1:8000 (a simulated chamber without Wi-Fi).
run: setup-run
	$(VENV)/bin/chamberguard $(if $(CONFIG),--config $(CONFIG)) run

## Check the import contracts (pyproject.toml [tool.importlinter]), then run the whole test
## suite (netns tests need root; they skip with the reason otherwise).
test: setup-test
	$(VENV)/bin/lint-imports
	CG_REQUIRE_ACCEL=1 $(PY) -m pytest $(PYTEST_ARGS)

## Benchmarks: each figure is printed beside a baseline measured in the same run.
bench: setup-bench
	@for b in tests/bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: setup-test
	$(VENV)/bin/ruff check allowlist monitor api dashboard tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

## A simulated week of a gate never restarted (not part of `make test`): enforcement edges,
## events lost, RSS and open file descriptors.
soak: setup-test
	$(PY) -m tests.soak.week
