package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/flashsale/flashsale/adapters/httpapi"
	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/client"
	"github.com/flashsale/flashsale/domain"
)

const adminToken = "client-test-admin-token"

// server is the real HTTP adapter over the memory adapters.
func server(t *testing.T) string {
	t.Helper()
	gin.SetMode(gin.TestMode)
	clock := memory.NewClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	store := memory.NewStore(clock)
	pay, err := payment.NewSimulated(payment.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Deps{
		Clock: clock, IDs: memory.NewIDs("id"), Inventory: memory.NewInventory(clock), Locker: memory.NewLocker(clock),
		Catalog: store, Cache: memory.NewProductCache(clock), Sagas: store, Orders: store, Outbox: store,
		Publisher: memory.NewEventLog(), Payments: pay,
	}, app.Config{}, app.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(a, httpapi.Options{AdminToken: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestClientBuysAndReadsTheOrder: the generated client speaks the API as
// served: supply, buy with a key, replay the key, read the order, and a
// sold-out purchase's problem decoded as one.
func TestClientBuysAndReadsTheOrder(t *testing.T) {
	ctx := context.Background()
	c, err := client.NewClientWithResponses(server(t))
	if err != nil {
		t.Fatal(err)
	}
	admin := func(_ context.Context, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+adminToken)
		return nil
	}
	name, price, stock := "Widget", 1500, 1
	sup, err := c.SupplyProductWithResponse(ctx, client.SupplyProductJSONRequestBody{
		Id: client.SupplyIDOf("w-1"), Name: &name, PriceMinor: &price, AddStock: &stock}, admin)
	if err != nil || sup.JSON200 == nil {
		t.Fatalf("supply: %v, status %d: %s", err, sup.StatusCode(), sup.Body)
	}

	key := "client-test-key-1"
	body := client.PurchaseJSONRequestBody{ProductId: client.ProductIDOf("w-1"), Qty: 1}
	buy, err := c.PurchaseWithResponse(ctx, &client.PurchaseParams{IdempotencyKey: &key}, body)
	if err != nil {
		t.Fatal(err)
	}
	if buy.JSON201 == nil {
		t.Fatalf("purchase: status %d: %s", buy.StatusCode(), buy.Body)
	}
	if buy.JSON201.Status != "CONFIRMED" || buy.JSON201.AmountMinor != 1500 || buy.JSON201.OrderId == "" {
		t.Fatalf("purchase answered %+v", *buy.JSON201)
	}

	again, err := c.PurchaseWithResponse(ctx, &client.PurchaseParams{IdempotencyKey: &key}, body)
	if err != nil || again.JSON201 == nil || again.JSON201.OrderId != buy.JSON201.OrderId {
		t.Fatalf("the key's replay: %v, status %d: %s", err, again.StatusCode(), again.Body)
	}
	if got := again.HTTPResponse.Header.Get("Idempotent-Replayed"); got != "true" {
		t.Fatalf("the replay's Idempotent-Replayed = %q", got)
	}

	order, err := c.GetOrderWithResponse(ctx, buy.JSON201.OrderId)
	if err != nil || order.JSON200 == nil {
		t.Fatalf("get order: %v, status %d: %s", err, order.StatusCode(), order.Body)
	}
	if o := order.JSON200.Order; o.Status != client.OrderStatus(domain.OrderConfirmed) || o.ProductId != "w-1" || o.Qty != 1 {
		t.Fatalf("the order read back: %+v", o)
	}

	sold, err := c.PurchaseWithResponse(ctx, nil, body)
	if err != nil || sold.ApplicationproblemJSON409 == nil {
		t.Fatalf("sold out: %v, status %d: %s", err, sold.StatusCode(), sold.Body)
	}
	if sold.ApplicationproblemJSON409.Code != "insufficient_stock" {
		t.Fatalf("sold out answered %+v", *sold.ApplicationproblemJSON409)
	}
}
