package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/httpapi"
	"github.com/flashsale/flashsale/adapters/live"
	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// uiCSP is the live page's policy: its own script, style sheet and JSON
// only; no inline script or style.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// liveStats is the body of GET /ui/stats.
type liveStats struct {
	Instance     string `json:"instance"`
	At           time.Time
	SecondsEnd   time.Time `json:"secondsEnd"`
	ProductsNote string    `json:"productsNote"`
	Products     []struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Stock     int64  `json:"stock"`
		Available int64  `json:"available"`
	} `json:"products"`
	Purchases struct {
		PerSecond  map[string][]int64 `json:"perSecond"`
		LastSecond map[string]int64   `json:"lastSecond"`
		Totals     map[string]int64   `json:"totals"`
	} `json:"purchases"`
	Sagas struct {
		Started, Completed, Compensated, Crashed, Unavailable, Recovered int64
	} `json:"sagas"`
	StepWindowSeconds float64 `json:"stepWindowSeconds"`
	Steps             []struct {
		Step                        string
		Count, Errors               int64
		MeanMs, P50Ms, P99Ms, MaxMs float64
	} `json:"steps"`
	Compensations []struct {
		SagaID    string    `json:"sagaId"`
		ProductID string    `json:"productId"`
		Reason    string    `json:"reason"`
		At        time.Time `json:"at"`
	} `json:"compensations"`
}

// liveFixture is a fixture whose app feeds a live recorder, served at
// /ui/stats. The recorder has a clock of its own, so a test can move it a
// second on and read the second just done.
func liveFixture(t *testing.T) (*fixture, *memory.Clock) {
	t.Helper()
	clock := memory.NewClock(epoch.Add(500 * time.Millisecond))
	rec, err := live.New(clock)
	if err != nil {
		t.Fatal(err)
	}
	return newFixture(t, fixtureOpts{metrics: rec, http: &httpapi.Options{AdminToken: adminToken, Live: rec}}), clock
}

func (f *fixture) liveStats(t *testing.T) liveStats {
	t.Helper()
	rec := f.get("/ui/stats")
	var s liveStats
	assertJSON(t, rec, http.StatusOK, &s)
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("/ui/stats Cache-Control = %q, want no-store (each poll must see now)", cc)
	}
	return s
}

// GET /ui/stats shows what the sale did: a completed purchase and a
// declined one (compensated, with its reason and saga), the sagas, the
// steps, and the products' stock as the gate has it. Its body matches the
// OpenAPI document.
func TestLiveStatsShowTheSale(t *testing.T) {
	f, clock := liveFixture(t)
	f.mustBuy("p1", 2)
	f.setOutcome(payment.Decline)
	declined := assertProblem(t, f.purchase(`{"productId":"p2","qty":1}`, ""), http.StatusPaymentRequired, "payment_declined")
	f.setOutcome(payment.Approve)
	clock.Advance(time.Second)

	s := f.liveStats(t)
	if s.Instance != "flashsale" {
		t.Errorf("instance = %q, want the app's instance ID %q", s.Instance, "flashsale")
	}
	if s.Purchases.Totals["completed"] != 1 || s.Purchases.Totals["compensated"] != 1 {
		t.Errorf("purchase totals = %v, want completed 1, compensated 1", s.Purchases.Totals)
	}
	if s.Purchases.LastSecond["completed"] != 1 || s.Purchases.LastSecond["compensated"] != 1 {
		t.Errorf("last second = %v, want completed 1, compensated 1", s.Purchases.LastSecond)
	}
	if n := len(s.Purchases.PerSecond["completed"]); n != live.RateWindow {
		t.Errorf("completed per second covers %d seconds, want %d", n, live.RateWindow)
	}
	if s.Sagas.Started != 2 || s.Sagas.Completed != 1 || s.Sagas.Compensated != 1 {
		t.Errorf("sagas = %+v, want 2 started, 1 completed, 1 compensated", s.Sagas)
	}
	if len(s.Compensations) != 1 {
		t.Fatalf("compensations = %+v, want the declined purchase's", s.Compensations)
	}
	if c := s.Compensations[0]; c.SagaID != declined.SagaID || c.ProductID != "p2" || c.Reason != app.ReasonPaymentDeclined {
		t.Errorf("compensation = %+v, want saga %s of p2, reason %s", c, declined.SagaID, app.ReasonPaymentDeclined)
	}
	steps := map[string]int64{}
	for _, st := range s.Steps {
		steps[st.Step] = st.Count
	}
	for step, want := range map[string]int64{"reserve": 2, "create_order": 2, "charge": 2, "confirm": 1, "refund": 1, "finish_compensation": 1} {
		if steps[step] != want {
			t.Errorf("step %s: %d calls, want %d (steps %v)", step, steps[step], want, steps)
		}
	}
	stock := map[string][2]int64{}
	for _, p := range s.Products {
		stock[p.ID] = [2]int64{p.Stock, p.Available}
	}
	if stock["p1"] != [2]int64{3, 3} || stock["p2"] != [2]int64{3, 3} {
		t.Errorf("products (stock, available) = %v, want p1 (3, 3) after a sale of 2 and p2 (3, 3) after a refusal", stock)
	}

	_, router := loadOpenAPI(t)
	r := request{method: http.MethodGet, path: "/ui/stats"}
	validate(t, router, r, f.serve(r))
}

