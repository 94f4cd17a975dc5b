package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/client"
)

// The typed client (client/, generated from the OpenAPI document) through
// nginx: a keyed purchase, its replay, the order and the saga's timeline,
// and a sold-out answer as a problem.
func TestTypedClientThroughNginx(t *testing.T) {
	s := needStack(t)
	product := s.newProduct(t, "typed-client", 1)
	c, err := client.NewClientWithResponses(nginxBase, client.WithHTTPClient(s.client))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	key := fmt.Sprintf("%s-typed-key", product)
	body := client.PurchaseJSONRequestBody{ProductId: client.ProductIDOf(product), Qty: 1}
	buy, err := c.PurchaseWithResponse(ctx, &client.PurchaseParams{IdempotencyKey: &key}, body)
	if err != nil {
		t.Fatal(err)
	}
	if buy.JSON201 == nil {
		t.Fatalf("purchase: %d %s", buy.StatusCode(), buy.Body)
	}
	if buy.JSON201.Status != "CONFIRMED" || buy.JSON201.SagaId != string(app.SagaIDForKey(key)) {
		t.Fatalf("purchase answered %+v", *buy.JSON201)
	}

	again, err := c.PurchaseWithResponse(ctx, &client.PurchaseParams{IdempotencyKey: &key}, body)
	if err != nil || again.JSON201 == nil || again.JSON201.OrderId != buy.JSON201.OrderId {
		t.Fatalf("the replay: %v %d %s", err, again.StatusCode(), again.Body)
	}

	order, err := c.GetOrderWithResponse(ctx, buy.JSON201.OrderId)
	if err != nil || order.JSON200 == nil {
		t.Fatalf("GET /orders: %v %d %s", err, order.StatusCode(), order.Body)
	}
	if order.JSON200.Order.Status != "CONFIRMED" || order.JSON200.Order.ProductId != product {
		t.Fatalf("the order read back: %+v", order.JSON200.Order)
	}

	events, err := c.SagaEventsWithResponse(ctx, buy.JSON201.SagaId)
	if err != nil || events.JSON200 == nil {
		t.Fatalf("GET /sagas/{id}/events: %v %d %s", err, events.StatusCode(), events.Body)
	}
	if n := len(events.JSON200.Events); n == 0 || events.JSON200.Events[n-1].Type != client.OrderConfirmed {
		t.Fatalf("the saga's timeline: %+v", events.JSON200.Events)
	}

	sold, err := c.PurchaseWithResponse(ctx, nil, body)
	if err != nil || sold.StatusCode() != http.StatusConflict || sold.ApplicationproblemJSON409 == nil ||
		sold.ApplicationproblemJSON409.Code != "insufficient_stock" {
		t.Fatalf("sold out: %v %d %s", err, sold.StatusCode(), sold.Body)
	}
}
