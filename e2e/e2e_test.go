package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// The seed's first race: two buyers, one unit. Exactly one gets it, the
// other is told there is not enough stock; nothing stays reserved.
func TestSeedTwoBuyersOneUnit(t *testing.T) {
	s := needStack(t)
	product := s.newProduct(t, "two-buyers", 1)
	got := tally(s.buyAll(product, 2))
	if got["201"] != 1 || got["409 insufficient_stock"] != 1 {
		t.Fatalf("two buyers on one unit: %v; want one 201 and one 409 insufficient_stock", got)
	}
	rest := s.waitAtRest(t, product, 1, 15*time.Second)
	if rest.Stock != 0 || rest.Completed != 1 {
		t.Fatalf("at rest: stock %d, %d completed; want 0 and 1", rest.Stock, rest.Completed)
	}
}

// The seed's second race: ten buyers, nine units.
func TestSeedTenBuyersNineUnits(t *testing.T) {
	s := needStack(t)
	product := s.newProduct(t, "ten-buyers", 9)
	got := tally(s.buyAll(product, 10))
	if got["201"] != 9 || got["409 insufficient_stock"] != 1 {
		t.Fatalf("ten buyers on nine units: %v; want nine 201 and one 409 insufficient_stock", got)
	}
	rest := s.waitAtRest(t, product, 9, 15*time.Second)
	if rest.Stock != 0 || rest.Completed != 9 {
		t.Fatalf("at rest: stock %d, %d completed; want 0 and 9", rest.Stock, rest.Completed)
	}
}

// 200 concurrent buyers on 100 units through nginx: exactly 100 orders;
// I1 and I2 hold in the Redis Cluster, on the primary and, once it caught
// up, on the replica; every saga's events are in Kafka, complete, in order.
func TestTwoHundredBuyersOnStockHundred(t *testing.T) {
	s := needStack(t)
	product := s.newProduct(t, "crowd", 100)
	t0 := time.Now()
	answers := s.buyAll(product, 200)
	got := tally(answers)
	t.Logf("200 purchases through nginx in %v: %v", time.Since(t0).Round(time.Millisecond), got)
	if got["201"] != 100 || got["409 insufficient_stock"] != 100 {
		t.Fatalf("200 buyers on 100 units: %v; want 100 × 201 and 100 × 409 insufficient_stock", got)
	}
	rest := s.waitAtRest(t, product, 100, 20*time.Second)
	if rest.Stock != 0 || rest.Completed != 100 || rest.ConfirmedQty != 100 {
		t.Fatalf("at rest: stock %d, %d completed (%d units); want 0 and 100", rest.Stock, rest.Completed, rest.ConfirmedQty)
	}
	for _, a := range answers {
		if a.Status == http.StatusCreated && rest.Status[a.SagaID] != string(domain.SagaCompleted) {
			t.Fatalf("I7: saga %s answered 201 is %q", a.SagaID, rest.Status[a.SagaID])
		}
	}
	s.waitReplica(t, product, rest)
	s.checkKafka(t, rest)
}

// Every saga's events reach Kafka complete and in order, compensated ones
// too: purchases with keys, some of which are sent twice.
func TestEventsInKafka(t *testing.T) {
	s := needStack(t)
	product := s.newProduct(t, "events", 20)
	var wg sync.WaitGroup
	answers := make([]answer, 30)
	for i := range answers {
		wg.Go(func() {
			key := fmt.Sprintf("%s-buyer-%d", product, i%25) // 5 keys sent twice
			answers[i] = s.purchase(s.client, "https://127.0.0.1:8443", product, 1, key)
		})
	}
	wg.Wait()
	t.Logf("answers: %v", tally(answers))
	rest := s.waitAtRest(t, product, 20, 20*time.Second)
	if len(rest.Status) > 25 {
		t.Fatalf("I5: %d sagas for 25 keys", len(rest.Status))
	}
	if rest.Completed != 20 {
		t.Fatalf("%d completed on 20 units with 25 distinct buyers", rest.Completed)
	}
	s.checkKafka(t, rest)
}

