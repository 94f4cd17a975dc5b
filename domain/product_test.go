package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/flashsale/flashsale/domain"
)

func TestIDValidation(t *testing.T) {
	ok := []string{"1", "123", "p-1", "A.b_c-9", "...", ".a", strings.Repeat("x", domain.MaxIDLength)}
	bad := []string{"", ".", "..", " ", "a b", "../x", "1;DROP", "é", strings.Repeat("x", domain.MaxIDLength+1), "a\x00"}
	for _, id := range ok {
		if err := domain.ProductID(id).Validate(); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range bad {
		err := domain.ProductID(id).Validate()
		var ve *domain.ValidationError
		if !errors.Is(err, domain.ErrInvalidInput) || !errors.As(err, &ve) || ve.Field != "productId" {
			t.Errorf("%q: %v, want a productId ValidationError", id, err)
		}
	}
}

func TestPurchaseRequestValidate(t *testing.T) {
	cases := []struct {
		req   domain.PurchaseRequest
		field string
	}{
		{domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""},
		{domain.PurchaseRequest{ProductID: "p", Qty: 10}, ""},
		{domain.PurchaseRequest{ProductID: "p", Qty: 11}, "qty"},
		{domain.PurchaseRequest{ProductID: "p", Qty: 0}, "qty"},
		{domain.PurchaseRequest{ProductID: "p", Qty: -3}, "qty"},
		{domain.PurchaseRequest{ProductID: "", Qty: 1}, "productId"},
	}
	for _, tc := range cases {
		err := tc.req.Validate(10)
		var ve *domain.ValidationError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.req, err)
		case tc.field != "" && (!errors.As(err, &ve) || ve.Field != tc.field):
			t.Errorf("%+v: %v, want an error on %s", tc.req, err, tc.field)
		}
	}
}

func TestCanReserve(t *testing.T) {
	l := domain.StockLevel{Stock: 10, Reserved: 7}
	if l.Available() != 3 {
		t.Fatal(l.Available())
	}
	if err := l.CanReserve(3); err != nil {
		t.Fatal(err)
	}
	if err := l.CanReserve(4); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatalf("%v", err)
	}
	if err := l.CanReserve(0); !errors.Is(err, domain.ErrInvalidInput) {
		t.Fatalf("%v", err)
	}
}

func TestSupplyApply(t *testing.T) {
	s := domain.Supply{ID: "p", Name: "Phone", PriceMinor: 500, AddStock: 3}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := s.Apply(domain.Product{}, false, t0)
	if err != nil || p.ID != "p" || p.Stock != 3 || p.Name != "Phone" || p.PriceMinor != 500 || !p.UpdatedAt.Equal(t0) {
		t.Fatalf("create: %+v %v", p, err)
	}
	p, err = domain.Supply{ID: "p", AddStock: 2}.Apply(p, true, t0)
	if err != nil || p.Stock != 5 || p.Name != "Phone" || p.PriceMinor != 500 {
		t.Fatalf("restock keeps name and price: %+v %v", p, err)
	}
	for name, bad := range map[string]domain.Supply{
		"negative stock": {ID: "p", AddStock: -1},
		"huge stock":     {ID: "p", AddStock: domain.MaxSupplyPerCall + 1},
		"negative price": {ID: "p", PriceMinor: -1},
		"long name":      {ID: "p", Name: strings.Repeat("n", domain.MaxNameLength+1)},
		"bad id":         {ID: "a b"},
	} {
		if err := bad.Validate(); !errors.Is(err, domain.ErrInvalidInput) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := (domain.Supply{ID: "q", AddStock: 1}).Apply(domain.Product{}, false, t0); !errors.Is(err, domain.ErrInvalidInput) {
		t.Errorf("a new product without a name: %v", err)
	}
	if _, err := (domain.Supply{ID: "q", Name: "Q", AddStock: 1}).Apply(domain.Product{}, false, t0); !errors.Is(err, domain.ErrInvalidInput) {
		t.Errorf("a new product without a price: %v", err)
	}
}
