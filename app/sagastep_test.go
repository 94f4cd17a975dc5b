package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// A fourth step, as a team adding "send a receipt" to the purchase would
// write it: a port (receipts), its adapter (here an in-memory one), and one
// entry in the saga's declaration. Nothing else of the app changes: the
// engine runs it, compensates it in its place, crashes at its crash point,
// names its dependency when it does not answer, and recovery voids it.

// receipts is the step's port: a receipt issued for a saga's amount, and
// voided. Both are idempotent per saga, as a saga's calls must be.
type receipts interface {
	Issue(ctx context.Context, saga domain.SagaID, amountMinor int64) error
	Void(ctx context.Context, saga domain.SagaID) error
}

const dependencyReceipts ports.Dependency = "receipts"

// receiptStep is the declaration's new entry.
func receiptStep(port receipts) SagaStep {
	return SagaStep{
		Name: "receipt", Dependency: dependencyReceipts, CrashAfter: "after_receipt",
		act: func(_ *App, ctx context.Context, r *sagaRun) error {
			return port.Issue(ctx, r.id, r.saga.AmountMinor)
		},
		Compensation: &SagaCompensation{
			Name: "void_receipt", Dependency: dependencyReceipts, CrashAfter: "compensate_after_void_receipt",
			undo: func(_ *App, ctx context.Context, c *compRun) error { return port.Void(ctx, c.id) },
		},
	}
}

// withStepBefore is the declaration with st inserted before the step
// named before.
func withStepBefore(steps []SagaStep, before domain.Step, st SagaStep) []SagaStep {
	i := slices.IndexFunc(steps, func(s SagaStep) bool { return s.Name == before })
	return slices.Insert(slices.Clone(steps), i, st)
}

// memReceipts is the port's in-memory adapter. fail makes Issue fail.
type memReceipts struct {
	mu     sync.Mutex
	issued map[domain.SagaID]int64
	voided map[domain.SagaID]bool
	fail   error
}

func (m *memReceipts) Issue(_ context.Context, saga domain.SagaID, amount int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if m.voided[saga] {
		return fmt.Errorf("receipt of %s: voided", saga)
	}
	m.issued[saga] = amount
	return nil
}

func (m *memReceipts) Void(_ context.Context, saga domain.SagaID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.voided[saga] = true
	return nil
}

// stepLog records the names the app measures, in order, and those it
// measured as failed.
type stepLog struct {
	noMetrics
	mu     sync.Mutex
	names  []string
	failed []string
}

func (l *stepLog) StepDone(name string, _ time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = append(l.names, name)
	if err != nil {
		l.failed = append(l.failed, name)
	}
}

func (l *stepLog) take(keep ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, n := range l.names {
		if slices.Contains(keep, n) {
			out = append(out, n)
		}
	}
	l.names = nil
	return out
}

type receiptFixture struct {
	clock    *memory.Clock
	inv      *memory.Inventory
	store    *memory.Store
	pay      *payment.Simulated
	receipts *memReceipts
	steps    *stepLog
	crashAt  CrashPoint
	app      *App
}

// newReceiptFixture is an app whose purchase has the receipt step before
// the confirm.
func newReceiptFixture(t *testing.T, s Strategy) *receiptFixture {
	t.Helper()
	return newReceiptFixtureWith(t, s, func(steps []SagaStep, receipt SagaStep) []SagaStep {
		return withStepBefore(steps, domain.StepConfirm, receipt)
	})
}

