# shoal — the four contracts: setup, run, test, bench (see ARCHITECTURE.md).
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: setup run test lint bench clean

setup:
	@bash scripts/setup.sh

run: setup
	$(VENV)/bin/shoal server $(ARGS)

lint: setup
	$(VENV)/bin/ruff check shoal tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(VENV)/bin/pytest -q -p no:cacheprovider $(ARGS)

# every benchmark, one after the other (figures in bench/results/, summarised in docs/benchmarks.md);
# ARGS=--quick gives a smoke run of each
bench: setup
	$(PY) bench/run.py $(ARGS)
	$(PY) bench/scheduler_bench.py $(ARGS)
	$(PY) bench/controllers_bench.py $(ARGS)
	$(PY) bench/agent_bench.py $(ARGS)
	$(PY) bench/network_bench.py $(ARGS)
	$(PY) bench/overlay_bench.py $(ARGS)
	$(PY) bench/netpol_bench.py $(ARGS)
	$(PY) bench/volumes_bench.py $(ARGS)
	$(PY) bench/crd_bench.py $(ARGS)
	$(PY) bench/apply_bench.py
	$(PY) bench/statefulset_bench.py
	$(PY) bench/swarm_bench.py
	$(PY) bench/ecs_bench.py
	$(PY) bench/rbac_bench.py $(ARGS)
	$(PY) bench/ingress_bench.py $(ARGS)
	$(PY) bench/ingress_config_bench.py
	$(PY) bench/marathon_bench.py
	$(PY) bench/etcd_write_bench.py $(ARGS)
	$(PY) bench/etcd_client_micro.py
	$(PY) bench/ui_bench.py $(ARGS)
	$(PY) bench/ha_bench.py $(ARGS)
	$(PY) bench/audit_bench.py
	$(PY) bench/audit_micro.py
	$(PY) bench/webhook_bench.py $(ARGS)
	$(PY) bench/metrics_bench.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
