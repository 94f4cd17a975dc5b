package httpapi_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// chromium finds a headless-capable Chromium: with CI=true its absence is
// a failure (scripts/test installs Debian's chromium), elsewhere a skip.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium for the browser test: apt-get install chromium (scripts/test installs it as root)"
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true: " + msg)
	}
	t.Skip(msg)
	return ""
}

// outside stands for every host but 127.0.0.1: Chromium sends every
// request for another host (a name or an IP address) to it as its proxy,
// and it records them and refuses them.
type outside struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []string
}

func newOutside(t *testing.T) *outside {
	o := &outside{}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.reqs = append(o.reqs, r.Method+" "+r.Host+r.URL.Path)
		o.mu.Unlock()
		http.Error(w, "no network beyond 127.0.0.1 in this test", http.StatusForbidden)
	}))
	t.Cleanup(o.srv.Close)
	return o
}

// chromiumServices are the hosts Chromium itself calls whatever the flags
// (its network clock, component updates, account and autofill services),
// seen in this test's proxy: not the page's requests. Any other host is.
var chromiumServices = []string{
	"clients2.google.com", "update.googleapis.com", "accounts.google.com", "content-autofill.googleapis.com",
}

// requests are the page's requests that left 127.0.0.1 since the last
// call.
func (o *outside) requests() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var page []string
	for _, r := range o.reqs {
		host, _, _ := strings.Cut(strings.Fields(r)[1], "/")
		host, _, _ = strings.Cut(host, ":")
		if !slices.Contains(chromiumServices, host) {
			page = append(page, r)
		}
	}
	o.reqs = nil
	return page
}

// headless runs Chromium on url with no network but 127.0.0.1 (loopback
// goes direct; every other request goes to out, which refuses it; names
// other than 127.0.0.1 do not resolve either), giving the page's scripts
// up to 20 s of virtual time, and returns its standard output.
func headless(t *testing.T, bin string, out *outside, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-extensions",
		"--proxy-server=" + out.srv.URL, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,1600", "--virtual-time-budget=20000",
	}
	cmd := exec.CommandContext(ctx, bin, slices.Concat(base, args, []string{url})...)
	cmd.WaitDelay = 5 * time.Second // a child that keeps the pipes open cannot hang the test
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.String())
	}
	return stdout
}

// TestDocsPageRendersTheAPI: GET /docs, loaded in headless Chromium with
// no network beyond 127.0.0.1, renders this service's OpenAPI document
// with the Redoc the service ships: the page, its script and the document
// (and the browser's favicon) are the only requests it makes, none leaves
// 127.0.0.1, and the rendered page shows the API's operations.
// FLASHSALE_UPDATE_SCREENSHOTS=1 also writes the screenshot to
// docs/api-docs.png.
func TestDocsPageRendersTheAPI(t *testing.T) {
	bin := chromium(t)
	f := newFixture(t, fixtureOpts{})
	srv, paths := recording(t, f.h)
	out := newOutside(t)

	dom := string(headless(t, bin, out, srv.URL+"/docs", "--dump-dom"))
	for _, want := range []string{
		"(1.0.0)",                     // the document's version, as Redoc heads its title
		"Buy: runs the purchase saga", // POST /purchase's summary
		"/orders/{id}",                // a path
		"insufficient_stock",          // from a problem's description
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered /docs does not show %q", want)
		}
	}
	resp, err := http.Get(srv.URL + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp, want := resp.Header.Get("Content-Security-Policy"), "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "+
		"img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "+
		"frame-ancestors 'none'"; csp != want {
		t.Errorf("/docs Content-Security-Policy = %q, want %q (only this service's resources)", csp, want)
	}
	if !strings.Contains(dom, "api-content") {
		t.Errorf("the page was not rendered by Redoc (no api-content element); the DOM starts: %.500s", dom)
	}
	got := paths()
	for _, want := range []string{"/docs", "/docs/redoc.standalone.js", "/openapi.json"} {
		if !slices.Contains(got, want) {
			t.Errorf("the page did not request %s (requests: %v)", want, got)
		}
	}
	for _, p := range got {
		if !slices.Contains([]string{"/docs", "/docs/redoc.standalone.js", "/openapi.json", "/favicon.ico"}, p) {
			t.Errorf("the page requested %s from the service, which it should not need", p)
		}
	}
	if left := out.requests(); len(left) > 0 {
		t.Errorf("the page reached beyond 127.0.0.1: %v", left)
	}

	screenshot(t, bin, out, srv.URL+"/docs", "api-docs.png", os.Getenv("FLASHSALE_UPDATE_SCREENSHOTS") == "1")
}

// recording serves h on a test server and records the path of every
// request it gets, which paths returns.
func recording(t *testing.T, h http.Handler) (srv *httptest.Server, paths func() []string) {
	var mu sync.Mutex
	var got []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path)
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// screenshot takes a picture of the page at target in headless Chromium,
// fails unless it is a rendered page and the page reached nothing beyond
// 127.0.0.1, and writes it to docs/<name> when update is set.
func screenshot(t *testing.T, bin string, out *outside, target, name string, update bool, flags ...string) {
	t.Helper()
	shot := filepath.Join(t.TempDir(), name)
	headless(t, bin, out, target, append([]string{"--screenshot=" + shot, "--hide-scrollbars"}, flags...)...)
	if left := out.requests(); len(left) > 0 {
		t.Errorf("the page reached beyond 127.0.0.1: %v", left)
	}
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 20<<10 {
		t.Fatalf("the screenshot is not a rendered page (%d bytes)", len(png))
	}
	if update {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
