package mysql_test

import (
	"testing"

	"github.com/flashsale/flashsale/ports"
	"github.com/flashsale/flashsale/ports/porttest"
)

// The contract suites of ports/porttest, unchanged, against a primary +
// replica: every subtest starts from empty tables and a new DB.

func storeHarness(e *env) func(t *testing.T) porttest.StoreHarness {
	return func(t *testing.T) porttest.StoreHarness {
		db := e.fresh(t, nil)
		return porttest.StoreHarness{Sagas: db, Catalog: db, Orders: db, Outbox: db, Batch: db}
	}
}

func TestCatalogContract(t *testing.T) {
	e := requireEnv(t)
	porttest.Catalog(t, func(t *testing.T) ports.Catalog { return e.fresh(t, nil) })
}

func TestSagaStoreContract(t *testing.T) { porttest.SagaStore(t, storeHarness(requireEnv(t))) }

func TestOrderReaderContract(t *testing.T) { porttest.OrderReader(t, storeHarness(requireEnv(t))) }

func TestOutboxContract(t *testing.T) { porttest.Outbox(t, storeHarness(requireEnv(t))) }

func TestSagaBatchWriterContract(t *testing.T) {
	porttest.SagaBatchWriter(t, storeHarness(requireEnv(t)))
}
