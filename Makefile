# flashsale: the Makefile is the index of what you can do.
#   make run        serve on :8080 with in-memory adapters and demo products
#   make test       everything CI runs: lint, then scripts/test (starts Redis and
#                   MariaDB if needed, every test with -race, short fuzz runs)
#   make test-race  the tests alone, with the race detector (start the stack first)
#   make stack-up   the whole stack on 127.0.0.1: nginx (TLS, 8443) in front of two instances,
#                   Redis (standalone + Cluster), MariaDB (primary + replica), Kafka dev broker, paysim
#   make stack-down stop it
#   make e2e        the end-to-end suite against the running stack
#   make drills     the failure drills on the stack (it starts it): each fault 3 times under load
#                   through nginx; prints the table (README, "When a part of the stack fails")
#   make lint       gofmt check, go vet, staticcheck (a go.mod tool: go tool staticcheck)
#   make rules      promtool checks and unit-tests the alerting rules in deploy/prometheus
#   make generate   regenerate the typed Go client (client/) from the OpenAPI document
#   make sim        1000 seeded simulation runs per strategy, every fault on
#   make fuzz       the fuzz targets, 5 minutes each (make test runs 20,000 inputs each, about 10 s)
#   make bench      flashsale bench on the stack per lock strategy, and in process; report in .stack/bench
#   make bench-go   the go test benchmarks (simulated sagas/s, reserve script, order insert, saga)
#   make soak       1,000,000 purchases on `flashsale serve`'s memory adapters: heap and idle CPU stay bounded
#   make build      bin/flashsale

GO      ?= go
BIN     ?= bin/flashsale
GOFILES  = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')

.PHONY: build run test rules generate test-race test-short fuzz-short fuzz lint fmt sim bench bench-go soak stack-up stack-down e2e drills clean

build:
	$(GO) build -o $(BIN) ./cmd/flashsale

run:
	$(GO) run ./cmd/flashsale serve $(ARGS)

test: lint rules
	scripts/generate --check
	scripts/test

generate:
	scripts/generate

rules:
	scripts/rules

stack-up:
	scripts/stack up

stack-down:
	scripts/stack down --all

# The end-to-end suite against a running stack (make stack-up).
e2e:
	FLASHSALE_E2E=1 $(GO) test -count=1 -timeout 45m -v ./e2e/

# The failure drills (e2e/drill_test.go). FLASHSALE_DRILL_ROUNDS sets the rounds per drill.
drills: stack-up
	@table=$${FLASHSALE_STACK_DIR:-.stack}/app/drills.txt; rm -f "$$table"; \
	FLASHSALE_E2E=1 $(GO) test -count=1 -timeout 45m -run '^TestDrills$$' ./e2e/; status=$$?; \
	echo; cat "$$table" 2>/dev/null; exit $$status

test-race:
	$(GO) test -race -count=1 -tags bench ./...

# A quick loop for development: no race detector, fewer rapid checks.
test-short:
	$(GO) test -short ./...

FUZZ_TARGETS = FuzzPurchaseBody FuzzIdempotencyKey
# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
# report its own deadline as a failure ("context deadline exceeded", no
# failing input) when a worker is busy as it expires (golang/go#75804, fixed
# in Go 1.27); make test's run hit it on a loaded machine.
FUZZTIME ?= 20000x

# go test -fuzz takes one target at a time.
fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
		$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./adapters/httpapi || exit 1; \
	done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=5m

lint:
	@unformatted=$$(gofmt -l $(GOFILES)); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags bench ./cmd/flashsale
	$(GO) tool staticcheck ./...
	$(GO) tool staticcheck -tags bench ./cmd/flashsale

fmt:
	gofmt -w $(GOFILES)

sim:
	$(GO) run ./cmd/flashsale sim --runs 1000 $(ARGS)

bench:
	scripts/bench

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

soak:
	scripts/soak $(ARGS)

clean:
	rm -rf bin