// An instance wired without a recorder has no stats: a problem, not an
// empty success the page would show as a dead sale.
func TestLiveStatsOffIsNotFound(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := request{method: http.MethodGet, path: "/ui/stats"}
	rec := f.serve(r)
	assertProblem(t, rec, http.StatusNotFound, "live_stats_off")
	_, router := loadOpenAPI(t)
	validate(t, router, r, rec)
}

// The page shows at most 20 products, the most recently changed first: a
// sale changes its product, so the products selling are the ones shown.
func TestLiveStatsShowTheProductsChangedLast(t *testing.T) {
	f, _ := liveFixture(t)
	for i := range 30 {
		f.clock.Advance(time.Second)
		if _, err := f.app.Supply(context.Background(), domain.Supply{ID: domain.ProductID(fmt.Sprintf("extra-%02d", i)),
			Name: "Extra", PriceMinor: 100, AddStock: 1}); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(time.Second)
	f.mustBuy("p1", 1) // p1 changes last

	s := f.liveStats(t)
	if len(s.Products) != 20 {
		t.Fatalf("%d products shown, want 20", len(s.Products))
	}
	want := []string{"p1", "extra-29", "extra-28"}
	for i, id := range want {
		if s.Products[i].ID != id {
			t.Errorf("product %d shown is %s, want %s (the most recently changed first)", i, s.Products[i].ID, id)
		}
	}
}

// A catalog that does not answer costs the page its products, not its
// figures: the page matters most when something is down.
func TestLiveStatsSurviveACatalogOutage(t *testing.T) {
	f, _ := liveFixture(t)
	f.mustBuy("p1", 1)
	f.catalogDown.Store(true)
	s := f.liveStats(t)
	if len(s.Products) != 0 || s.ProductsNote == "" {
		t.Errorf("products %v, note %q: want none and a note saying why", s.Products, s.ProductsNote)
	}
	if s.Purchases.Totals["completed"] != 1 {
		t.Errorf("completed = %d during the outage, want 1", s.Purchases.Totals["completed"])
	}
}

// GET /ui/ is the page under a strict policy: its own script and style
// sheet, nothing inline (the policy would block it), and every file it
// names is served with its media type. HEAD answers the same, bodiless.
func TestLivePageIsServedUnderItsPolicy(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	rec := f.get("/ui/")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /ui/: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("GET /ui/ Content-Type = %q", ct)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); csp != uiCSP {
		t.Errorf("GET /ui/ Content-Security-Policy = %q, want %q", csp, uiCSP)
	}
	page := rec.Body.String()
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`), // inline handlers
		regexp.MustCompile(`(src|href)="(https?:)?//`),
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("the page has %q, which its policy blocks or which leaves this service", m)
		}
	}
	for path, ct := range map[string]string{"/ui/app.js": "text/javascript; charset=utf-8", "/ui/app.css": "text/css; charset=utf-8"} {
		name := strings.TrimPrefix(path, "/ui/")
		if !strings.Contains(page, `"`+name+`"`) {
			t.Errorf("the page does not load %s", name)
		}
		rec := f.get(path)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != ct || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d, Content-Type %q, %d bytes; want 200 %s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len(), ct)
		}
	}
	head := f.serve(request{method: http.MethodHead, path: "/ui/"})
	if head.Code != http.StatusOK || head.Header().Get("Content-Security-Policy") != uiCSP {
		t.Errorf("HEAD /ui/: %d, CSP %q", head.Code, head.Header().Get("Content-Security-Policy"))
	}
	// The page asks only for what the service serves, by relative URL.
	js := f.get("/ui/app.js").Body.String()
	for _, url := range []string{"'stats'", "'../orders/'", "'../sagas/'"} {
		if !strings.Contains(js, url) {
			t.Errorf("app.js does not fetch %s", url)
		}
	}
	if regexp.MustCompile(`\.(inner|outer)HTML\b|insertAdjacentHTML|document\.write|eval\(`).MatchString(js) {
		t.Error("app.js writes HTML from strings or evaluates them: server text must go in as text")
	}
}

// Every answer of the /ui routes to a bad request is a 4xx problem.
func TestLiveRoutesRefuseBadRequests(t *testing.T) {
	f, _ := liveFixture(t)
	for _, r := range []request{
		{method: http.MethodPost, path: "/ui/stats", body: "{}", header: map[string]string{"Content-Type": "application/json"}},
		{method: http.MethodDelete, path: "/ui/"},
		{method: http.MethodGet, path: "/ui/nope"},
		{method: http.MethodGet, path: "/ui/stats/extra"},
		{method: http.MethodGet, path: "/ui/../../etc/passwd"},
	} {
		rec := f.serve(r)
		if rec.Code < 400 || rec.Code >= 500 || rec.Header().Get("Content-Type") != problemCT {
			t.Errorf("%s %s: %d %q, want a 4xx problem", r.method, r.path, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	// Query strings are ignored, whatever they hold.
	rec := f.get("/ui/stats?x=%00%ff&x=" + strings.Repeat("a", 4000))
	var s json.RawMessage
	assertJSON(t, rec, http.StatusOK, &s)
}
