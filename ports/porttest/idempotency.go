package porttest

import (
	"bytes"
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// IdempotencyHarness is what the IdempotencyStore suite drives.
type IdempotencyHarness struct {
	// Store is the adapter under test.
	Store ports.IdempotencyStore
	// TTL is how long the store keeps a key after Begin; the suite assumes
	// it is at least 400ms, so that round trips do not eat it.
	TTL time.Duration
	// Advance moves the adapter's notion of time forward by d (a clock
	// advance, or a real sleep for Redis).
	Advance func(d time.Duration)
}

// IdempotencyStore checks the ports.IdempotencyStore contract.
func IdempotencyStore(t *testing.T, newHarness func(t *testing.T) IdempotencyHarness) {
	run := func(name string, test func(t *testing.T, h IdempotencyHarness)) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if h.Store == nil || h.Advance == nil || h.TTL < 400*time.Millisecond {
				t.Fatal("harness needs Store, Advance and a TTL of at least 400ms")
			}
			test(t, h)
		})
	}
	created := ports.StoredResponse{Status: 201, Body: []byte(`{"orderId":"o-1"}`)}
	claim := func(t *testing.T, h IdempotencyHarness, key, hash string) {
		t.Helper()
		resp, err := h.Store.Begin(t.Context(), key, hash)
		must(t, err, "begin "+key)
		if resp != nil {
			t.Fatalf("begin %s: got stored response %+v, want a new claim", key, resp)
		}
	}
	wantReplay := func(t *testing.T, h IdempotencyHarness, key, hash string, want ports.StoredResponse) *ports.StoredResponse {
		t.Helper()
		resp, err := h.Store.Begin(t.Context(), key, hash)
		must(t, err, "begin "+key)
		if resp == nil || resp.Status != want.Status || !bytes.Equal(resp.Body, want.Body) {
			t.Fatalf("begin %s: got %+v, want replay of %+v", key, resp, want)
		}
		return resp
	}

	run("Begin of a new key claims it", func(t *testing.T, h IdempotencyHarness) {
		claim(t, h, "k1", "h1")
		claim(t, h, "k2", "h1")
	})

	run("Begin while the first request runs returns ErrRequestInProgress", func(t *testing.T, h IdempotencyHarness) {
		claim(t, h, "k", "h1")
		_, err := h.Store.Begin(t.Context(), "k", "h1")
		wantErr(t, err, domain.ErrRequestInProgress, "second begin")
	})

	run("Begin with another hash returns ErrIdempotencyMismatch", func(t *testing.T, h IdempotencyHarness) {
		claim(t, h, "k", "h1")
		_, err := h.Store.Begin(t.Context(), "k", "h2")
		wantErr(t, err, domain.ErrIdempotencyMismatch, "begin with another hash while in progress")
		must(t, h.Store.Complete(t.Context(), "k", created), "complete")
		_, err = h.Store.Begin(t.Context(), "k", "h2")
		wantErr(t, err, domain.ErrIdempotencyMismatch, "begin with another hash after completion")
		wantReplay(t, h, "k", "h1", created)
	})

	run("Begin of a completed key with the same hash replays the stored response", func(t *testing.T, h IdempotencyHarness) {
		claim(t, h, "k", "h1")
		must(t, h.Store.Complete(t.Context(), "k", created), "complete")
		resp := wantReplay(t, h, "k", "h1", created)
		resp.Body[0] = 'X' // the replay is the caller's to change
		wantReplay(t, h, "k", "h1", created)
	})

	run("Complete of a key never begun returns an error", func(t *testing.T, h IdempotencyHarness) {
		if err := h.Store.Complete(t.Context(), "k-never", created); err == nil {
			t.Fatal("complete of a key never begun: want an error")
		}
		claim(t, h, "k-never", "h1")
	})

	run("Abandon forgets an uncompleted claim, so the key can be used again", func(t *testing.T, h IdempotencyHarness) {
		claim(t, h, "k", "h1")
		must(t, h.Store.Abandon(t.Context(), "k"), "abandon")
		claim(t, h, "k", "h2")
	})

	run("Abandon of an unknown key is not an error", func(t *testing.T, h IdempotencyHarness) {
		must(t, h.Store.Abandon(t.Context(), "k-never"), "abandon")
	})

	run("Abandon does not forget a completed key", func(t *testing.T, h IdempotencyHarness) {
		claim(t, h, "k", "h1")
		must(t, h.Store.Complete(t.Context(), "k", created), "complete")
		_ = h.Store.Abandon(t.Context(), "k") // the contract leaves its answer open
		wantReplay(t, h, "k", "h1", created)
	})

	run("A key expires TTL after Begin and is then new", func(t *testing.T, h IdempotencyHarness) {
		claim(t, h, "k-done", "h1")
		must(t, h.Store.Complete(t.Context(), "k-done", created), "complete")
		claim(t, h, "k-stuck", "h1")
		h.Advance(h.TTL - 200*time.Millisecond)
		wantReplay(t, h, "k-done", "h1", created)
		_, err := h.Store.Begin(t.Context(), "k-stuck", "h1")
		wantErr(t, err, domain.ErrRequestInProgress, "begin before expiry")
		h.Advance(300 * time.Millisecond)
		claim(t, h, "k-done", "h2")
		claim(t, h, "k-stuck", "h2")
	})

	run("A call with a done context returns ErrUnavailable and changes nothing", func(t *testing.T, h IdempotencyHarness) {
		done := doneContext(t)
		_, err := h.Store.Begin(done, "k", "h1")
		wantUnavailable(t, err, "begin")
		claim(t, h, "k", "h1")
		wantUnavailable(t, h.Store.Complete(done, "k", created), "complete")
		wantUnavailable(t, h.Store.Abandon(done, "k"), "abandon")
		_, err = h.Store.Begin(t.Context(), "k", "h1")
		wantErr(t, err, domain.ErrRequestInProgress, "begin after refused complete and abandon")
	})

	run("race: 50 Begins of one key, exactly 1 claims it", func(t *testing.T, h IdempotencyHarness) {
		replays := make([]*ports.StoredResponse, 50)
		errs := race(50, func(i int) error {
			resp, err := h.Store.Begin(t.Context(), "k", "h1")
			replays[i] = resp
			return err
		})
		ok, matched, other := countErrs(errs, domain.ErrRequestInProgress)
		if ok != 1 || matched[0] != 49 || len(other) > 0 {
			t.Fatalf("%d claimed, %d got ErrRequestInProgress, other errors %v; want 1 and 49", ok, matched[0], other)
		}
		for i, resp := range replays {
			if resp != nil {
				t.Fatalf("begin %d replayed %+v before anything was completed", i, resp)
			}
		}
		must(t, h.Store.Complete(t.Context(), "k", created), "complete by the claimant")
	})
}
