package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/httpapi"
	"github.com/flashsale/flashsale/adapters/live"
	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/adapters/system"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/bench"
	"github.com/flashsale/flashsale/domain"
)

const liveInstance = "live-ui-test"

// liveService is the service as `flashsale serve` runs it on memory
// adapters, on the wall clock (the page shows purchases per second of
// it), with a live recorder fed by the app and served at /ui/stats, and a
// gateway that declines one charge in 17, so compensations show.
func liveService(t *testing.T) (http.Handler, *live.Recorder, *app.App) {
	t.Helper()
	clock := system.Clock{}
	rec, err := live.New(clock)
	if err != nil {
		t.Fatal(err)
	}
	pay, err := payment.NewSimulated(payment.Options{Seed: 1, Latency: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var charges atomic.Int64
	pay.SetDecider(func(domain.SagaID) payment.Outcome {
		if charges.Add(1)%17 == 0 {
			return payment.Decline
		}
		return payment.Approve
	})
	store := memory.NewStore(clock)
	a, err := app.New(app.Deps{
		Clock: clock, IDs: system.IDs{}, Inventory: memory.NewInventory(clock), Locker: memory.NewLocker(clock),
		Catalog: store, Cache: memory.NewProductCache(clock), Sagas: store, Orders: store, Outbox: store,
		Publisher: memory.NewEventLog(), Payments: pay, Metrics: rec,
	}, app.Config{InstanceID: liveInstance}, app.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(a, httpapi.Options{AdminToken: adminToken, Live: rec})
	if err != nil {
		t.Fatal(err)
	}
	return h, rec, a
}

// pageState is what the live page rendered, read from the DOM Chromium
// dumped: the data attributes app.js keeps on <main id="live">.
type pageState struct {
	updates, completed, rate int64
	instance                 string
	dom                      string
}

func readPage(t *testing.T, dom string) pageState {
	t.Helper()
	main := regexp.MustCompile(`<main id="live"[^>]*>`).FindString(dom)
	if main == "" {
		t.Fatalf("no <main id=\"live\"> in the page; the DOM starts: %.800s", dom)
	}
	attr := func(name string) string {
		m := regexp.MustCompile(` data-` + name + `="([^"]*)"`).FindStringSubmatch(main)
		if m == nil {
			t.Fatalf("<main> has no data-%s: %s", name, main)
		}
		return m[1]
	}
	n := func(name string) int64 {
		v, err := strconv.ParseInt(attr(name), 10, 64)
		if err != nil {
			t.Fatalf("data-%s is not a number: %s", name, main)
		}
		return v
	}
	return pageState{updates: n("updates"), completed: n("completed"), rate: n("rate"), instance: attr("instance"), dom: dom}
}

// waitFor polls cond until it holds, for at most d (a bounded wait, not a
// timed assertion: the sale runs at its own pace).
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLivePageShowsASaleMoving: while `flashsale bench`'s mix scenario
// (the seed's capacity mix of reads and purchases) runs against the
// service, GET /ui/ loaded in headless Chromium, with no network beyond
// 127.0.0.1, renders this instance's figures and keeps them updated: within
// one load it renders several polls, purchases per second above zero and
// completed purchases; a later load shows more completed purchases; an
// order looked up shows its saga's timeline; and the page asks only this
// service for what it shows. FLASHSALE_UPDATE_SCREENSHOTS=1 also writes
// the screenshot to docs/live-page.png.
func TestLivePageShowsASaleMoving(t *testing.T) {
	bin := chromium(t)
	h, rec, a := liveService(t)
	// The load has a server of its own; the browser's requests are
	// recorded on another, over the same handler.
	load := httptest.NewServer(h)
	defer load.Close()
	srv, paths := recording(t, h)
	out := newOutside(t)

	// One confirmed order to look up, bought before the sale.
	if _, err := a.Supply(context.Background(), domain.Supply{ID: "ui-demo", Name: "Demo widget", PriceMinor: 1500, AddStock: 5}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(load.URL+"/purchase", "application/json", strings.NewReader(`{"productId":"ui-demo","qty":1}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	order := strings.TrimPrefix(resp.Header.Get("Location"), "/orders/")
	if resp.StatusCode != http.StatusCreated || order == "" {
		t.Fatalf("the demo purchase answered %s (Location %q)", resp.Status, resp.Header.Get("Location"))
	}

	// The sale: bench's own mix scenario, for longer than the test needs;
	// the test stops it when done.
	ctx, stop := context.WithCancel(context.Background())
	benchDone := make(chan error, 1)
	go func() {
		_, err := bench.Run(ctx, bench.Options{
			Targets: []bench.Target{{Strategy: "none", URL: load.URL}}, Scenarios: []string{bench.ScenarioMix},
			Rate: 150, Duration: 3 * time.Minute, Rounds: 1, AdminToken: adminToken,
			CeilingDuration: 100 * time.Millisecond, Log: io.Discard,
		})
		benchDone <- err
	}()
	defer func() {
		stop()
		select {
		case err := <-benchDone:
			if err != nil && ctx.Err() == nil {
				t.Errorf("bench: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("the bench did not stop within a minute of its cancellation")
		}
	}()
	lastSecond := func() int64 {
		var n int64
		for _, s := range rec.Snapshot().PerSecond {
			n += s[len(s)-1]
		}
		return n
	}
	waitFor(t, time.Minute, "the sale to run (purchases in the last second)", func() bool {
		select {
		case err := <-benchDone:
			benchDone <- err // for the deferred stop, which waits for it
			t.Fatalf("the bench ended before the sale ran: %v", err)
		default:
		}
		return rec.Snapshot().Totals["completed"] > 1 && lastSecond() > 0
	})

	first := readPage(t, string(headless(t, bin, out, srv.URL+"/ui/", "--dump-dom", "--virtual-time-budget=5000")))
	if first.updates < 2 {
		t.Errorf("the page rendered %d polls in one load, want at least 2 (it must keep updating)", first.updates)
	}
	if first.rate <= 0 {
		t.Errorf("the page shows %d purchases in the last second while a sale runs", first.rate)
	}
	if first.completed <= 0 {
		t.Errorf("the page shows %d completed purchases while a sale runs", first.completed)
	}
	if first.instance != liveInstance {
		t.Errorf("the page names instance %q, want %q", first.instance, liveInstance)
	}
	// The products shown are the ones selling: the mix's buyables.
	for _, want := range []string{`data-outcome="completed"`, "create_order", "-mix-buy-"} {
		if !strings.Contains(first.dom, want) {
			t.Errorf("the rendered page does not show %q", want)
		}
	}

	// Numbers move: once the instance has completed more purchases than
	// the first load showed, a second load shows more too.
	waitFor(t, time.Minute, "more completed purchases", func() bool { return rec.Snapshot().Totals["completed"] > first.completed })
	second := readPage(t, string(headless(t, bin, out, srv.URL+"/ui/#order="+url.QueryEscape(order), "--dump-dom", "--virtual-time-budget=5000")))
	if second.completed <= first.completed {
		t.Errorf("completed purchases shown went from %d to %d while the sale ran, want an increase", first.completed, second.completed)
	}
	if second.updates < 2 || second.rate <= 0 {
		t.Errorf("second load: %d polls rendered, %d purchases/s shown; want at least 2 and above 0", second.updates, second.rate)
	}
	// The order's saga timeline, looked up from the URL's fragment.
	timeline := regexp.MustCompile(`(?s)<div id="timeline" data-state="([a-z]+)">(.*?)</div>`).FindStringSubmatch(second.dom)
	if timeline == nil || timeline[1] != "shown" {
		t.Fatalf("the order's timeline was not shown: %v", timeline)
	}
	for _, ev := range []string{"SagaStarted", "InventoryReserved", "OrderCreated", "PaymentProcessed", "OrderConfirmed"} {
		if !strings.Contains(timeline[2], `data-type="`+ev+`"`) {
			t.Errorf("the timeline of order %s lacks %s: %s", order, ev, timeline[2])
		}
	}
	if !strings.Contains(timeline[2], order) {
		t.Errorf("the timeline does not name order %s", order)
	}
	// A malformed link (a stray %) is said to be one, and the figures
	// still update.
	bad := readPage(t, string(headless(t, bin, out, srv.URL+"/ui/#order=%E0%A4%A", "--dump-dom", "--virtual-time-budget=3000")))
	if bad.updates < 2 || !strings.Contains(bad.dom, `data-state="error"`) {
		t.Errorf("a malformed #order link: %d polls rendered, timeline error shown %t; want at least 2 and the error",
			bad.updates, strings.Contains(bad.dom, `data-state="error"`))
	}

	got := paths()
	allowed := []string{"/ui/", "/ui/app.js", "/ui/app.css", "/ui/stats", "/orders/" + order}
	for _, p := range got {
		if !slices.Contains(allowed, p) {
			t.Errorf("the page requested %s from the service, which it should not need", p)
		}
	}
	if left := out.requests(); len(left) > 0 {
		t.Errorf("the page reached beyond 127.0.0.1: %v", left)
	}

	update := os.Getenv("FLASHSALE_UPDATE_SCREENSHOTS") == "1"
	if update {
		// The picture for docs/ shows a sale that has run for a while: its
		// last 60 s chart filled in part.
		waitFor(t, 2*time.Minute, "20 seconds of sale", func() bool {
			n := 0
			for _, v := range rec.Snapshot().PerSecond["completed"] {
				if v > 0 {
					n++
				}
			}
			return n >= 20
		})
	}
	// The screenshot shows a compensated saga's timeline when there is one.
	target := srv.URL + "/ui/#order=" + url.QueryEscape(order)
	if cs := rec.Snapshot().Compensations; len(cs) > 0 {
		target = srv.URL + "/ui/#saga=" + url.QueryEscape(string(cs[0].Saga))
	}
	// The whole page, the timeline at its foot included.
	screenshot(t, bin, out, target, "live-page.png", update, "--virtual-time-budget=3000", "--window-size=1280,1900")
}
