package mysql_test

import (
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/mysql"
	"github.com/flashsale/flashsale/ports"
	"github.com/flashsale/flashsale/ports/porttest"
)

// The contract suites of ports/porttest, unchanged, against a primary +
// replica: every subtest starts from empty tables and a new DB.

func storeHarness(e *env) func(t *testing.T) porttest.StoreHarness {
	return func(t *testing.T) porttest.StoreHarness {
		db := e.fresh(t, nil)
		return porttest.StoreHarness{Sagas: db, Catalog: db, Orders: db, Outbox: db}
	}
}

func TestCatalogContract(t *testing.T) {
	e := requireEnv(t)
	porttest.Catalog(t, func(t *testing.T) ports.Catalog { return e.fresh(t, nil) })
}

func TestSagaStoreContract(t *testing.T) { porttest.SagaStore(t, storeHarness(requireEnv(t))) }

func TestOrderReaderContract(t *testing.T) { porttest.OrderReader(t, storeHarness(requireEnv(t))) }

func TestOutboxContract(t *testing.T) { porttest.Outbox(t, storeHarness(requireEnv(t))) }

func TestIdempotencyStoreContract(t *testing.T) {
	e := requireEnv(t)
	porttest.IdempotencyStore(t, func(t *testing.T) porttest.IdempotencyHarness {
		clock := newTestClock()
		db := e.fresh(t, func(o *mysql.Options) { o.Clock = clock })
		const ttl = 24 * time.Hour
		return porttest.IdempotencyHarness{Store: mysql.NewIdempotencyStore(db, ttl), TTL: ttl, Advance: clock.Advance}
	})
}