func newReceiptFixtureWith(t *testing.T, s Strategy, place func(steps []SagaStep, receipt SagaStep) []SagaStep) *receiptFixture {
	t.Helper()
	f := &receiptFixture{
		clock: memory.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)), steps: &stepLog{},
		receipts: &memReceipts{issued: map[domain.SagaID]int64{}, voided: map[domain.SagaID]bool{}},
	}
	f.inv, f.store = memory.NewInventory(f.clock), memory.NewStore(f.clock)
	pay, err := payment.NewSimulated(payment.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.pay = pay
	a, err := New(Deps{
		Clock: f.clock, IDs: memory.NewIDs("id"), Inventory: f.inv, Locker: memory.NewLocker(f.clock), Catalog: f.store,
		Cache: memory.NewProductCache(f.clock), Sagas: f.store, Orders: f.store, Outbox: f.store,
		Publisher: memory.NewEventLog(), Payments: f.pay, Metrics: f.steps,
	}, Config{Strategy: s, InstanceID: "i1"}, Hooks{Crash: func(_ domain.SagaID, at CrashPoint) bool { return at == f.crashAt }})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.useSaga(place(purchaseSaga, receiptStep(f.receipts))); err != nil {
		t.Fatal(err)
	}
	f.app = a
	if _, err := a.Supply(context.Background(), domain.Supply{ID: "p", Name: "p", PriceMinor: 700, AddStock: 5}); err != nil {
		t.Fatal(err)
	}
	f.steps.take()
	return f
}

func (f *receiptFixture) buy(t *testing.T) (Receipt, error) {
	t.Helper()
	return f.app.Buy(context.Background(), domain.PurchaseRequest{ProductID: "p", Qty: 1}, "")
}