// The same Idempotency-Key sent to both instances at once (directly, not
// through nginx): one saga per key (I5), one order.
func TestSameKeyOnBothInstances(t *testing.T) {
	s := needStack(t)
	product := s.newProduct(t, "same-key", 20)
	const keys = 10
	for k := range keys {
		key := fmt.Sprintf("%s-key-%d", product, k)
		var pair [2]answer
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, base := range instances {
			wg.Go(func() {
				<-start
				pair[i] = s.purchase(s.direct, base, product, 1, key)
			})
		}
		close(start)
		wg.Wait()
		for _, a := range pair {
			ok := a.Err == nil && (a.Status == http.StatusCreated || (a.Status == http.StatusConflict && a.Code == "request_in_progress"))
			if !ok {
				t.Fatalf("key %s: answers %+v", key, pair)
			}
			if a.Status == http.StatusCreated && a.SagaID != string(app.SagaIDForKey(key)) {
				t.Fatalf("key %s answered saga %s, want %s", key, a.SagaID, app.SagaIDForKey(key))
			}
		}
		if pair[0].Status == http.StatusCreated && pair[1].Status == http.StatusCreated && pair[0].OrderID != pair[1].OrderID {
			t.Fatalf("I5: key %s got two orders: %+v", key, pair)
		}
	}
	rest := s.waitAtRest(t, product, 20, 20*time.Second)
	if len(rest.Status) != keys || rest.Completed != keys || rest.Stock != 20-keys {
		t.Fatalf("I5: %d keys made %d sagas (%d completed), stock %d", keys, len(rest.Status), rest.Completed, rest.Stock)
	}
	for k := range keys {
		if rest.Status[string(app.SagaIDForKey(fmt.Sprintf("%s-key-%d", product, k)))] != string(domain.SagaCompleted) {
			t.Fatalf("key %d: its saga is not the completed one: %v", k, rest.Status)
		}
	}
}

