package client

// The API takes a product ID as a string, or as an integer as the seed's
// clients send it, so the generated types are unions; these name a product
// by its string ID. The From methods only marshal a string: they cannot
// fail.

// ProductIDOf is the productId of a purchase request.
func ProductIDOf(id string) PurchaseRequest_ProductId {
	var p PurchaseRequest_ProductId
	_ = p.FromPurchaseRequestProductId0(id)
	return p
}

// SupplyIDOf is the id of a supply request (POST /products).
func SupplyIDOf(id string) Supply_Id {
	var s Supply_Id
	_ = s.FromSupplyId0(id)
	return s
}
