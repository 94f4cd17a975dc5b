// Package client is a typed Go client of the flashsale REST API, generated
// from the service's OpenAPI document (adapters/httpapi/openapi.json) by
// oapi-codegen; do not edit client.gen.go, run `make generate`.
//
// A purchase with an Idempotency-Key, retried safely with the same key:
//
//	c, err := client.NewClientWithResponses("https://shop.example")
//	key := "order-7f3a" // one per purchase intent, reused on every retry
//	res, err := c.PurchaseWithResponse(ctx, &client.PurchaseParams{IdempotencyKey: &key},
//		client.PurchaseJSONRequestBody{ProductId: client.ProductIDOf("p-1"), Qty: 1})
//	switch {
//	case err != nil: // no answer: retry with the same key
//	case res.JSON201 != nil: // the order, CONFIRMED
//	case res.ApplicationproblemJSON409 != nil: // e.g. insufficient_stock
//	}
package client

// The generator is a tool of the module (go.mod's tool directive), so its
// version is go.mod's and it runs offline.
//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../adapters/httpapi/openapi.json
