# automux: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= all,dev

.PHONY: venv demo test clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -e ".[$(EXTRAS)]"
	touch $(STAMP)

## demo: compare the installed backends on sklearn:breast_cancer and print a leaderboard
demo: venv
	$(BIN)/automux compare --data sklearn:breast_cancer --target target \
	  --backends installed --budget-trials 10 --seed 7

## test: the whole test suite, as two pytest sessions side by side (.ci/test; AUTOMUX_TEST_SERIAL=1: one)
test: venv
	.ci/test $(BIN)/python

clean:
	rm -rf $(VENV) automux-runs .pytest_cache
