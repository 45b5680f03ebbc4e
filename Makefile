# shoal's build. Every target works on a fresh machine with Go 1.26: tools
# the targets need are installed from the Go module proxy into Go's own bin
# directory, next to what `go install` puts there, so the checkout stays clean.

GO          ?= go
BIN         ?= $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(BIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
# Every test, within the 15-minute budget on 2 cores.
TEST_TIMEOUT ?= 15m
# Fuzzing budget per target for `make fuzz`.
FUZZTIME    ?= 10s
# Property-test checks per property for `make test-long` (`make test` uses rapid's default, 100).
LONG_CHECKS ?= 2000
# Seeds per built-in scenario for `make test-long` (`make test` runs 1..3).
LONG_SEEDS  ?= 50

.PHONY: all build test test-long proptest lint demo bench bench-sim bench-check fuzz clean image

all: build

build:
	$(GO) build ./...
	$(GO) build -o $(BIN)/shoal ./cmd/shoal

# Tests that need Docker or Chromium skip with a one-line reason when it is
# absent, except under CI=true, where its absence fails them. The second
# run builds the planted bugs in (-tags shoalbugs) and runs the tests that
# need them.
BUG_PKGS = $(shell grep -rl --include='*_test.go' '^//go:build shoalbugs' . | xargs -n1 dirname | sort -u)
test:
	$(GO) test -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -timeout $(TEST_TIMEOUT) -tags shoalbugs $(BUG_PKGS)

# Long simulation sweeps and property runs: every rapid property (tests
# named TestProp...) of every package whose tests use rapid; every
# built-in scenario on seeds 1..LONG_SEEDS; the planted-bug matrix,
# which must match the table in scenarios/README.md; the reports of
# 1k-, 10k- and 100k-operation runs in Chromium (-v prints their sizes);
# and leader-isolation and rolling-kill against real clusters (shoal live
# run). The parts are independent and the two longest (the sweep and the
# matrix) each keep one core busy, so LONG_JOBS of them run at once, the
# longest first; each says when it starts.
LONG_JOBS ?= 2
PROP_PKGS = $(shell $(GO) list -f '{{.ImportPath}} {{join .TestImports " "}}' ./... | grep ' pgregory.net/rapid' | cut -d' ' -f1)
LONG_PARTS = long-scenarios long-matrix long-props long-reports long-live
.PHONY: test-long $(LONG_PARTS)
test-long:
	$(MAKE) -j$(LONG_JOBS) --output-sync=line $(LONG_PARTS)
long-props:
	@echo "--- $@ starts at $$(date -u +%T)"
	$(GO) test -timeout 50m -run 'Prop' $(PROP_PKGS) -rapid.checks=$(LONG_CHECKS)
long-scenarios:
	@echo "--- $@ starts at $$(date -u +%T)"
	$(GO) test -timeout 60m -run 'TestLibraryScenariosAreValid' ./scenarios/library -seeds $(LONG_SEEDS) -claim-seeds $(LONG_SEEDS)
long-matrix:
	@echo "--- $@ starts at $$(date -u +%T)"
	$(GO) test -timeout 60m -tags shoalbugs -run 'TestBugMatrix' ./scenarios/library -matrix
long-reports:
	@echo "--- $@ starts at $$(date -u +%T)"
	$(GO) test -timeout 20m -run 'TestBrowserReportSizes' ./reports -large -v
long-live:
	@echo "--- $@ starts at $$(date -u +%T)"
	$(GO) test -timeout 20m -run 'TestLiveLibrary' ./cmd/shoal/cli -live-library -v

# The engine's properties in the simulator (scenarios/hunt,
# TestEngineUnderFaults: linearizable, raft-safe, durable, converged, live)
# over PROPTEST_CHECKS schedules drawn from the whole nemesis vocabulary, a
# failure shrunk and written under scenarios/hunt/testdata/failures; the
# schedule generator's own properties; and the KV state machine against
# its model. `make test` runs 20 schedules and rapid's default 100 checks.
# The two runs are independent and each keeps one core busy, so they run
# at once.
PROPTEST_CHECKS ?= 1000
.PHONY: proptest-engine proptest-kv
proptest:
	$(MAKE) -j2 --output-sync=line proptest-engine proptest-kv
proptest-engine:
	$(GO) test -timeout 30m -run 'TestEngineUnderFaults|TestPropGenerate' ./scenarios/hunt -rapid.checks=$(PROPTEST_CHECKS) -v
proptest-kv:
	$(GO) test -timeout 10m -run 'TestPropMachineModel|TestPropQueueModel' ./core/kv -rapid.checks=$(PROPTEST_CHECKS)

$(STATICCHECK):
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# gofmt, go vet, staticcheck and the determinism linter; then the list of
# every place that opts out of a determinism rule, with its reason.
lint: $(STATICCHECK)
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags shoalbugs ./...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags shoalbugs ./...
	$(GO) run ./cmd/detlint ./...
	@echo "determinism opt-outs (//detlint:allow, //detlint:unordered):"
	@$(GO) run ./cmd/detlint -allows ./core ./simnet ./nemesis | sed 's/^/  /'

# The built-in leader-isolation scenario: a five-instance cluster serving
# clients while its data leader is cut off for 10s. Prints the faults, the
# checks' verdicts and the report's path.
demo: build
	$(BIN)/shoal sim run leader-isolation --seed 1 --out $$(mktemp -d /tmp/shoal-demo.XXXXXX)/run

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# shoal beside etcd and NATS JetStream KV, measured in one run on this
# machine (shoal bench peers, cmd/shoal/cli/bench_peers.go): builds the peers
# from the Go module proxy into PEERS_CACHE (once per version), starts a
# three-node cluster of each in turn, loads it through its own Go client,
# prints a table per mix and the path of the report (JSON, HTML), and
# stops every process it started. PEERS_FLAGS adds flags (shoal bench
# peers -h), e.g. --duration 10s or --shoal-cpuprofile.
PEERS_CACHE ?= $(HOME)/.cache/shoal-peers
PEERS_FLAGS ?=
.PHONY: bench-peers
bench-peers:
	$(GO) build -o $(BIN)/shoal ./cmd/shoal
	$(BIN)/shoal bench peers --go $(GO) --cache $(PEERS_CACHE) $(PEERS_FLAGS)

# The simulator's speed: for each built-in scenario, simulated seconds per
# wall second and seeds per hour, one process running seeds 1..N one after
# another (BENCH_SIM_TIME=Nx), each run's verdict the one its scenario
# expects; beside it leader-isolation against a five-node hashicorp/raft
# cluster under testing/synctest (scenarios/foreign/hraftkv), for what
# goroutine-based Raft costs on virtual time; then leader-isolation,
# majority-split and rolling-kill against that cluster, each seed run
# twice: each run's speed, and whether the two elected the same leaders.
# 1½ to 3 minutes on 2 cores (the more with a cold build cache).
BENCH_SIM_TIME ?= 10x
bench-sim:
	$(GO) test -run '^$$' -bench 'BenchmarkScenarios|BenchmarkHashicorpRaftSynctest' -benchtime $(BENCH_SIM_TIME) ./scenarios/library ./scenarios/foreign/hraftkv
	$(GO) test -count 1 -run '^TestLibraryScenarios$$' -v ./scenarios/foreign/hraftkv

# The built-in scenarios that partition the cluster, against a
# key-value store on github.com/hashicorp/raft under testing/synctest
# (scenarios/foreign/hraftkv; FOREIGN_SCENARIOS=a,b names others, such as
# rolling-kill), each on FOREIGN_SEED twice: the checks' verdicts, the
# virtual/wall speed, the leaders each run elected and whether the two
# runs agreed, and each run's directory and report under FOREIGN_OUT
# (default a new directory in /tmp), whose meta.json records the commit.
# It fails on any verdict but the one its scenario expects, except
# unknown from the faults check alone (a fault hashicorp/raft cannot
# take), which is reported. About a minute and a half on 2 cores.
FOREIGN_SEED      ?= 1
FOREIGN_SCENARIOS ?=
FOREIGN_OUT       ?=
.PHONY: foreign
foreign:
	@out="$(FOREIGN_OUT)"; if [ -z "$$out" ]; then out=$$(mktemp -d /tmp/shoal-foreign.XXXXXX); fi; \
	$(GO) test -count 1 -timeout 20m -run '^TestForeign$$' -v ./scenarios/foreign/hraftkv \
		-foreign -foreign.out "$$out" -foreign.seed $(FOREIGN_SEED) -foreign.scenarios '$(FOREIGN_SCENARIOS)' \
		-foreign.commit "$$(git rev-parse HEAD 2>/dev/null || echo unknown)"

# The linearizability checker's speed, in operations checked per second,
# every verdict asserted: generated 10k- and 100k-operation histories, the
# histories of leader-isolation scaled to about 10k and 100k operations,
# and the real histories in ../shared/histories against their pinned
# verdicts (skipped when absent). Under a minute on 2 cores with a warm
# build cache.
BENCH_CHECK_TIME ?= 5x
bench-check:
	@test -d ../shared/histories || echo "no ../shared/histories beside the checkout: BenchmarkLinearizableShared skips"
	$(GO) test -run '^$$' -bench 'BenchmarkLinearizable' -benchtime $(BENCH_CHECK_TIME) ./checker

# The container image $(IMAGE), FROM scratch (cmd/shoal/Dockerfile): the
# static binary (CGO_ENABLED=0, -trimpath) and the directories it writes,
# in a build context assembled in a fresh directory. Needs a Docker engine;
# no registry (nothing is pulled).
IMAGE ?= shoal:dev
image:
	@set -e; ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	CGO_ENABLED=0 $(GO) build -trimpath -o "$$ctx/shoal" ./cmd/shoal; \
	mkdir "$$ctx/data" "$$ctx/tmp"; cp cmd/shoal/Dockerfile "$$ctx/"; \
	docker build -t $(IMAGE) "$$ctx"

# Each fuzz target for FUZZTIME.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			echo "fuzz $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

clean:
	rm -f $(BIN)/shoal