// One instance killed (SIGKILL) mid-load: GETs through nginx see no
// failure (nginx retries them on the survivor); every purchase answered 2xx
// is confirmed at rest, every saga ends (the survivor recovers the dead
// instance's), and a saga whose client got a definite failure is
// compensated. Then scripts/stack up brings the instance back.
func TestKillOneInstanceMidLoad(t *testing.T) {
	s := needStack(t)
	const (
		supplied  = 200
		buyers    = 8
		perBuyer  = 12 // 96 purchases; half with an Idempotency-Key
		killAfter = 24 // purchases started before the kill
		maxGets   = 4000
	)
	product := s.newProduct(t, "kill", supplied)
	victim := s.pidOf(t, 1)
	t.Cleanup(func() { s.restart(t) })

	// Reads: four clients, GET /products/:id through nginx until the
	// purchases end (bounded).
	stopGets := make(chan struct{})
	var gets, getFails atomic.Int64
	var getErr atomic.Value
	var getsWG sync.WaitGroup
	for range 4 {
		getsWG.Go(func() {
			for gets.Load() < maxGets {
				select {
				case <-stopGets:
					return
				default:
				}
				gets.Add(1)
				resp, err := s.client.Get("https://127.0.0.1:8443/products/" + product)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("GET: %d", resp.StatusCode)
					}
				}
				if err != nil {
					getFails.Add(1)
					getErr.Store(err.Error())
				}
			}
		})
	}

	type sent struct {
		key string
		a   answer
	}
	results := make([][]sent, buyers)
	var started atomic.Int64
	killed := make(chan struct{})
	var killOnce sync.Once
	kill := func() {
		killOnce.Do(func() {
			if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
				t.Errorf("kill -9 %d: %v", victim, err)
			}
			t.Logf("killed instance stack-1 (pid %d) after %d purchases started", victim, started.Load())
			close(killed)
		})
	}
	var wg sync.WaitGroup
	for b := range buyers {
		wg.Go(func() {
			for i := range perBuyer {
				if started.Add(1) == killAfter {
					go kill()
				}
				key := ""
				if (b+i)%2 == 0 {
					key = fmt.Sprintf("%s-b%d-%d", product, b, i)
				}
				a := s.purchase(s.client, "https://127.0.0.1:8443", product, 1, key)
				// A client with a key retries what asks for a retry, with the same key.
				for deadline := time.Now().Add(20 * time.Second); key != "" && retryable(a) && time.Now().Before(deadline); {
					time.Sleep(retryDelay(a))
					a = s.purchase(s.client, "https://127.0.0.1:8443", product, 1, key)
				}
				results[b] = append(results[b], sent{key, a})
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	kill()
	<-killed
	close(stopGets)
	getsWG.Wait()
	var all []answer
	for _, r := range results {
		for _, x := range r {
			all = append(all, x.a)
		}
	}
	t.Logf("purchases: %v; GETs %d, failed %d", tally(all), gets.Load(), getFails.Load())
	if getFails.Load() != 0 {
		t.Errorf("%d of %d GETs through nginx failed (last: %v)", getFails.Load(), gets.Load(), getErr.Load())
	}

	rest := s.waitAtRest(t, product, supplied, 30*time.Second)
	answered := map[string]bool{}
	undecided := 0
	for _, r := range results {
		for _, x := range r {
			a := x.a
			if a.Err == nil && a.Status >= 200 && a.Status < 300 {
				answered[a.SagaID] = true
				if rest.Status[a.SagaID] != string(domain.SagaCompleted) {
					t.Errorf("I7: purchase answered %d (saga %s) is %q at rest", a.Status, a.SagaID, rest.Status[a.SagaID])
				}
				continue
			}
			if x.key == "" {
				if a.Err != nil || a.Status == http.StatusBadGateway || a.Status == http.StatusGatewayTimeout || retryable(a) {
					undecided++
				}
				continue
			}
			// A keyed purchase without 2xx: its saga, if any, must not be
			// completed unless the client never got a definite answer.
			saga := string(app.SagaIDForKey(x.key))
			status, exists := rest.Status[saga]
			definite := a.Err == nil && !retryable(a) && a.Status != http.StatusBadGateway && a.Status != http.StatusGatewayTimeout
			if exists && status == string(domain.SagaCompleted) && definite {
				t.Errorf("key %s answered %d %s, but its saga completed", x.key, a.Status, a.Code)
			}
			if !definite {
				undecided++
			}
		}
	}
	// Sagas completed without a 2xx: only those whose answer was lost with
	// the killed instance (their confirm committed first; I7 keeps them).
	lost := 0
	for saga, status := range rest.Status {
		if status == string(domain.SagaCompleted) && !answered[saga] {
			lost++
		}
	}
	if lost > undecided {
		t.Errorf("%d sagas completed without a 2xx, but only %d purchases got no definite answer", lost, undecided)
	}
	t.Logf("sagas %d: completed %d (answered 2xx %d, answer lost %d), compensated %d; purchases without a definite answer %d",
		len(rest.Status), rest.Completed, len(answered), lost, rest.Compensated, undecided)
	s.waitReplica(t, product, rest)
	s.checkKafka(t, rest) // compensated timelines too
	s.logRetries(t, product)
}

// logRetries reports what nginx did with this product's purchases that met
// the dead instance, from its access log (configs/nginx: upstream=A, B lists
// every instance tried): a purchase with a key is passed on to the other
// instance, one without a key is not (502 to the client).
func (s *stack) logRetries(t *testing.T, product string) {
	b, err := os.ReadFile(filepath.Join(s.dir, "nginx", "logs", "access.log"))
	if err != nil {
		t.Logf("nginx access log: %v", err)
		return
	}
	var keyedRetried, keylessRetried, keyless502 int
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "POST /purchase") {
			continue
		}
		retried := strings.Contains(line, "upstream=127.0.0.1:18081, ") || strings.Contains(line, "upstream=127.0.0.1:18082, ")
		keyed := strings.Contains(line, `key="`+product)
		switch {
		case keyed && retried:
			keyedRetried++
		case !keyed && strings.Contains(line, `key="-"`) && retried:
			keylessRetried++
		case !keyed && strings.Contains(line, `key="-"`) && strings.Contains(line, `" 502 `):
			keyless502++
		}
	}
	t.Logf("nginx (whole log): keyed purchases passed to the other instance %d; keyless purchases passed on %d (only possible before sending), answered 502 %d",
		keyedRetried, keylessRetried, keyless502)
}

func retryable(a answer) bool {
	return a.Err == nil && (a.Status == http.StatusServiceUnavailable ||
		(a.Status == http.StatusConflict && a.RetryAfter != ""))
}

func retryDelay(a answer) time.Duration {
	if n, err := strconv.Atoi(a.RetryAfter); err == nil && n > 0 {
		return min(time.Duration(n)*time.Second, time.Second)
	}
	return 200 * time.Millisecond
}

// restart runs scripts/stack up, which starts the killed instance again,
// and waits until both instances are ready.
func (s *stack) restart(t *testing.T) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := osexec.CommandContext(ctx, filepath.Join(s.repo, "scripts", "stack"), "up")
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/stack up: %v\n%s", err, out)
	}
	for _, base := range instances {
		resp, err := s.direct.Get(base + "/readyz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s not ready after scripts/stack up: %v %v", base, resp, err)
		}
		resp.Body.Close()
	}
	t.Logf("scripts/stack up brought both instances back in %v", time.Since(t0).Round(time.Millisecond))
}
