package memory_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/domain"
)

// The background round calls Store.Stale and Inventory.Expired every
// second. These benchmarks run one such call on an idle process that has
// finished many purchases and has 10 in flight: its cost must not grow
// with the finished ones (compare the sub-benchmarks' ns/op).

var finishedCounts = []int{0, 10_000, 100_000}

func BenchmarkStaleIdle(b *testing.B) {
	for _, finished := range finishedCounts {
		b.Run(fmt.Sprintf("finished=%d", finished), func(b *testing.B) {
			// No retention: every finished saga stays, the worst case.
			s := memory.NewStore(memory.NewClock(start))
			ctx := b.Context()
			if _, err := s.Supply(ctx, domain.Supply{ID: "p-1", Name: "p", PriceMinor: 100, AddStock: int64(finished) + 1}); err != nil {
				b.Fatal(err)
			}
			for i := range finished + 10 {
				sg, err := domain.Start(domain.StartParams{
					ID: domain.SagaID(fmt.Sprintf("s-%d", i)), OrderID: domain.OrderID(fmt.Sprintf("o-%d", i)),
					ProductID: "p-1", Qty: 1, StartedAt: start, ReservedAt: start, Deadline: start.Add(time.Minute),
					LeaseOwner: "a", LeaseUntil: start.Add(time.Hour), Now: start,
				})
				if err != nil {
					b.Fatal(err)
				}
				if i < finished {
					if err := sg.Complete(start); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Create(ctx, sg); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Stale(ctx, start, 100); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkExpiredIdle(b *testing.B) {
	for _, finished := range finishedCounts {
		b.Run(fmt.Sprintf("finished=%d", finished), func(b *testing.B) {
			inv := memory.NewInventory(memory.NewClock(start)) // the 24h default retention
			ctx := b.Context()
			if err := inv.SetStock(ctx, "p-1", int64(finished)+10); err != nil {
				b.Fatal(err)
			}
			for i := range finished + 10 {
				id := domain.SagaID(fmt.Sprintf("s-%d", i))
				if err := inv.Reserve(ctx, domain.Reservation{SagaID: id, ProductID: "p-1", Qty: 1, Deadline: start.Add(time.Hour)}); err != nil {
					b.Fatal(err)
				}
				if i < finished {
					if err := inv.Confirm(ctx, "p-1", id); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := inv.Expired(ctx, start, 100); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
