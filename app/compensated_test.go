package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// compMetrics records Metrics.Compensated calls.
type compMetrics struct {
	mu    sync.Mutex
	calls map[domain.SagaID][]string // reasons reported, per saga
}

func (m *compMetrics) PurchaseEnded(string, string, time.Duration) {}
func (m *compMetrics) StepDone(string, time.Duration, error)       {}
func (m *compMetrics) Add(ports.Counter, int)                      {}
func (m *compMetrics) OutboxLag(time.Duration)                     {}
func (m *compMetrics) Compensated(saga domain.SagaID, _ domain.ProductID, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[saga] = append(m.calls[saga], reason)
}

func (m *compMetrics) of(saga domain.SagaID) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[saga]
}

// TestEachCompensationIsReportedOnce: a declined purchase, a saga recovery
// compensates and one the reaper aborts are each reported once, with
// their reason, by the write that made them COMPENSATED; recovery meeting
// a saga already compensated reports nothing more.
func TestEachCompensationIsReportedOnce(t *testing.T) {
	w := newWorld(t)
	m := &compMetrics{calls: map[domain.SagaID][]string{}}
	var crashAt app.CrashPoint
	a := w.appWith(app.Config{}, app.Hooks{Crash: func(_ domain.SagaID, at app.CrashPoint) bool { return at == crashAt }},
		func(d *app.Deps) { d.Metrics = m })
	w.supply(a, "p", 10)
	ctx := context.Background()

	w.outcome = payment.Decline
	if _, err := a.Buy(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, "declined"); err == nil {
		t.Fatal("a declined charge completed")
	}
	w.outcome = payment.Approve
	crashAt = app.CrashAfterCharge // recovery compensates it
	if _, err := a.Buy(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, "crashed-after-charge"); !errors.Is(err, app.ErrCrashed) {
		t.Fatalf("buy: %v, want the crash", err)
	}
	crashAt = app.CrashAfterReserve // no saga: the reaper aborts it
	if _, err := a.Buy(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, "crashed-after-reserve"); !errors.Is(err, app.ErrCrashed) {
		t.Fatalf("buy: %v, want the crash", err)
	}
	crashAt = ""
	w.settle(a)
	w.settle(a) // again: nothing left to report

	for key, want := range map[string]string{
		"declined": app.ReasonPaymentDeclined, "crashed-after-charge": app.ReasonLeaseExpired,
		"crashed-after-reserve": app.ReasonReservationExpired,
	} {
		if got := m.of(app.SagaIDForKey(key)); len(got) != 1 || got[0] != want {
			t.Errorf("%s: reported %v, want once with %s", key, got, want)
		}
	}
}
