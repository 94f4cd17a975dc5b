package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServeFeedsTheLivePageAndPrometheus: `flashsale serve` records each
// purchase both for Prometheus (/metrics) and for the live page
// (/ui/stats, which names the instance that answered), and serves the page.
func TestServeFeedsTheLivePageAndPrometheus(t *testing.T) {
	cfg := defaultConfig()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.MetricsToken = testMetricsToken
	cfg.Saga.InstanceID = "live-serve-test"
	base := serveAndBuy(t, cfg)

	resp, err := http.Get(base + "/ui/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Instance  string `json:"instance"`
		Purchases struct {
			Totals map[string]int64 `json:"totals"`
		} `json:"purchases"`
		Sagas struct {
			Started int64 `json:"started"`
		} `json:"sagas"`
		Products []struct {
			ID string `json:"id"`
		} `json:"products"`
	}
	err = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("/ui/stats: %s, %v", resp.Status, err)
	}
	if stats.Instance != "live-serve-test" || stats.Purchases.Totals["completed"] != 1 || stats.Sagas.Started != 1 {
		t.Errorf("/ui/stats = %+v, want instance live-serve-test, one completed purchase, one saga started", stats)
	}
	if len(stats.Products) == 0 {
		t.Error("/ui/stats shows no product; the demo catalog has some")
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testMetricsToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `flashsale_purchases_total{outcome="completed",strategy="none"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}

	resp, err = http.Get(base + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("/ui/: %s, CSP %q", resp.Status, resp.Header.Get("Content-Security-Policy"))
	}
}

// TestLivePageOff: with http.live_page false no figures are kept, and
// /ui/stats says so (404 live_stats_off), while purchases still work.
func TestLivePageOff(t *testing.T) {
	cfg := defaultConfig()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.LivePage = false
	base := serveAndBuy(t, cfg)
	resp, err := http.Get(base + "/ui/stats")
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Code string }
	err = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || err != nil || p.Code != "live_stats_off" {
		t.Fatalf("/ui/stats with the page off: %s %+v %v, want 404 live_stats_off", resp.Status, p, err)
	}
}

// serveAndBuy starts `flashsale serve` with cfg (the demo products) and
// buys one unit of product 124, failing unless it is sold; it returns the
// server's base URL.
func serveAndBuy(t *testing.T, cfg Config) string {
	t.Helper()
	base, _ := startServe(t, cfg, io.Discard)
	resp, err := http.Post(base+"/purchase", "application/json", strings.NewReader(`{"productId":"124","qty":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("purchase: %s", resp.Status)
	}
	return base
}
