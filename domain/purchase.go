package domain

// PurchaseRequest is a buyer's request: qty units of a product.
type PurchaseRequest struct {
	ProductID ProductID
	Qty       int64
}

// Validate checks r against the per-order maximum.
func (r PurchaseRequest) Validate(maxQty int64) error {
	if err := r.ProductID.Validate(); err != nil {
		return err
	}
	if r.Qty <= 0 {
		return Invalid("qty", "must be a positive integer")
	}
	if r.Qty > maxQty {
		return Invalid("qty", "must be at most %d per order", maxQty)
	}
	return nil
}
