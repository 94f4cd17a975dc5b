package redis

import (
	"encoding/json"
	"time"

	"github.com/flashsale/flashsale/domain"
)

// cachedProduct is the product cache's entry format, this adapter's own:
// a change of domain.Product changes it only through the conversions
// below, and an entry written by another version that does not decode is
// a miss (ProductCache.Get).
type cachedProduct struct {
	ID         domain.ProductID `json:"id"`
	Name       string           `json:"name"`
	PriceMinor int64            `json:"priceMinor"`
	Stock      int64            `json:"stock"`
	Version    int64            `json:"version"`
	UpdatedAt  time.Time        `json:"updatedAt"`
}

func encodeCachedProduct(p domain.Product) ([]byte, error) {
	return json.Marshal(cachedProduct{
		ID: p.ID, Name: p.Name, PriceMinor: p.PriceMinor, Stock: p.Stock, Version: p.Version, UpdatedAt: p.UpdatedAt,
	})
}

func decodeCachedProduct(raw []byte) (domain.Product, error) {
	var c cachedProduct
	if err := json.Unmarshal(raw, &c); err != nil {
		return domain.Product{}, err
	}
	return domain.Product{
		ID: c.ID, Name: c.Name, PriceMinor: c.PriceMinor, Stock: c.Stock, Version: c.Version, UpdatedAt: c.UpdatedAt,
	}, nil
}
