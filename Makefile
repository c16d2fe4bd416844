# ViewBait: the two commands are `make run` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# `make` runs the studio on this machine over plain http: LOCAL_DEV=1 keeps a random SECRET_KEY
# in var/secret_key, leaves cookies usable over http and lets seed_demo create the demo accounts
# in the embedded database (README: "Production settings" for everything else).
export LOCAL_DEV ?= 1
# e.g. SEED_ARGS=--allow-database-url: the demo accounts in a DATABASE_URL database too.
SEED_ARGS ?=

.PHONY: install system-deps models run test lint typecheck migrate seed bench clean

# The stamp's name carries pyproject.toml's hash: a changed pyproject.toml installs again, a checkout
# that only touched the file (a fresh clone, a branch switch) does not.
$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP) system-deps models

# The person-segmentation model of the offline renderer ships in an npm package (package.json);
# without npm the renderer falls back to a grabCut prior and says so in the log.
models:
	@if command -v npm >/dev/null; then npm install --no-audit --no-fund --ignore-scripts --silent \
	  || echo "models: npm install failed; cut-outs fall back to grabCut" >&2; \
	else echo "models: npm not found; cut-outs fall back to grabCut" >&2; fi

# Fonts for every script and emoji (local renderer) and Chromium (browser tests), from Debian's
# packages when this machine can install them; the app falls back to what is there otherwise.
system-deps:
	@bash scripts/system-deps.sh

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo --or-skip $(SEED_ARGS)

# viewbait.serve runs collectstatic itself when staticfiles/ is missing or older than static/.
run: seed
	PORT=$(PORT) $(BIN)/python -m viewbait.serve

# Parallel workers (pytest-xdist; each has its own test database and Redis databases, see
# tests/settings.py: at most 4 share one Redis); PYTEST_ARGS="" runs in one process. `-n auto`
# starts two per CPU, at most 4 (tests/conftest.py: much of the suite waits on other processes,
# so a 2-core machine stays busy with 4). --reuse-db keeps the PostgreSQL test
# databases between runs; plans, styles and packs come from data migrations and transactional tests
# flush them, so tests/kept_db.py empties a kept database and seeds it again at the start
# (--create-db starts from scratch). Bytecode is written even where the environment sets
# PYTHONDONTWRITEBYTECODE (Docker images do): otherwise every worker rewrites and compiles every
# test module again on each run.
PYTEST_ARGS ?= -n auto --dist worksteal --reuse-db

test: install
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest $(PYTEST_ARGS)

# Style and layers: ruff, and import-linter's contract in pyproject.toml
# (viewbait -> studio -> generation -> billing -> core).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# mypy with django-stubs ([tool.mypy] and [tool.django-stubs] in pyproject.toml): zero errors.
typecheck: install
	$(BIN)/mypy .

bench: install
	$(BIN)/python benchmarks/generate_latency.py
	$(BIN)/python benchmarks/limiter_overhead.py
	$(BIN)/python benchmarks/cache_hit_ratio.py
	$(BIN)/python benchmarks/provider_spend.py

clean:
	rm -rf $(VENV) var staticfiles
