package redis

import (
	"context"

	"github.com/flashsale/flashsale/domain"
)

// KeysOf returns every key a script of inv touches for product and saga:
// level, record, deadlines and an AddStock marker.
func (inv *Inventory) KeysOf(p domain.ProductID, s domain.SagaID) []string {
	return append(inv.reservationKeys(p, s), inv.supplyKey(p, "op"))
}

// ProductsKey is the key of inv's products set.
func (inv *Inventory) ProductsKey() string { return inv.productsKey() }

// AddStockOp is AddStock under a given operation ID, so a test can replay
// exactly what a transport retry sends.
func (inv *Inventory) AddStockOp(ctx context.Context, p domain.ProductID, delta int64, opID string) error {
	return inv.addStock(ctx, "add stock", p, delta, opID)
}

// StatusError exposes the status mapping to the tests.
var StatusError = statusError

// TranslateErr exposes the error classification to the tests.
var TranslateErr = translateErr

// ReserveFreshNonce is ReserveFresh under a given nonce, so a test can
// replay exactly what a transport retry of one call sends.
func (inv *Inventory) ReserveFreshNonce(ctx context.Context, r domain.Reservation, nonce string) (bool, error) {
	return inv.reserve(ctx, r, "", nonce)
}
