package domain

import "time"

// ProductID names a product. It is 1 to 64 characters of [A-Za-z0-9._-].
type ProductID string

// MaxIDLength bounds every identifier the service accepts from outside.
const MaxIDLength = 64

// Validate reports whether id is well formed.
func (id ProductID) Validate() error { return validateID("productId", string(id)) }

func validateID(field, s string) error {
	if s == "" {
		return Invalid(field, "must not be empty")
	}
	if len(s) > MaxIDLength {
		return Invalid(field, "must be at most %d characters", MaxIDLength)
	}
	if s == "." || s == ".." {
		// Dot segments: clients and proxies remove them from a URL path
		// (RFC 3986, 5.2.4), so /products/.. could never be read back.
		return Invalid(field, "must not be %q", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return Invalid(field, "may contain only letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

// Product is a sellable item. Stock is the durable count on hand: everything
// ever supplied minus everything confirmed sold. Reservations are not
// subtracted here; the inventory gate tracks them.
type Product struct {
	ID         ProductID
	Name       string
	PriceMinor int64 // price in minor units (cents)
	Stock      int64
	Version    int64
	UpdatedAt  time.Time
}

// MaxNameLength bounds a product name.
const MaxNameLength = 200

// Supply describes an admin's create-or-restock request: it creates the
// product when it does not exist (Name and PriceMinor required) and adds
// AddStock to its stock.
type Supply struct {
	ID         ProductID
	Name       string // empty keeps the current name
	PriceMinor int64  // 0 keeps the current price
	AddStock   int64
}

// MaxSupplyPerCall bounds one restock so stock arithmetic cannot overflow.
const MaxSupplyPerCall = 1_000_000_000

// Validate checks the fields that do not depend on whether the product exists.
func (s Supply) Validate() error {
	if err := s.ID.Validate(); err != nil {
		return err
	}
	if len(s.Name) > MaxNameLength {
		return Invalid("name", "must be at most %d characters", MaxNameLength)
	}
	if s.PriceMinor < 0 {
		return Invalid("priceMinor", "must not be negative")
	}
	if s.AddStock < 0 || s.AddStock > MaxSupplyPerCall {
		return Invalid("addStock", "must be between 0 and %d", MaxSupplyPerCall)
	}
	return nil
}

// Apply returns p with s applied. exists says whether p is a stored product;
// a new product needs a name and a positive price.
func (s Supply) Apply(p Product, exists bool, now time.Time) (Product, error) {
	if !exists {
		if s.Name == "" {
			return Product{}, Invalid("name", "is required for a new product")
		}
		if s.PriceMinor <= 0 {
			return Product{}, Invalid("priceMinor", "must be positive for a new product")
		}
		p = Product{ID: s.ID}
	}
	if s.Name != "" {
		p.Name = s.Name
	}
	if s.PriceMinor > 0 {
		p.PriceMinor = s.PriceMinor
	}
	p.Stock += s.AddStock
	p.UpdatedAt = now
	return p, nil
}

// Sell takes qty units out of the durable stock of p and bumps its version.
// It returns ErrInsufficientStock, changing nothing, when the stock would go
// below zero (I1). Stores apply it, or its SQL equivalent
// (stock = stock - qty WHERE stock >= qty), in the same write as the sales.
func (p *Product) Sell(qty int64, now time.Time) error {
	if qty < 0 {
		return Invalid("qty", "must not be negative")
	}
	if p.Stock < qty {
		return ErrInsufficientStock
	}
	p.Stock -= qty
	p.Version++
	p.UpdatedAt = now
	return nil
}
