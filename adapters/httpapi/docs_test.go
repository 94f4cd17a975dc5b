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

// headless runs Chromium on url with no network but 127.0.0.1 (every other
// host fails to resolve), giving the page's scripts up to 20 s of virtual
// time, and returns its standard output.
func headless(t *testing.T, bin, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--disable-extensions",
		"--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
		"--user-data-dir=" + t.TempDir(), "--window-size=1280,1600", "--virtual-time-budget=20000",
	}
	cmd := exec.CommandContext(ctx, bin, slices.Concat(base, args, []string{url})...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, stderr.String())
	}
	return out
}

// TestDocsPageRendersTheAPI: GET /docs, loaded in headless Chromium with
// no network beyond 127.0.0.1, renders this service's OpenAPI document
// with the Redoc the service ships: the page, its script and the document
// are the only requests it makes, and the rendered page names the API's
// operations. FLASHSALE_UPDATE_SCREENSHOTS=1 also writes the screenshot
// to docs/api-docs.png.
func TestDocsPageRendersTheAPI(t *testing.T) {
	bin := chromium(t)
	f := newFixture(t, fixtureOpts{})
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		f.h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	dom := string(headless(t, bin, srv.URL+"/docs", "--dump-dom"))
	for _, want := range []string{
		"flashsale",                   // the document's title
		"Buy: runs the purchase saga", // POST /purchase's summary
		"/orders/{id}",                // a path
		"insufficient_stock",          // from a problem's description
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered /docs does not show %q", want)
		}
	}
	if !strings.Contains(dom, `class="api-content"`) && !strings.Contains(dom, "api-content") {
		t.Errorf("the page was not rendered by Redoc (no api-content element); the DOM starts: %.500s", dom)
	}
	mu.Lock()
	got := slices.Clone(paths)
	mu.Unlock()
	for _, want := range []string{"/docs", "/docs/redoc.standalone.js", "/openapi.json"} {
		if !slices.Contains(got, want) {
			t.Errorf("the page did not request %s (requests: %v)", want, got)
		}
	}

	shot := filepath.Join(t.TempDir(), "api-docs.png")
	headless(t, bin, srv.URL+"/docs", "--screenshot="+shot, "--hide-scrollbars")
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 20<<10 {
		t.Fatalf("the screenshot is not a rendered page (%d bytes)", len(png))
	}
	if os.Getenv("FLASHSALE_UPDATE_SCREENSHOTS") == "1" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "api-docs.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