// stockBack checks the gate and the durable stock hold all 5 units again.
func (f *receiptFixture) stockBack(t *testing.T) {
	t.Helper()
	l, err := f.inv.Level(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.store.Product(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	if l.Available() != 5 || p.Stock != 5 {
		t.Fatalf("stock not back: gate %+v, durable %d", l, p.Stock)
	}
}

// TestAFourthStepIsOneEntry: the receipt step above, declared and nothing
// else, is run in its place, compensated in its place (LIFO), crashed at
// and recovered from, for every strategy.
func TestAFourthStepIsOneEntry(t *testing.T) {
	forward := []string{"reserve", "create_order", "charge", "receipt", "confirm"}
	compensations := []string{"void_receipt", "refund", "cancel_order", "release"}
	all := append(slices.Clone(forward), compensations...)

	t.Run("crash points", func(t *testing.T) {
		got := crashPointsOf(withStepBefore(purchaseSaga, domain.StepConfirm, receiptStep(nil)))
		want := []CrashPoint{CrashAfterReserve, CrashAfterCreateOrder, CrashAfterCharge, "after_receipt",
			CrashInConfirmGroup, CrashAfterConfirm, CrashCompensateBegun, "compensate_after_void_receipt",
			CrashCompensateRefunded, CrashCompensateReleased}
		if !slices.Equal(got, want) {
			t.Fatalf("crash points %v, want %v", got, want)
		}
	})

	for _, s := range Strategies() {
		t.Run(string(s), func(t *testing.T) {
			t.Run("completes with a receipt", func(t *testing.T) {
				f := newReceiptFixture(t, s)
				r, err := f.buy(t)
				if err != nil {
					t.Fatal(err)
				}
				if got := f.steps.take(all...); !slices.Equal(got, forward) {
					t.Fatalf("ran %v, want %v", got, forward)
				}
				if amt, ok := f.receipts.issued[r.Saga.ID]; !ok || amt != 700 || f.receipts.voided[r.Saga.ID] {
					t.Fatalf("receipt of the completed saga: issued %v (%d), voided %v", ok, amt, f.receipts.voided[r.Saga.ID])
				}
			})

			t.Run("a failed receipt compensates in reverse order", func(t *testing.T) {
				f := newReceiptFixture(t, s)
				f.receipts.fail = errors.New("printer on fire")
				_, err := f.buy(t)
				var ce *CompensatedError
				if !errors.As(err, &ce) || ce.Saga.Reason != "receipt_failed" {
					t.Fatalf("got %v, want a purchase compensated for receipt_failed", err)
				}
				want := append(slices.Clone(forward[:4]), compensations...)
				if got := f.steps.take(all...); !slices.Equal(got, want) {
					t.Fatalf("ran %v, want %v", got, want)
				}
				if e, _ := f.pay.Entry(ce.Saga.ID); !e.Charged || !e.Refunded {
					t.Fatalf("payment of the compensated saga: %+v, want charged and refunded", e)
				}
				if !f.receipts.voided[ce.Saga.ID] {
					t.Fatal("the receipt was not voided")
				}
				f.stockBack(t)
			})

			t.Run("past the point of no return a failed receipt leaves the sale", func(t *testing.T) {
				f := newReceiptFixtureWith(t, s, func(steps []SagaStep, receipt SagaStep) []SagaStep {
					receipt.Compensation = nil // nothing after the point of no return is undone
					return append(slices.Clone(steps), receipt)
				})
				f.receipts.fail = errors.New("printer on fire")
				r, err := f.buy(t)
				if err != nil || r.Saga == nil || r.Saga.Status != domain.SagaCompleted {
					t.Fatalf("got %+v, %v; want the completed sale", r, err)
				}
				if got := f.steps.take(all...); !slices.Equal(got, append(slices.Clone(forward[:3]), "confirm", "receipt")) {
					t.Fatalf("ran %v", got)
				}
				if e, _ := f.pay.Entry(r.Saga.ID); !e.Charged || e.Refunded {
					t.Fatalf("payment of the sale: %+v, want charged and kept", e)
				}
			})

			t.Run("a receipts service away is named", func(t *testing.T) {
				f := newReceiptFixture(t, s)
				f.receipts.fail = fmt.Errorf("receipts: %w", domain.ErrUnavailable)
				_, err := f.buy(t)
				if dep, ok := ports.UnavailableDependency(err); !ok || dep != dependencyReceipts {
					t.Fatalf("got %v naming %q, want the receipts dependency named", err, dep)
				}
				f.stockBack(t)
			})

			t.Run("recovery voids a crashed saga's receipt", func(t *testing.T) {
				f := newReceiptFixture(t, s)
				f.crashAt = "after_receipt"
				if _, err := f.buy(t); !errors.Is(err, ErrCrashed) {
					t.Fatalf("got %v, want the crash", err)
				}
				f.crashAt = ""
				var id domain.SagaID
				for saga := range f.receipts.issued {
					id = saga
				}
				f.clock.Advance(time.Hour)
				f.steps.take()
				if n, err := f.app.RecoverStale(context.Background()); err != nil || n != 1 {
					t.Fatalf("recovered %d, %v; want the crashed saga", n, err)
				}
				if got := f.steps.take(all...); !slices.Equal(got, compensations) {
					t.Fatalf("recovery ran %v, want %v", got, compensations)
				}
				if !f.receipts.voided[id] {
					t.Fatal("recovery left the receipt standing")
				}
				if e, _ := f.pay.Entry(id); !e.Refunded {
					t.Fatalf("recovery left the charge: %+v", e)
				}
				f.stockBack(t)
			})
		})
	}
}

// TestTheDeclarationIsChecked: the engine refuses a declaration it cannot
// run safely, and the purchase saga's passes.
func TestTheDeclarationIsChecked(t *testing.T) {
	if err := checkSaga(purchaseSaga); err != nil {
		t.Fatalf("the purchase saga: %v", err)
	}
	receipt := receiptStep(nil)
	noCommit := slices.Clone(purchaseSaga)
	noCommit[1].firstCommit = false
	twoCommits := slices.Clone(purchaseSaga)
	twoCommits[2].firstCommit = true
	noEnd := slices.Clone(purchaseSaga[:3])
	noUndo := slices.Clone(purchaseSaga)
	noUndo[2].Compensation = &SagaCompensation{Name: "refund"}
	noAct := withStepBefore(purchaseSaga, domain.StepConfirm, SagaStep{Name: "nothing", Compensation: receipt.Compensation})
	for name, steps := range map[string][]SagaStep{
		"a step that cannot answer its failures before the first commit": withStepBefore(purchaseSaga, domain.StepCreateOrder, receipt),
		"a step that cannot answer its failures first":                   withStepBefore(purchaseSaga, domain.StepReserve, receipt),
		"no first commit":             noCommit,
		"two first commits":           twoCommits,
		"no point of no return":       noEnd,
		"a compensation without undo": noUndo,
		"a step without an action":    noAct,
	} {
		if err := checkSaga(steps); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
