# analyticsd: `make run` starts the daemon, `make test` runs every check CI runs.
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin
SUDO    = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test lint typecheck pytest system-deps deb bench bench-hub bench-import bench-ingest bench-memory bench-queries bench-perevent clean geoip-update

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The bundled country database (the default of `[geoip] database = ""`): the
# version analyticsd/geodata/bundled.toml pins, from the npm registry, checked
# against its sha256 and cached in ~/.cache/analyticsd/geoip (not in git; the
# daemon never downloads anything). The wheel and the .deb carry it.
GEOIP_DB = analyticsd/geodata/country.mmdb
$(GEOIP_DB): analyticsd/geodata/bundled.toml
	$(PYTHON) packaging/geoip_db.py fetch
	@touch $@

install: $(BIN)/.installed $(GEOIP_DB)

# Moves the pin to the registry's latest version (rewrites bundled.toml: commit
# it) and installs that file; a running `make run` daemon takes it at SIGHUP.
geoip-update:
	$(PYTHON) packaging/geoip_db.py update

run: install
	@echo "Dashboard: http://127.0.0.1:8787/ (the embedded default's address). Sign in with a token"
	@echo "of [api] tokens; with none configured, the one the daemon prints at its first start,"
	@echo "kept in its data dir as api.token (here: var/api.token)."
	$(BIN)/analyticsd run $(if $(CONFIG),--config $(CONFIG))

# Forwarding and hub tests need a redis-server of their own (and openssl for
# the certificates of the TLS tests), the unit test systemd-analyze, the
# browser tests Debian's chromium, the reverse-proxy tests caddy and nginx,
# the package build Debian's python3-venv and dpkg-deb, the real-systemd
# test mmdebstrap and systemd-nspawn (systemd-container); benchmarks need wrk.
# The services some of these bring (nginx, caddy, redis-server) are not
# started by the install (policy-rc.d says no while it runs): the tests
# start their own on free ports, and on a machine run by systemd the
# packaged nginx would fail its install on the port 80 the packaged caddy took.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v caddy >/dev/null || missing="$$missing caddy"; \
	command -v nginx >/dev/null || missing="$$missing nginx"; \
	command -v mmdebstrap >/dev/null || missing="$$missing mmdebstrap"; \
	command -v systemd-nspawn >/dev/null || missing="$$missing systemd-container"; \
	command -v dpkg-deb >/dev/null || missing="$$missing dpkg"; \
	command -v setpriv >/dev/null || missing="$$missing util-linux"; \
	/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  guard=""; \
	  if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null && \
	    $(SUDO) chmod 0755 /usr/sbin/policy-rc.d && guard=1; \
	  fi; \
	  $(SUDO) apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing >/dev/null; \
	  rc=$$?; [ -z "$$guard" ] || $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi

# The Debian package: dist/analyticsd_<version>_<arch>.deb (see the script for
# what it holds and why dpkg-deb). Rebuilt when a file it packs changes.
DEB_INPUTS = pyproject.toml README.md $(GEOIP_DB) analyticsd/geodata/bundled.toml $(shell find analyticsd -name '*.py' -o -path '*/static/*' -type f) \
	config/analyticsd.toml config/Caddyfile config/nginx.conf systemd/analyticsd.service \
	packaging/build-deb.sh $(wildcard packaging/debian/*)
# Needs only Debian's python3-venv (dpkg-deb is part of dpkg), so a VPS
# can build its own package without the test tools.
dist/.deb-built: $(DEB_INPUTS)
	@/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || { \
	  $(SUDO) apt-get update -q >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q python3-venv >/dev/null; }
	packaging/build-deb.sh
	touch $@
deb: dist/.deb-built

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

# The package is built before the tests (the real-systemd test installs it),
# so the build's pip downloads happen here, not inside a test.
pytest: install system-deps deb
	$(BIN)/pytest

test: lint typecheck pytest

# HUB_REF: the revision whose hub consume rate is printed beside this tree's;
# by default the last one before the overlapped hub (main has it since).
HUB_REF ?= 985e8c5
bench: install system-deps
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.perevent
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.hub --rev $(HUB_REF)
	$(BIN)/python -m bench.import_bench

# `analyticsd import plausible` of a generated year (1.05M page views), twice:
# both timed, the totals checked unchanged by the second (about 15 s).
bench-import: install
	$(BIN)/python -m bench.import_bench

# Only the hub consume rate, this tree beside HUB_REF's, alternately.
bench-hub: install system-deps
	$(BIN)/python -m bench.hub --rev $(HUB_REF)

# Only resident memory against distinct visitors (10k ... 1M in one day, at
# the default budget, then the same traffic with no budget: the counts must
# be identical; the second run needs ~4 GB of RAM). VISITORS=... for fewer.
bench-memory: install
	$(BIN)/python -m bench.memory --compare $(if $(VISITORS),--visitors $(VISITORS))

# Only the references and the ingest figures (a few minutes); REV=... runs
# that revision's daemon through the same phases, for a side-by-side table.
bench-ingest: install system-deps
	$(BIN)/python -m bench.run --ingest $(if $(REV),--rev $(REV))

# Only the Stats API query timings (builds the 10M-page-view fixture first,
# once a day: 20-30 minutes on 2 cores; cached in bench/out/).
bench-queries: install
	$(BIN)/python -m bench.queries
	$(BIN)/python -m bench.perevent

# Only the per-event questions beside DuckDB on the same rows (the
# 1M-page-view fixture, ~2 minutes to build, cached in bench/out/).
bench-perevent: install
	$(BIN)/python -m bench.perevent

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist
