// Package porttest holds one contract suite per port in package ports. Every
// adapter runs the suite of each port it implements, so the memory adapters
// and the real ones (Redis, MySQL, Kafka) are held to the same sentences.
//
// A suite takes a factory that builds a fresh harness per subtest: the
// adapter under test plus whatever the suite needs to drive it (a way to
// seed data, or to move the adapter's notion of time). Subtests are named
// after the contract clause they check. Each suite also races many
// goroutines, released together by closing one channel, and asserts that
// exactly the allowed number win.
//
// Suites use fixed identifiers and times far in the future
// (2030-01-01 UTC onwards), so a factory for a shared external store should
// start each harness from an empty keyspace or schema.
package porttest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
)

// epoch is the suites' reference time: reservation deadlines and leases are
// expressed relative to it.
var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// race runs fn(0) ... fn(n-1) in n goroutines that all start when one
// channel is closed, so they contend as hard as the scheduler allows, and
// returns their errors by index.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// countErrs counts nil errors, errors matching each target, and the rest.
func countErrs(errs []error, targets ...error) (ok int, matched []int, other []error) {
	matched = make([]int, len(targets))
next:
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		for i, target := range targets {
			if errors.Is(err, target) {
				matched[i]++
				continue next
			}
		}
		other = append(other, err)
	}
	return ok, matched, other
}

// must fails the test at once if err is not nil.
func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// wantErr fails the test unless err matches target.
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// doneContext returns a context that has already been cancelled.
func doneContext(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// wantUnavailable checks the package ports rule for a call whose context is
// done: an error wrapping domain.ErrUnavailable.
func wantUnavailable(t *testing.T, err error, what string) {
	t.Helper()
	wantErr(t, err, domain.ErrUnavailable, what+" with a done context")
}
