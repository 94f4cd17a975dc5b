package memory_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/domain"
)

func startSaga(t *testing.T, id string, product domain.ProductID, qty int64) *domain.Saga {
	t.Helper()
	s, err := domain.Start(domain.StartParams{
		ID: domain.SagaID(id), OrderID: domain.OrderID("o-" + id), ProductID: product, Qty: qty,
		AmountMinor: 100 * qty, StartedAt: start, ReservedAt: start, Deadline: start.Add(time.Minute),
		LeaseOwner: "a", LeaseUntil: start.Add(time.Minute), Now: start,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newSeededStore(t *testing.T, stock int64) *memory.Store {
	t.Helper()
	s := memory.NewStore(memory.NewClock(start))
	if _, err := s.Supply(t.Context(), domain.Supply{ID: "p-1", Name: "Kettle", PriceMinor: 100, AddStock: stock}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreVersionsStartAtOneAndRiseByOnePerWrite(t *testing.T) {
	s := newSeededStore(t, 10)
	if err := s.Create(t.Context(), startSaga(t, "s-1", "p-1", 1)); err != nil {
		t.Fatal(err)
	}
	for want := int64(1); want <= 3; want++ {
		got, err := s.Saga(t.Context(), "s-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != want || got.Order.Version != want {
			t.Fatalf("saga version %d, order version %d, want %d", got.Version, got.Order.Version, want)
		}
		if _, err := s.Update(t.Context(), "s-1", func(*domain.Saga) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.Product(t.Context(), "p-1")
	if err != nil || p.Version != 1 {
		t.Fatalf("new product version %d (%v), want 1", p.Version, err)
	}
}

func TestStoreUpdateRefusesRewritingIdentityOrHistory(t *testing.T) {
	s := newSeededStore(t, 10)
	if err := s.Create(t.Context(), startSaga(t, "s-1", "p-1", 1)); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		fn   func(*domain.Saga) error
		want error
	}{
		"rename":          {func(g *domain.Saga) error { g.ID = "s-2"; return nil }, domain.ErrInvalidInput},
		"shrink timeline": {func(g *domain.Saga) error { g.Events = g.Events[:1]; return nil }, domain.ErrInvalidTransition},
	} {
		_, err := s.Update(t.Context(), "s-1", tc.fn)
		if !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", name, err, tc.want)
		}
	}
	got, _ := s.Saga(t.Context(), "s-1")
	if got.Version != 1 || len(got.Events) != 3 {
		t.Fatalf("refused updates stored version %d with %d events", got.Version, len(got.Events))
	}
	if _, err := s.Saga(t.Context(), "s-2"); !errors.Is(err, domain.ErrSagaNotFound) {
		t.Fatalf("renamed saga exists: %v", err)
	}
}

func TestStoreCreateRefusesNilSagasAndTakenOrderIDs(t *testing.T) {
	s := newSeededStore(t, 10)
	if err := s.Create(t.Context(), nil); !errors.Is(err, domain.ErrInvalidInput) {
		t.Fatalf("create nil: %v", err)
	}
	if err := s.Create(t.Context(), startSaga(t, "s-1", "p-1", 1)); err != nil {
		t.Fatal(err)
	}
	thief := startSaga(t, "s-2", "p-1", 1)
	thief.Order.ID = "o-s-1"
	if err := s.Create(t.Context(), thief); !errors.Is(err, domain.ErrDuplicate) {
		t.Fatalf("create with another saga's order ID: %v", err)
	}
	if _, err := s.Saga(t.Context(), "s-2"); !errors.Is(err, domain.ErrSagaNotFound) {
		t.Fatalf("refused saga was stored: %v", err)
	}
	owner, err := s.SagaOfOrder(t.Context(), "o-s-1")
	if err != nil || owner.ID != "s-1" {
		t.Fatalf("order o-s-1 now belongs to %v (%v)", owner, err)
	}
}

func TestStoreCreateOfAConfirmedOrderDecrementsStock(t *testing.T) {
	s := newSeededStore(t, 10)
	g := startSaga(t, "s-1", "p-1", 4)
	if err := g.Complete(start); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Product(t.Context(), "p-1"); p.Stock != 6 {
		t.Fatalf("stock %d after creating a confirmed order of 4 from 10", p.Stock)
	}
	short := startSaga(t, "s-2", "p-1", 7)
	if err := short.Complete(start); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(t.Context(), short); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatalf("create of a confirmed order of 7 from 6: %v", err)
	}
}

func TestStoreConfirmingAnOrderOfAnUnknownProductStoresNothing(t *testing.T) {
	s := newSeededStore(t, 10)
	if err := s.Create(t.Context(), startSaga(t, "s-1", "p-gone", 1)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Update(t.Context(), "s-1", func(g *domain.Saga) error { return g.Complete(start) })
	if !errors.Is(err, domain.ErrProductNotFound) {
		t.Fatalf("confirm of an unknown product: %v", err)
	}
	if got, _ := s.Saga(t.Context(), "s-1"); got.Status != domain.SagaRunning || got.Version != 1 {
		t.Fatalf("refused confirmation stored %s at version %d", got.Status, got.Version)
	}
}

func TestStoreSagasListsCopiesByID(t *testing.T) {
	s := newSeededStore(t, 10)
	for _, id := range []string{"s-c", "s-a", "s-b"} {
		if err := s.Create(t.Context(), startSaga(t, id, "p-1", 1)); err != nil {
			t.Fatal(err)
		}
	}
	all := s.Sagas()
	var ids []domain.SagaID
	for _, g := range all {
		ids = append(ids, g.ID)
	}
	if want := []domain.SagaID{"s-a", "s-b", "s-c"}; !slices.Equal(ids, want) {
		t.Fatalf("sagas %v, want %v", ids, want)
	}
	all[0].Status = domain.SagaCompleted
	all[0].Events[0].Type = "Tampered"
	if again := s.Sagas()[0]; again.Status != domain.SagaRunning || again.Events[0].Type != domain.EventSagaStarted {
		t.Fatalf("changing a listed saga changed the store: %+v", again)
	}
}

func TestStoreOutboxKeepsOrderAcrossCompaction(t *testing.T) {
	s := newSeededStore(t, 100)
	ctx := t.Context()
	for _, id := range []string{"s-1", "s-2", "s-3"} {
		if err := s.Create(ctx, startSaga(t, id, "p-1", 1)); err != nil {
			t.Fatal(err)
		}
	}
	// Publish out of order: the head (s-1) last, so compaction happens in
	// one go and must not lose or reorder the tail.
	if err := s.MarkPublished(ctx, []string{"s-2-001", "s-2-002", "s-2-003", "s-1-002"}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkPublished(ctx, []string{"s-1-001", "s-1-003", "unknown-id"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "s-1", func(g *domain.Saga) error { return g.Complete(start) }); err != nil {
		t.Fatal(err)
	}
	es, err := s.Unpublished(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	if want := []string{"s-3-001", "s-3-002", "s-3-003", "s-1-004", "s-1-005"}; !slices.Equal(ids, want) {
		t.Fatalf("unpublished %v, want %v", ids, want)
	}
	// Marking compacted events again is still a harmless no-op; s-3-002
	// takes s-3-001 with it.
	if err := s.MarkPublished(ctx, []string{"s-1-001", "s-3-002"}); err != nil {
		t.Fatal(err)
	}
	es, _ = s.Unpublished(ctx, 100)
	if len(es) != 3 || es[0].ID != "s-3-003" || es[1].ID != "s-1-004" {
		t.Fatalf("unpublished after marking s-3-002: %v", es)
	}
}
