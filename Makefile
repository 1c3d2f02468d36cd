# Developer entry points. `make test` is what CI runs (through .ci/run).
CARGO ?= cargo
# Extra arguments for `cargo test`, e.g. `make test ARGS="-p forge-e2e sqlite::"`.
ARGS ?=

.PHONY: run test test-faults build lint fmt clean bench bench-cluster cluster

# Serves on FORGE_LISTEN (default 127.0.0.1:3000) with SQLite in ./data unless
# FORGE_DATA_DIR / FORGE_DATABASE_URL say otherwise.
run:
	$(CARGO) run --release -p forge-server -- serve

# Starts a throwaway PostgreSQL when one is installed so both backends are tested.
test:
	scripts/test.sh $(ARGS)

# The fault suite (docs/RELIABILITY.md): crashes, outages, full disks, slow and hostile
# clients. One case at a time, since some measure latency; the disk and file-attribute
# cases need root and say so when skipped. Each case prints its figures (--nocapture).
test-faults:
	scripts/test.sh --test faults -- --test-threads=1 --nocapture

build:
	$(CARGO) build --workspace

# Release build, then our server (SQLite and PostgreSQL) against nginx under the same load;
# rewrites the results in docs/PERFORMANCE.md, each figure the median of three runs. About
# 15 minutes on 2 cores. Then the container registry against Distribution's docker-registry
# (skopeo pushes and pulls of a 1 GiB image, manifest and blob requests per second, peak
# memory of 8 concurrent pushes): about 5 more minutes; it prints its table
# (docs/PERFORMANCE.md, "Container registry").
# Then the npm registry against verdaccio (installed pinned into target/bench-npm/ the first
# time): publish of 200 packages, a cold `npm install` of 100, packument GETs per second,
# peak memory; about 2 minutes; it prints its table (docs/PERFORMANCE.md, "npm registry").
# Then the Cargo sparse index against nginx serving the same index files (full fetches and 304
# revalidations per second, 64 connections) and the time of the real `cargo publish --no-verify`
# of 150 crate versions; about 1.5 minutes; it prints its table (docs/PERFORMANCE.md, "Cargo
# sparse index").
bench:
	CARGO=$(CARGO) scripts/bench.sh
	scripts/bench-container.sh target/release/forge-server
	scripts/bench-npm.sh target/release/forge-server
	scripts/bench-cargo.sh target/release/forge-server

# P3/P4 through nginx in front of one and of three instances on PostgreSQL, and the P3 latency
# tail of each database; rewrites the "Several instances" section of docs/PERFORMANCE.md.
bench-cluster:
	CARGO=$(CARGO) scripts/bench-cluster.sh

# PostgreSQL, SeaweedFS, three instances and nginx in front, on loopback; Ctrl-C stops all.
cluster:
	CARGO=$(CARGO) scripts/cluster.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	scripts/check-deps.sh
	scripts/check-module-cycles.py

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf data
