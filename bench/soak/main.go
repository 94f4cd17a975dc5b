// Command soak is the load half of scripts/soak: it supplies one product to
// a running `flashsale serve` and sends it a fixed number of purchases as
// fast as a fixed pool of keep-alive connections allows, then prints how
// many answers came back with each status.
//
// The mix: every keyed-every-th request carries an Idempotency-Key of its
// own, and every retry-every-th keyed request is sent twice with the same
// key, so the server's idempotency records are written and read as a
// client's retries would. Traffic goes to the -target given; scripts/soak
// points it at 127.0.0.1.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	target     string
	product    string
	purchases  int
	workers    int
	keyedEvery int
	retryEvery int
	rate       int
	timeout    time.Duration
	supply     bool
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.target, "target", "", "base URL of the server, e.g. http://127.0.0.1:8080")
	fs.StringVar(&o.product, "product", "soak", "the product to create and buy")
	fs.IntVar(&o.purchases, "n", 1_000_000, "purchase requests to send (retries included)")
	fs.IntVar(&o.workers, "workers", 64, "requests in flight at once")
	fs.IntVar(&o.keyedEvery, "keyed-every", 4, "every k-th request carries an Idempotency-Key (0: none)")
	fs.IntVar(&o.retryEvery, "retry-every", 16, "every k-th keyed request is sent again with the same key (0: never)")
	fs.IntVar(&o.rate, "rate", 0, "requests per second to send at most (0: as fast as the workers go)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	fs.BoolVar(&o.supply, "supply", true, "create the product with enough stock first (needs SOAK_ADMIN_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case o.target == "":
		return errors.New("-target is required")
	case o.purchases < 1 || o.workers < 1:
		return errors.New("-n and -workers must be positive")
	case o.keyedEvery < 0 || o.retryEvery < 0 || o.rate < 0:
		return errors.New("-keyed-every, -retry-every and -rate must not be negative")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        o.workers,
			MaxIdleConnsPerHost: o.workers,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	if o.supply {
		if err := supply(ctx, client, o); err != nil {
			return err
		}
	}
	started := time.Now()
	counts, err := drive(ctx, client, o)
	elapsed := time.Since(started)
	report(stdout, counts, elapsed)
	return err
}

// supply creates the product with one unit of stock per request, so stock
// never runs out during the soak.
func supply(ctx context.Context, client *http.Client, o options) error {
	token := os.Getenv("SOAK_ADMIN_TOKEN")
	if token == "" {
		return errors.New("supply: SOAK_ADMIN_TOKEN is not set")
	}
	body, err := json.Marshal(map[string]any{"id": o.product, "name": o.product, "priceMinor": 100, "addStock": o.purchases})
	if err != nil {
		return fmt.Errorf("supply: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.target+"/products", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("supply: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("supply: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("supply: POST /products answered %d: %s", resp.StatusCode, msg)
	}
	return nil
}

// drive sends o.purchases purchase requests from o.workers goroutines and
// counts the answers by status; a transport error counts under status 0.
// With a rate, request i is not sent before i/rate seconds from the start.
// It stops early, with an error, when ctx ends.
func drive(ctx context.Context, client *http.Client, o options) (map[int]int, error) {
	body := fmt.Appendf(nil, `{"productId":%q,"qty":1}`, o.product)
	run := strconv.FormatInt(time.Now().UnixNano(), 36) // keys never repeat across soaks
	var next atomic.Int64
	var mu sync.Mutex
	counts := map[int]int{}
	began := time.Now()
	var wg sync.WaitGroup
	for range o.workers {
		wg.Go(func() {
			local := map[int]int{}
			defer func() {
				mu.Lock()
				for s, n := range local {
					counts[s] += n
				}
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= o.purchases {
					return
				}
				if o.rate > 0 {
					at := began.Add(time.Duration(float64(i) / float64(o.rate) * float64(time.Second)))
					select {
					case <-time.After(time.Until(at)):
					case <-ctx.Done():
						return
					}
				}
				key := ""
				if o.keyedEvery > 0 && i%o.keyedEvery == 0 {
					keyed := i / o.keyedEvery
					if o.retryEvery > 0 && keyed%o.retryEvery == 1 {
						keyed-- // the previous keyed request's key again: a retry
					}
					key = "soak-" + run + "-" + strconv.Itoa(keyed)
				}
				local[purchase(ctx, client, o.target, body, key)]++
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return counts, fmt.Errorf("stopped after %d requests: %w", min(int(next.Load()), o.purchases), err)
	}
	return counts, nil
}

func purchase(ctx context.Context, client *http.Client, target string, body []byte, key string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+"/purchase", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	// Drained, so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func report(w io.Writer, counts map[int]int, elapsed time.Duration) {
	statuses := make([]int, 0, len(counts))
	total := 0
	for s, n := range counts {
		statuses = append(statuses, s)
		total += n
	}
	slices.Sort(statuses)
	for _, s := range statuses {
		name := strconv.Itoa(s)
		if s == 0 {
			name = "transport-error"
		}
		fmt.Fprintf(w, "status %-16s %d\n", name, counts[s])
	}
	rate := 0.0
	if elapsed > 0 {
		rate = float64(total) / elapsed.Seconds()
	}
	fmt.Fprintf(w, "requests %d in %s (%.0f/s)\n", total, elapsed.Round(time.Millisecond), rate)
}
