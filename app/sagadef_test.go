package app_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// stepMetrics records the names of the steps measured, in order.
type stepMetrics struct {
	mu    sync.Mutex
	steps []string
}

func (m *stepMetrics) PurchaseEnded(string, string, time.Duration) {}
func (m *stepMetrics) Add(ports.Counter, int)                      {}
func (m *stepMetrics) OutboxLag(time.Duration)                     {}
func (m *stepMetrics) Compensated(domain.SagaID, domain.ProductID, string) {
}
func (m *stepMetrics) StepDone(step string, _ time.Duration, _ error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.steps = append(m.steps, step)
}

// take returns the names recorded since the last take.
func (m *stepMetrics) take() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.steps
	m.steps = nil
	return out
}

// declared returns the declaration's forward step names and its
// compensations' names in the order they run (reverse step order).
func declared() (forward, compensations []string) {
	for _, s := range app.SagaSteps() {
		forward = append(forward, string(s.Name))
	}
	for _, s := range slices.Backward(app.SagaSteps()) {
		if s.Compensation != nil {
			compensations = append(compensations, s.Compensation.Name)
		}
	}
	return forward, compensations
}

func only(names, keep []string) []string {
	var out []string
	for _, n := range names {
		if slices.Contains(keep, n) {
			out = append(out, n)
		}
	}
	return out
}

