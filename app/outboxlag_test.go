package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// lagMetrics records the outbox lag the app reports.
type lagMetrics struct {
	mu   sync.Mutex
	lags []time.Duration
}

func (m *lagMetrics) PurchaseEnded(string, string, time.Duration) {}
func (m *lagMetrics) StepDone(string, time.Duration, error)       {}
func (m *lagMetrics) Add(ports.Counter, int)                      {}

func (m *lagMetrics) Compensated(domain.SagaID, domain.ProductID, string) {}
func (m *lagMetrics) OutboxLag(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lags = append(m.lags, d)
}

func (m *lagMetrics) last(t *testing.T) time.Duration {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.lags) == 0 {
		t.Fatal("no outbox lag was reported")
	}
	return m.lags[len(m.lags)-1]
}

// refusingPublisher refuses every batch while down, as a broker outage.
type refusingPublisher struct {
	ports.EventPublisher
	down bool
}

func (p *refusingPublisher) Publish(ctx context.Context, evs ...domain.Event) error {
	if p.down {
		return errors.New("broker down")
	}
	return p.EventPublisher.Publish(ctx, evs...)
}

// TestOutboxLagIsTheOldestWaitingEvent: the lag is the age of the oldest
// event still unpublished, and grows while the broker refuses batches; a
// round with nothing to publish reports 0, so an alert on the lag ends
// with the backlog (it used to keep the last batch's age for ever).
func TestOutboxLagIsTheOldestWaitingEvent(t *testing.T) {
	w := newWorld(t)
	m := &lagMetrics{}
	pub := &refusingPublisher{EventPublisher: w.events, down: true}
	a := w.appWith(app.Config{InstanceID: "a"}, app.Hooks{}, func(d *app.Deps) { d.Publisher, d.Metrics = pub, m })
	ctx := context.Background()
	w.supply(a, "p", 5)
	buy := func() {
		t.Helper()
		if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil {
			t.Fatal(err)
		}
	}
	buy() // its events are the oldest
	w.clock.Advance(10 * time.Second)
	buy()
	w.clock.Advance(30 * time.Second)
	if _, err := a.RelayEvents(ctx); err == nil {
		t.Fatal("the relay published through a broker that is down")
	}
	if got := m.last(t); got != 40*time.Second {
		t.Fatalf("lag with the oldest event 40 s old: %v", got)
	}
	w.clock.Advance(20 * time.Second)
	_, _ = a.RelayEvents(ctx)
	if got := m.last(t); got != 60*time.Second {
		t.Fatalf("lag 20 s later, broker still down: %v, want 60 s", got)
	}

	pub.down = false
	if n, err := a.RelayEvents(ctx); err != nil || n == 0 {
		t.Fatalf("relay with the broker back: %d events, %v", n, err)
	}
	if _, err := a.RelayEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if got := m.last(t); got != 0 {
		t.Fatalf("lag once everything is published: %v, want 0", got)
	}
}

// TestOutboxLagOfTheInstanceThatDoesNotRelay: with a relay lease, the
// instance that does not hold it reports 0 (the holder reports the lag), so
// a lag it saw while it held the lease does not stay for ever.
func TestOutboxLagOfTheInstanceThatDoesNotRelay(t *testing.T) {
	w := newWorld(t)
	newApp := func(id string, m *lagMetrics) *app.App {
		return w.appWith(app.Config{InstanceID: id, RelayLease: 10 * time.Second}, app.Hooks{}, func(d *app.Deps) { d.Metrics = m })
	}
	ma, mb := &lagMetrics{}, &lagMetrics{}
	a, b := newApp("a", ma), newApp("b", mb)
	ctx := context.Background()
	w.supply(a, "p", 5)
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(5 * time.Second)
	if n, err := a.RelayEvents(ctx); err != nil || n == 0 {
		t.Fatalf("a takes the lease and relays: %d, %v", n, err)
	}
	if got := ma.last(t); got != 0 {
		t.Fatalf("a, after publishing everything: %v, want 0", got)
	}
	mb.OutboxLag(time.Hour) // what b reported when it last relayed
	if n, err := b.RelayEvents(ctx); err != nil || n != 0 {
		t.Fatalf("b relayed while a holds the lease: %d, %v", n, err)
	}
	if got := mb.last(t); got != 0 {
		t.Fatalf("b, which does not hold the lease: %v, want 0", got)
	}
}
