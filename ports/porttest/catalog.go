package porttest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// Catalog checks the ports.Catalog contract.
func Catalog(t *testing.T, newCatalog func(t *testing.T) ports.Catalog) {
	run := func(name string, test func(t *testing.T, c ports.Catalog)) {
		t.Run(name, func(t *testing.T) {
			c := newCatalog(t)
			if c == nil {
				t.Fatal("factory returned no Catalog")
			}
			test(t, c)
		})
	}

	run("Supply of a new product creates it and returns the stored product", func(t *testing.T, c ports.Catalog) {
		got, err := c.Supply(t.Context(), domain.Supply{ID: "p-1", Name: "Kettle", PriceMinor: 2599, AddStock: 7})
		must(t, err, "supply")
		if got.ID != "p-1" || got.Name != "Kettle" || got.PriceMinor != 2599 || got.Stock != 7 {
			t.Fatalf("supply returned %+v", got)
		}
		stored, err := c.Product(t.Context(), "p-1")
		must(t, err, "product")
		if stored != got {
			t.Fatalf("stored %+v, supply returned %+v", stored, got)
		}
	})

	run("Supply of a new product without a name or price returns ErrInvalidInput and stores nothing", func(t *testing.T, c ports.Catalog) {
		_, err := c.Supply(t.Context(), domain.Supply{ID: "p-1", PriceMinor: 100, AddStock: 1})
		wantErr(t, err, domain.ErrInvalidInput, "supply without a name")
		_, err = c.Supply(t.Context(), domain.Supply{ID: "p-1", Name: "Kettle", AddStock: 1})
		wantErr(t, err, domain.ErrInvalidInput, "supply without a price")
		_, err = c.Product(t.Context(), "p-1")
		wantErr(t, err, domain.ErrProductNotFound, "product after refused supplies")
	})

	run("Supply of an invalid request returns ErrInvalidInput and changes nothing", func(t *testing.T, c ports.Catalog) {
		before, err := c.Supply(t.Context(), domain.Supply{ID: "p-1", Name: "Kettle", PriceMinor: 100, AddStock: 5})
		must(t, err, "supply")
		for _, s := range []domain.Supply{
			{ID: "p-1", AddStock: -1},
			{ID: "p-1", PriceMinor: -5},
			{ID: "p 1", Name: "Kettle", PriceMinor: 100, AddStock: 1},
			{ID: "", Name: "Kettle", PriceMinor: 100, AddStock: 1},
		} {
			_, err := c.Supply(t.Context(), s)
			wantErr(t, err, domain.ErrInvalidInput, fmt.Sprintf("supply %+v", s))
		}
		after, err := c.Product(t.Context(), "p-1")
		must(t, err, "product")
		if after != before {
			t.Fatalf("refused supplies changed the product: %+v became %+v", before, after)
		}
	})

	run("Supply of an existing product restocks it, keeping name and price unless given", func(t *testing.T, c ports.Catalog) {
		first, err := c.Supply(t.Context(), domain.Supply{ID: "p-1", Name: "Kettle", PriceMinor: 100, AddStock: 5})
		must(t, err, "create")
		second, err := c.Supply(t.Context(), domain.Supply{ID: "p-1", AddStock: 3})
		must(t, err, "restock")
		if second.Name != "Kettle" || second.PriceMinor != 100 || second.Stock != 8 {
			t.Fatalf("after a restock of 3: %+v", second)
		}
		if second.Version <= first.Version {
			t.Fatalf("version went from %d to %d, want it to rise", first.Version, second.Version)
		}
		third, err := c.Supply(t.Context(), domain.Supply{ID: "p-1", Name: "Big kettle", PriceMinor: 150})
		must(t, err, "rename and reprice")
		if third.Name != "Big kettle" || third.PriceMinor != 150 || third.Stock != 8 {
			t.Fatalf("after renaming and repricing: %+v", third)
		}
	})

	run("Product of an unknown ID returns ErrProductNotFound", func(t *testing.T, c ports.Catalog) {
		_, err := c.Product(t.Context(), "p-missing")
		wantErr(t, err, domain.ErrProductNotFound, "product")
	})

	run("Products returns every product ordered by ID", func(t *testing.T, c ports.Catalog) {
		ps, err := c.Products(t.Context())
		must(t, err, "products of an empty catalog")
		if len(ps) != 0 {
			t.Fatalf("empty catalog listed %v", ps)
		}
		for _, id := range []domain.ProductID{"p-c", "p-a", "p-b"} {
			_, err := c.Supply(t.Context(), domain.Supply{ID: id, Name: string(id), PriceMinor: 100, AddStock: 1})
			must(t, err, "supply "+string(id))
		}
		ps, err = c.Products(t.Context())
		must(t, err, "products")
		var ids []domain.ProductID
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		if want := []domain.ProductID{"p-a", "p-b", "p-c"}; !slices.Equal(ids, want) {
			t.Fatalf("products listed %v, want %v", ids, want)
		}
	})

	run("A call with a done context returns ErrUnavailable and changes nothing", func(t *testing.T, c ports.Catalog) {
		done := doneContext(t)
		_, err := c.Supply(done, domain.Supply{ID: "p-1", Name: "Kettle", PriceMinor: 100, AddStock: 1})
		wantUnavailable(t, err, "supply")
		_, err = c.Product(t.Context(), "p-1")
		wantErr(t, err, domain.ErrProductNotFound, "product after a refused supply")
		_, err = c.Product(done, "p-1")
		wantUnavailable(t, err, "product")
		_, err = c.Products(done)
		wantUnavailable(t, err, "products")
	})

	run("race: 50 restocks at once lose no update", func(t *testing.T, c ports.Catalog) {
		_, err := c.Supply(t.Context(), domain.Supply{ID: "p-1", Name: "Kettle", PriceMinor: 100, AddStock: 10})
		must(t, err, "create")
		errs := race(50, func(int) error {
			_, err := c.Supply(t.Context(), domain.Supply{ID: "p-1", AddStock: 1})
			return err
		})
		// The contract allows a version check to turn a lost race into an
		// error; it never allows a success that is not counted.
		ok, _, other := countErrs(errs, domain.ErrConflict)
		if len(other) > 0 || ok == 0 {
			t.Fatalf("%d restocks succeeded, other errors %v", ok, other)
		}
		p, err := c.Product(t.Context(), "p-1")
		must(t, err, "product")
		if p.Stock != int64(10+ok) {
			t.Fatalf("stock %d after %d successful restocks of 1 onto 10", p.Stock, ok)
		}
	})
}