// TestTheRunnerFollowsTheDeclaration: a purchase runs the declared steps
// in their order, and a failed one compensates with the declared
// compensations in reverse order, measuring each under its declared name.
func TestTheRunnerFollowsTheDeclaration(t *testing.T) {
	forward, compensations := declared()
	for _, s := range app.Strategies() {
		t.Run(string(s), func(t *testing.T) {
			w := newWorld(t)
			m := &stepMetrics{}
			a := w.appWith(app.Config{Strategy: s}, app.Hooks{}, func(d *app.Deps) { d.Metrics = m })
			w.supply(a, "p", 10)
			m.take()
			ctx := context.Background()

			if _, err := a.Buy(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil {
				t.Fatal(err)
			}
			if got := only(m.take(), forward); !slices.Equal(got, forward) {
				t.Fatalf("a purchase ran %v, declared %v", got, forward)
			}

			w.outcome = payment.Decline
			if _, err := a.Buy(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err == nil {
				t.Fatal("a declined charge completed")
			}
			got := m.take()
			upToCharge := forward[:slices.Index(forward, string(domain.StepCharge))+1]
			if f := only(got, forward); !slices.Equal(f, upToCharge) {
				t.Fatalf("a declined purchase ran %v, want %v", f, upToCharge)
			}
			if c := only(got, compensations); !slices.Equal(c, compensations) {
				t.Fatalf("a declined purchase compensated with %v, declared %v in that order", c, compensations)
			}
		})
	}
}

// TestCrashPointsFollowTheDeclaration: the crash points are derived from
// the declaration, in the order a saga passes them.
func TestCrashPointsFollowTheDeclaration(t *testing.T) {
	want := []app.CrashPoint{
		app.CrashAfterReserve, app.CrashAfterCreateOrder, app.CrashAfterCharge, app.CrashInConfirmGroup, app.CrashAfterConfirm,
		app.CrashCompensateBegun, app.CrashCompensateRefunded, app.CrashCompensateReleased,
	}
	if !slices.Equal(app.CrashPoints(), want) {
		t.Fatalf("crash points %v, want %v", app.CrashPoints(), want)
	}
}

// TestTheDocsStepTableIsTheDeclaration: ARCHITECTURE.md's table of the
// purchase saga lists the declared steps in order (as the numbered rows
// before the gate's settle), each with its compensation.
func TestTheDocsStepTableIsTheDeclaration(t *testing.T) {
	doc, err := os.ReadFile("../ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| ([0-9]) \| ([a-z ]+) \| .* \| ([^|]*) \|$`)
	var steps, comps []string
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		if m[1] == "0" || m[2] == "settle gate" {
			continue // the lock strategy's gate and the settle after the point of no return
		}
		steps = append(steps, m[2])
		comps = append(comps, strings.TrimSpace(m[3]))
	}
	decl := app.SagaSteps()
	if len(steps) != len(decl) {
		t.Fatalf("the docs' step table has steps %v, the declaration %d steps", steps, len(decl))
	}
	for i, s := range decl {
		if want := strings.ReplaceAll(string(s.Name), "_", " "); steps[i] != want {
			t.Errorf("row %d is %q, declared %q", i+1, steps[i], want)
		}
		want := "none"
		if s.Compensation != nil {
			want = strings.ReplaceAll(s.Compensation.Name, "_", " ")
		}
		if !strings.HasPrefix(comps[i], want) {
			t.Errorf("row %d (%s) compensates with %q, declared %q", i+1, s.Name, comps[i], want)
		}
	}
}

// TestTheEventsFollowTheDeclaration: a saga's timeline records the
// declared steps' events in their order, and the compensations' events in
// theirs (reverse step order).
func TestTheEventsFollowTheDeclaration(t *testing.T) {
	var forward, compensations []string
	for _, s := range app.SagaSteps() {
		if s.Event != "" {
			forward = append(forward, string(s.Event))
		}
	}
	for _, s := range slices.Backward(app.SagaSteps()) {
		if s.Compensation != nil && s.Compensation.Event != "" {
			compensations = append(compensations, string(s.Compensation.Event))
		}
	}
	if len(forward) < len(app.SagaSteps()) || len(compensations) < 3 {
		t.Fatalf("declared events %v and %v: every step and compensation of the purchase records one", forward, compensations)
	}
	events := func(a *app.App, id domain.SagaID) []string {
		t.Helper()
		evs, err := a.SagaEvents(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs {
			out = append(out, string(e.Type))
		}
		return out
	}
	w := newWorld(t)
	a := w.app(app.StrategyNone, "i1")
	w.supply(a, "p", 10)

	done, err := a.Purchase(context.Background(), domain.PurchaseRequest{ProductID: "p", Qty: 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := only(events(a, done.ID), forward); !slices.Equal(got, forward) {
		t.Fatalf("a completed saga recorded %v, declared %v", got, forward)
	}

	// Charged, then the process died: recovery compensates every step.
	w.crash = func(_ domain.SagaID, at app.CrashPoint) bool { return at == app.CrashAfterCharge }
	if _, err := a.Buy(context.Background(), domain.PurchaseRequest{ProductID: "p", Qty: 1}, "key-1"); !errors.Is(err, app.ErrCrashed) {
		t.Fatalf("got %v, want the crash", err)
	}
	w.crash = nil
	w.settle(a)
	got := events(a, app.SagaIDForKey("key-1"))
	if c := only(got, compensations); !slices.Equal(c, compensations) {
		t.Fatalf("a compensated saga recorded %v, declared %v in that order", c, compensations)
	}
	if f := only(got, forward); slices.Contains(f, string(domain.EventOrderConfirmed)) {
		t.Fatalf("a compensated saga recorded its confirm: %v", got)
	}
}

// lateReleased is a gate that answers a reserve "released" (an earlier
// request with the key reserved and was undone) only once the step's
// deadline has passed.
type lateReleased struct{ *memory.Inventory }

func (g lateReleased) Reserve(ctx context.Context, _ domain.Reservation) error {
	<-ctx.Done()
	return domain.ErrReservationReleased
}

func (g lateReleased) ReserveFresh(ctx context.Context, r domain.Reservation) (bool, error) {
	return false, g.Reserve(ctx, r)
}

// TestAReleasedReserveAnsweredLateStoresNothing: a reserve answered
// "released" after its deadline (so the error also reads as unavailable)
// for a key with no saga stored ends the request with that error, and
// stores nothing: no abort record fences the key.
func TestAReleasedReserveAnsweredLateStoresNothing(t *testing.T) {
	w := newWorld(t)
	a := w.appWith(app.Config{StepTimeout: 20 * time.Millisecond}, app.Hooks{}, func(d *app.Deps) { d.Inventory = lateReleased{w.inv} })
	w.supply(a, "p", 5)
	_, err := a.Buy(context.Background(), domain.PurchaseRequest{ProductID: "p", Qty: 1}, "key-1")
	if !errors.Is(err, domain.ErrReservationReleased) {
		t.Fatalf("got %v, want the reserve's answer", err)
	}
	if s, err := w.store.Saga(context.Background(), app.SagaIDForKey("key-1")); !errors.Is(err, domain.ErrSagaNotFound) {
		t.Fatalf("the key's saga is stored: %+v, %v", s, err)
	}
}
