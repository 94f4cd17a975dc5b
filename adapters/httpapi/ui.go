package httpapi

import (
	"cmp"
	"context"
	_ "embed"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// The live sale page, GET /ui/: plain HTML, one script and one style
// sheet, all served from here. The script polls GET /ui/stats every
// second and looks orders up with GET /orders/{id}.
var (
	//go:embed ui/index.html
	uiPage []byte
	//go:embed ui/app.js
	uiScript []byte
	//go:embed ui/app.css
	uiStyle []byte
)

// uiCSP keeps GET /ui/ to this service's own script, style sheet and
// JSON: no inline script or style, no other origin, no form posts (the
// lookup box is handled by the script), no framing.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const (
	// uiMaxProducts caps the products the page shows: the most recently
	// changed first (a sale changes its product), so the ones selling.
	uiMaxProducts = 20
	// uiCatalogTTL is how long the page's product choice is kept: the
	// catalog listing reads every product from the store, too much to do
	// on every poll of every open page. A failed listing is kept as long,
	// so an outage is not asked again on every poll.
	uiCatalogTTL = 5 * time.Second
	// uiProductsBudget bounds the reads of the shown products' stock in
	// one poll: a gate that does not answer costs a poll about this much
	// (and one read's timeout), not one timeout per product.
	uiProductsBudget = time.Second
)

// uiCatalog is the products the page shows, chosen from the catalog at
// most once per uiCatalogTTL.
type uiCatalog struct {
	mu  sync.Mutex // guards at, ids, err; never held while the catalog is read
	at  time.Time
	ids []domain.ProductID // the last list read
	err error              // the last read's failure, or nil
	// refreshing is set while one poll reads the catalog: the others
	// answer with the last list meanwhile, rather than wait (each waiting
	// poll would hold an in-flight slot that purchases need).
	refreshing atomic.Bool
}

// products returns the IDs to show: the last list read, read again when
// older than uiCatalogTTL by the one poll that gets to, and the last
// read's failure.
func (u *uiCatalog) products(ctx context.Context, a *app.App) ([]domain.ProductID, error) {
	u.mu.Lock()
	ids, err, fresh := u.ids, u.err, !u.at.IsZero() && time.Since(u.at) < uiCatalogTTL
	u.mu.Unlock()
	if fresh || !u.refreshing.CompareAndSwap(false, true) {
		return ids, err
	}
	defer u.refreshing.Store(false)
	ps, err := a.Products(ctx)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.at, u.err = time.Now(), err
	if err != nil {
		return u.ids, err // the last good list still shows
	}
	slices.SortFunc(ps, func(x, y domain.Product) int {
		return cmp.Or(y.UpdatedAt.Compare(x.UpdatedAt), cmp.Compare(x.ID, y.ID))
	})
	ids = make([]domain.ProductID, 0, min(len(ps), uiMaxProducts))
	for _, p := range ps[:min(len(ps), uiMaxProducts)] {
		ids = append(ids, p.ID)
	}
	u.ids = ids
	return ids, nil
}

// uiStatsResponse is GET /ui/stats: this instance's figures (see
// ports.LiveSnapshot), and the stock of the products on sale.
type uiStatsResponse struct {
	Instance   string      `json:"instance"`
	At         time.Time   `json:"at"`
	SecondsEnd time.Time   `json:"secondsEnd"`
	Products   []uiProduct `json:"products"`
	// ProductsNote says why products is empty or short when the catalog or
	// the gate did not answer.
	ProductsNote      string           `json:"productsNote,omitempty"`
	Purchases         uiPurchases      `json:"purchases"`
	Sagas             uiSagas          `json:"sagas"`
	StepWindowSeconds float64          `json:"stepWindowSeconds"`
	Steps             []uiStep         `json:"steps"`
	Compensations     []uiCompensation `json:"compensations"`
}

type uiProduct struct {
	ID        domain.ProductID `json:"id"`
	Name      string           `json:"name"`
	Stock     int64            `json:"stock"`
	Available int64            `json:"available"`
}

type uiPurchases struct {
	PerSecond  map[string][]int64 `json:"perSecond"`
	LastSecond map[string]int64   `json:"lastSecond"`
	Totals     map[string]int64   `json:"totals"`
}

