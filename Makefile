# Tessera — the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
NPM_CI := npm ci --no-audit --no-fund
FRONTEND_DEPS := frontend/node_modules/.package-lock.json
E2E_DEPS := tests/e2e/node_modules/.package-lock.json
CHROMIUM_PATH ?= /usr/bin/chromium
export CHROMIUM_PATH
# Database-facing tests run on SQLite and on this PostgreSQL server (each test creates its own
# fresh database there). Override to point elsewhere.
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: run test build release install spa openapi check-spec rust-test lint fmt clean
PREFIX ?= /usr/local
# The reverse-proxy test (crates/api/tests/operations/proxy.rs) runs Debian's nginx.
NGINX := /usr/sbin/nginx

## Build the SPA (when present), migrate the embedded SQLite database and serve on 127.0.0.1:8080.
run: spa
	$(CARGO) run -p tessera-api --bin tessera -- serve

build: spa
	$(CARGO) build -p tessera-api --bin tessera

## Optimised build with the SPA embedded: target/release/tessera (several minutes on 2 cores).
release: spa
	$(CARGO) build --release -p tessera-api --bin tessera

## Installs the release binary as $(PREFIX)/bin/tessera (DESTDIR for staging); see deploy/.
install: release
	install -D -m 0755 target/release/tessera $(DESTDIR)$(PREFIX)/bin/tessera
	@echo "installed $(DESTDIR)$(PREFIX)/bin/tessera; a systemd unit: deploy/tessera.service"

## Every test: Rust unit + integration (SQLite and PostgreSQL), spec-in-sync, frontend, browser e2e.
test: rust-test schemathesis frontend-test e2e python-client-test

# After `spa`: the black-box tests check the SPA the binary serves. The mail tests start a real
# SMTP server (tests/mail/smtp_sink.py: Debian's python3 with python3-aiosmtpd; openssl for the
# TLS certificate), as .ci/run installs.
# The binary the suites after rust-test run (schemathesis, e2e, the Python client): the one the
# test build makes for the api's integration tests, so after rust-test this is a no-op (1 s).
# A plain `cargo build` unifies other features and recompiled most of the tree (~7 minutes of CI).
TEST_BINARY := $(CARGO) test --workspace --all-targets --all-features --no-run

rust-test: spa
	@test -x "$(NGINX)" || { echo "the reverse-proxy test needs nginx at $(NGINX): apt-get install -y nginx" >&2; exit 1; }
	$(CARGO) test --workspace --all-targets --all-features

## Frontend build: npm ci (when package-lock.json changed), API types generated from
## openapi/openapi.json, type check, vite build into frontend/dist, CSP check of index.html.
## Release builds embed frontend/dist; debug builds serve it from disk.
spa: $(FRONTEND_DEPS)
	cd frontend && npm run build

## Regenerate the committed OpenAPI spec from the code (a test fails while they differ).
openapi:
	$(CARGO) run -q -p tessera-api --bin tessera -- openapi > openapi/openapi.json

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean

## Load and micro benchmarks on loopback (release build, wrk, pgbench when TEST_DATABASE_URL is
## reachable); prints the table of docs/benchmarks.md.
.PHONY: bench
bench:
	bash bench/bench.sh

## Spec-driven tests: schemathesis (pinned, in ~/.cache/tessera/schemathesis-venv) against the real server on
## SQLite and, with TEST_DATABASE_URL, PostgreSQL: no 5xx, every response as the spec says.
.PHONY: schemathesis
schemathesis:
	bash tests/schemathesis/run.sh

## ---- SPA, generated clients, browser tests (frontend/, tests/e2e, tests/python) ----
.PHONY: frontend-test e2e python-client-test

$(FRONTEND_DEPS): frontend/package.json frontend/package-lock.json
	cd frontend && $(NPM_CI)
	@touch $@

$(E2E_DEPS): tests/e2e/package.json tests/e2e/package-lock.json
	cd tests/e2e && $(NPM_CI)
	@touch $@

## Frontend unit tests (vitest): the API client's CSRF, refresh, single-flight and tab logic.
frontend-test: $(FRONTEND_DEPS)
	cd frontend && npm test

## Browser end-to-end tests: playwright-core drives Chromium ($(CHROMIUM_PATH), headless) against
## the real binary on a free port; screenshots and server logs go to target/e2e-artifacts/.
e2e: spa $(E2E_DEPS)
	@test -x "$(CHROMIUM_PATH)" || { echo "e2e needs Chromium at $(CHROMIUM_PATH): apt-get install -y chromium" >&2; exit 1; }
	$(TEST_BINARY)
	cd tests/e2e && npm test

## A Python client generated from openapi/openapi.json (openapi-python-client, venv in target/)
## against the real binary: token_delivery=body login, /api/me, refresh, replay detection.
python-client-test:
	$(TEST_BINARY)
	bash tests/python/run.sh
