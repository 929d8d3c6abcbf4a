# The two entry points of README.md: `make demo` and `make test`. Both install what they need.
VENV := .venv/bin
PYTEST_ARGS ?=

.PHONY: setup demo test lint typecheck docs unit bench bench-quick clean

setup:
	./scripts/setup.sh

# The main job: the example regression suite in fixtures/, with real builds in runc.
demo: setup
	$(VENV)/pytest --snix-runc --snix-strict -p no:cacheprovider fixtures/ $(PYTEST_ARGS)

lint:
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

# the package, then each test directory on its own (they import helper modules by bare name)
typecheck:
	$(VENV)/mypy
	@for d in tests/*/; do \
	  [ "$$d" = tests/data/ ] && continue; \
	  echo "mypy $$d"; MYPYPATH=$$d $(VENV)/mypy --no-error-summary $$d || exit 1; \
	done

docs:
	$(VENV)/mkdocs build --strict --quiet --site-dir site

unit:
	$(VENV)/pytest --snix-runc --snix-strict -n 2 $(PYTEST_ARGS)

# The whole test suite: lint, types, docs, and every test including real runc/FUSE builds.
test: setup lint typecheck docs unit

bench: setup
	$(VENV)/python -m bench

bench-quick: setup
	$(VENV)/python -m bench --quick

clean:
	rm -rf site .mypy_cache .ruff_cache .pytest_cache .hypothesis