type uiSagas struct {
	Started     int64 `json:"started"`
	Completed   int64 `json:"completed"`
	Compensated int64 `json:"compensated"`
	Crashed     int64 `json:"crashed"`
	Unavailable int64 `json:"unavailable"`
	Recovered   int64 `json:"recovered"`
}

type uiStep struct {
	Step   string  `json:"step"`
	Count  int64   `json:"count"`
	Errors int64   `json:"errors"`
	MeanMs float64 `json:"meanMs"`
	P50Ms  float64 `json:"p50Ms"`
	P99Ms  float64 `json:"p99Ms"`
	MaxMs  float64 `json:"maxMs"`
}

type uiCompensation struct {
	SagaID    domain.SagaID    `json:"sagaId"`
	ProductID domain.ProductID `json:"productId"`
	Reason    string           `json:"reason"`
	At        time.Time        `json:"at"`
}

func (s *server) uiPage(c *gin.Context) {
	c.Header("Content-Security-Policy", uiCSP)
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/html; charset=utf-8", uiPage)
}

// uiAsset serves one of the page's files. no-cache: the browser checks
// again on each load, so a new version shows at once.
func uiAsset(contentType string, body []byte) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, contentType, body)
	}
}

// uiStats answers GET /ui/stats. A catalog or gate that does not answer
// leaves the products out (and says so), not the rest: the page matters
// most when something is down.
func (s *server) uiStats(c *gin.Context) {
	if s.opts.Live == nil {
		sendProblem(c, newProblem(http.StatusNotFound, "live_stats_off", "this instance keeps no live stats"))
		return
	}
	snap := s.opts.Live.Snapshot()
	out := uiStatsResponse{
		Instance: s.app.Config().InstanceID, At: snap.At, SecondsEnd: snap.SecondsEnd, Products: []uiProduct{},
		Purchases: uiPurchases{PerSecond: snap.PerSecond, LastSecond: map[string]int64{}, Totals: snap.Totals},
		Sagas: uiSagas{
			Started: snap.Sagas.Started, Completed: snap.Sagas.Completed, Compensated: snap.Sagas.Compensated,
			Crashed: snap.Sagas.Crashed, Unavailable: snap.Sagas.Unavailable, Recovered: snap.Sagas.Recovered,
		},
		StepWindowSeconds: snap.StepWindow.Seconds(), Steps: make([]uiStep, 0, len(snap.Steps)),
		Compensations: make([]uiCompensation, 0, len(snap.Compensations)),
	}
	for name, series := range snap.PerSecond {
		if len(series) > 0 {
			out.Purchases.LastSecond[name] = series[len(series)-1]
		}
	}
	for _, st := range snap.Steps {
		out.Steps = append(out.Steps, uiStep{Step: st.Step, Count: st.Count, Errors: st.Errors,
			MeanMs: millis(st.Mean), P50Ms: millis(st.P50), P99Ms: millis(st.P99), MaxMs: millis(st.Max)})
	}
	for _, cr := range snap.Compensations {
		out.Compensations = append(out.Compensations, uiCompensation{SagaID: cr.Saga, ProductID: cr.Product, Reason: cr.Reason, At: cr.At})
	}
	out.Products, out.ProductsNote = s.uiProducts(c)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// uiProducts reads the stock of the products the page shows, as a buyer
// would see it (the near cache, at most its TTL old).
func (s *server) uiProducts(ctx context.Context) ([]uiProduct, string) {
	ids, err := s.ui.products(ctx, s.app)
	note := ""
	if err != nil {
		s.log.WarnContext(ctx, "live page: list products", "err", err)
		note = "the catalog did not answer"
	}
	ctx, cancel := context.WithTimeout(ctx, uiProductsBudget)
	defer cancel()
	out := make([]uiProduct, 0, len(ids))
	for _, id := range ids {
		if ctx.Err() != nil {
			note = "some products could not be read in time"
			break
		}
		v, err := s.app.Product(ctx, id, app.ReadOptions{})
		if err != nil {
			note = "some products could not be read"
			continue
		}
		out = append(out, uiProduct{ID: v.ID, Name: v.Name, Stock: v.Stock, Available: v.Available})
	}
	return out, note
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }
