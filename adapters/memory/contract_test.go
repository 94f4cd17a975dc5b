package memory_test

import (
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
	"github.com/flashsale/flashsale/ports/porttest"
)

// start is where every test clock begins; the contract suites use times
// from 2030 on, and nothing here must be pruned or expired before them.
var start = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func TestInventoryContract(t *testing.T) {
	porttest.Inventory(t, func(t *testing.T) porttest.InventoryHarness {
		inv := memory.NewInventory(memory.NewClock(start))
		return porttest.InventoryHarness{Inventory: inv, Loader: inv, Reaper: inv, Versioned: inv, Lookup: inv, Fresh: inv, Batch: inv, Lookups: inv}
	})
}

func TestLockerContract(t *testing.T) {
	porttest.Locker(t, func(t *testing.T) porttest.LockerHarness {
		clock := memory.NewClock(start)
		return porttest.LockerHarness{Locker: memory.NewLocker(clock), Advance: func(d time.Duration) { clock.Advance(d) }}
	})
}

func newStoreHarness(t *testing.T) porttest.StoreHarness {
	s := memory.NewStore(memory.NewClock(start))
	return porttest.StoreHarness{Sagas: s, Catalog: s, Orders: s, Outbox: s, Batch: s}
}

func TestCatalogContract(t *testing.T) {
	porttest.Catalog(t, func(t *testing.T) ports.Catalog { return memory.NewStore(memory.NewClock(start)) })
}

func TestSagaStoreContract(t *testing.T)   { porttest.SagaStore(t, newStoreHarness) }
func TestOrderReaderContract(t *testing.T) { porttest.OrderReader(t, newStoreHarness) }
func TestOutboxContract(t *testing.T)      { porttest.Outbox(t, newStoreHarness) }

func TestSagaBatchWriterContract(t *testing.T) { porttest.SagaBatchWriter(t, newStoreHarness) }

func TestProductCacheContract(t *testing.T) {
	porttest.ProductCache(t, func(t *testing.T) porttest.CacheHarness {
		clock := memory.NewClock(start)
		return porttest.CacheHarness{Cache: memory.NewProductCache(clock), Advance: func(d time.Duration) { clock.Advance(d) }}
	})
}

func TestEventPublisherContract(t *testing.T) {
	porttest.EventPublisher(t, func(t *testing.T) porttest.PublisherHarness {
		log := memory.NewEventLog()
		return porttest.PublisherHarness{
			Publisher: log,
			Delivered: func(t *testing.T, atLeast int) []domain.Event { return log.Deliveries() },
		}
	})
}

func TestIDsContract(t *testing.T) {
	porttest.IDs(t, func(t *testing.T) ports.IDs { return memory.NewIDs("s") })
}
