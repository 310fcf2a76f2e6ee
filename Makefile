# Tessera: `make run` starts everything on embedded defaults (flags: ARGS="..."); `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test lint soak bench bench-peers test-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

# flags go in ARGS: make run ARGS="--meta-port 9000 --data-dir /srv/tessera"
run: $(STAMP)
	$(VENV)/bin/tessera-server run $(ARGS)

# one worker per core (pytest-xdist; a test file stays on one worker, so its fixtures start once);
# the 25 slowest tests close the output, so every run (CI included) records where the time goes
WORKERS ?= auto
test: $(STAMP)
	$(PY) -m pytest -m "not soak" -n $(WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

soak: $(STAMP)
	$(PY) -m pytest -m soak $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# the standard suite (~10 min on 2 cores); one scenario: $(PY) -m bench large --size 256M
bench: $(STAMP)
	$(PY) -m bench all $(BENCH_ARGS)

# the peers the bench compares against (Debian packages; needs root or sudo)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
bench-peers:
	@if command -v syncthing >/dev/null && command -v rclone >/dev/null; then \
		echo "syncthing and rclone are installed"; \
	else \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y syncthing rclone; \
	fi

# what some tests drive for real: a browser for the web pages, nginx for deploy/ (Debian packages;
# needs root or sudo); without them those tests skip
test-deps:
	@if command -v chromium >/dev/null && { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null; then \
		echo "chromium and nginx are installed"; \
	else \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium chromium-driver nginx; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
