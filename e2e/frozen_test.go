package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// TestFrozenInstanceHangsNoClient: one instance stopped (SIGSTOP) for 14 s
// while reads and keyed purchases run through nginx, open model. nginx
// tells frozen from busy by its read timeouts (3 s for reads, 8 s for
// purchases; configs/nginx): every read is answered 200 (the other
// instance answers the ones that timed out); every purchase gets an HTTP
// answer, never a hang: 201, a retryable problem+json (409 with
// Retry-After, 503), or its saga's outcome. Retried with their keys after
// the thaw, each ends in its one saga, and at rest every saga is terminal,
// I1 and I2 hold, and each 201 is a COMPLETED saga.
func TestFrozenInstanceHangsNoClient(t *testing.T) {
	s := needStack(t)
	const (
		supplied = 1000
		rate     = 30 // purchases/s, and as many reads
		freeze   = 14 * time.Second
		before   = time.Second
		after    = 3 * time.Second
	)
	product := s.newProduct(t, "frozen", supplied)
	victim := s.pidOf(t, 1)
	thaw := sync.OnceFunc(func() {
		if err := syscall.Kill(victim, syscall.SIGCONT); err != nil {
			t.Errorf("kill -CONT %d: %v", victim, err)
		}
	})
	t.Cleanup(thaw)
	// A hang is a client that gives up: after 12 s, more than nginx's 8 s
	// purchase timeout and its retry on the other instance, less than the
	// freeze (a request left with the frozen instance waits it out).
	client := &http.Client{Timeout: 12 * time.Second, Transport: s.client.Transport}

	type sent struct {
		key string
		a   answer
	}
	var (
		mu        sync.Mutex
		buys      []sent
		reads     int
		readFails []string
		wg        sync.WaitGroup
	)
	go func() {
		time.Sleep(before)
		if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
			t.Errorf("kill -STOP %d: %v", victim, err)
			return
		}
		time.Sleep(freeze)
		thaw()
	}()
	tick := time.NewTicker(time.Second / rate)
	for i := 0; i < int((before+freeze+after)/time.Second)*rate; i++ {
		<-tick.C
		key := fmt.Sprintf("%s-%d", product, i)
		wg.Go(func() {
			a := s.purchase(client, nginxBase, product, 1, key)
			mu.Lock()
			buys = append(buys, sent{key, a})
			mu.Unlock()
		})
		wg.Go(func() {
			resp, err := client.Get(nginxBase + "/products/" + product)
			msg := ""
			if err != nil {
				msg = err.Error()
			} else {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					msg = resp.Status
				}
			}
			mu.Lock()
			reads++
			if msg != "" {
				readFails = append(readFails, msg)
			}
			mu.Unlock()
		})
	}
	tick.Stop()
	wg.Wait()
	thaw()

	var answers []answer
	for _, b := range buys {
		answers = append(answers, b.a)
	}
	t.Logf("during the freeze: purchases %v; reads %d, failed %d", tally(answers), reads, len(readFails))
	if len(readFails) > 0 {
		t.Errorf("%d of %d reads failed, e.g. %v", len(readFails), reads, readFails[0])
	}
	final := map[string]answer{}
	for _, b := range buys {
		a := b.a
		switch {
		case a.Err != nil:
			t.Errorf("purchase %s: no answer (%v): a client left hanging", b.key, a.Err)
		case a.Status == http.StatusCreated, a.Status == http.StatusConflict, a.Status == http.StatusServiceUnavailable && a.RetryAfter != "":
		default:
			t.Errorf("purchase %s: %d %s, want 201, 409 or a 503 with Retry-After", b.key, a.Status, a.Code)
		}
		// A client with a key retries what asks for a retry, with the key.
		for deadline := time.Now().Add(30 * time.Second); retryable(a) && time.Now().Before(deadline); {
			time.Sleep(retryDelay(a))
			a = s.purchase(client, nginxBase, product, 1, b.key)
		}
		if retryable(a) || a.Err != nil {
			t.Errorf("purchase %s: still %d %s %v after 30 s of retries", b.key, a.Status, a.Code, a.Err)
		}
		final[b.key] = a
	}

	rest := s.waitAtRest(t, product, supplied, 30*time.Second)
	for key, a := range final {
		saga := string(app.SagaIDForKey(key))
		status, exists := rest.Status[saga]
		switch {
		case a.Status == http.StatusCreated:
			if a.SagaID != saga || status != string(domain.SagaCompleted) {
				t.Errorf("key %s: 201 for saga %s, which is %q at rest (want its key's saga %s, COMPLETED)", key, a.SagaID, status, saga)
			}
		case a.Code == "purchase_compensated":
			if status != string(domain.SagaCompensated) {
				t.Errorf("key %s: answered compensated, its saga is %q at rest", key, status)
			}
		case exists && status == string(domain.SagaCompleted):
			t.Errorf("key %s: answered %d %s, but its saga completed", key, a.Status, a.Code)
		}
	}
	t.Logf("at rest: %d sagas for %d keys, completed %d, compensated %d", len(rest.Status), len(final), rest.Completed, rest.Compensated)
}
