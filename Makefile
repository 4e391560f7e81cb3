# The two commands: `make run` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-unit test-pure lint docs bench clean

install: $(STAMP)

# Reinstall when the packaging or a Cython source changes.
$(STAMP): pyproject.toml setup.py build-constraints.txt $(wildcard engine/_fast/*.pyx)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77" wheel "Cython>=3.0,<4"
	ASYNCGATE_REQUIRE_EXTENSIONS=1 $(BIN)/python -m pip install --quiet --no-build-isolation -e ".[test]"
	$(BIN)/python -c "import engine._fast as f; assert f.COMPILED, 'Cython extensions did not build'"
	# python-qpid-proton is an sdist whose C extension setuptools 80+ skips (see build-constraints.txt);
	# such a wheel may also sit in pip's cache: rebuild it, uncached, with an older setuptools.
	$(BIN)/python -c "import proton" 2>/dev/null || $(BIN)/python -m pip install --quiet --no-cache-dir \
		--force-reinstall --no-deps --build-constraint build-constraints.txt python-qpid-proton
	$(BIN)/python -c "import proton"
	touch $(STAMP)

run: install
	$(BIN)/asyncgate serve

# The local services the integration tests talk to (see scripts/start-services.sh); none yet.
TEST_SERVICES ?=

test: install
	$(if $(strip $(TEST_SERVICES)),bash scripts/start-services.sh $(TEST_SERVICES))
	$(BIN)/python -m pytest -q -p no:cacheprovider
	ASYNCGATE_NO_EXTENSIONS=1 $(BIN)/python -m pytest -q -p no:cacheprovider

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

# The benchmark suite (never run by `make test`): `make bench BENCH_ARGS=--quick`, or `--only mapping`.
# The charts need matplotlib (the `bench` extra); the POST ingest scenario installs wrk itself (apt-get, as root).
bench: install
	$(BIN)/python -c "import matplotlib" 2>/dev/null || $(BIN)/python -m pip install --quiet "matplotlib>=3.8,<4"
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

docs: install
	$(BIN)/python -m engine.catalog docs/components
	$(BIN)/python -m engine.bloblang.docs > docs/bloblang.md

clean:
	rm -rf $(VENV) build *.egg-info engine/_fast/*.c engine/_fast/*.so
