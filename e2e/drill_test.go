package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// The failure drills: for each, open-model load through nginx (keyed
// purchases of a fresh product and of a bystander product, and reads of
// both), a fault injected into the stack, healed, and what the clients saw
// measured. `make drills` runs them, each drillRounds() times with fresh
// products, and prints the table (also written to .stack/app/drills.txt);
// CI runs them as part of the e2e suite. README, "When a part of the stack
// fails: the failure drills", says what each shows.

const (
	drillRate     = 30 // per second: purchases of each product, and reads of each
	drillSupplied = 3000
	drillBefore   = 2 * time.Second // load before the fault
	drillAfter    = 3 * time.Second // load after the heal
	// A purchase sent this long after the heal must not fail.
	drillSettle = 2 * time.Second
	// A client that gets no answer within this is a hang: more than nginx's
	// 8 s purchase timeout plus its retry on the other instance.
	drillClientTimeout = 12 * time.Second
)

// drill is one fault.
type drill struct {
	name string
	// hold is how long the fault lasts, under load, before heal runs.
	hold time.Duration
	// inject starts the fault; its result heals it (returning once healed).
	inject func(t *testing.T, s *stack, hot, other string) (heal func(t *testing.T))
	// apart: the bystander's Redis master is not the hot product's.
	apart bool
	// resumeWithin bounds the seconds from the fault until the hot product
	// sells again (0: not bounded, only reported).
	resumeWithin time.Duration
	// otherFreeAfter: the bystander's purchases fail no later than this
	// after the fault (0: not asserted).
	otherFreeAfter time.Duration
	// kafka: check every saga's timeline in the topic at rest.
	kafka bool
	// unkeyedOther: the bystander's purchases carry no Idempotency-Key; they
	// may fail only if sent before the heal, and are not retried.
	unkeyedOther bool
	// galera: the drill needs the stack's MariaDB to be the Galera cluster.
	galera bool
	// dependency: what a 503 unavailable of the product must name.
	dependency string
}

// drillRow is one round's line of the table.
type drillRow struct {
	drill                  string
	round                  int
	reads, readFails       int
	buys, hotFails         int
	otherFails             int
	resumed                time.Duration // -1: the hot product never failed
	neverResumed           bool          // it failed and never sold again
	beforeFails            int           // failures sent before the fault
	laterFails             int           // the product's failures sent once the heal began
	slowestRead            time.Duration // the longest wait for a first answer
	slowestBuy             time.Duration
	hangs, notJSON         int
	ackMissing, moneyWrong int
	drift                  int
	atRest                 string // I1 and I2 at rest: "ok" once both products were checked
	completed, compensated int
}

var (
	drillMu    sync.Mutex
	drillTable []drillRow
)

func drillRounds(t *testing.T) int {
	n := 3
	if v := os.Getenv("FLASHSALE_DRILL_ROUNDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("FLASHSALE_DRILL_ROUNDS=%q: want a positive count", v)
		}
	}
	return n
}

// TestDrills runs every drill, drillRounds() times each, and prints the
// table.
func TestDrills(t *testing.T) {
	s := needStack(t)
	rounds := drillRounds(t)
	t.Cleanup(func() { s.printDrills(t) })
	for _, d := range drills() {
		t.Run(d.name, func(t *testing.T) {
			if d.galera {
				if mode := s.dbMode(t); mode != "galera" {
					msg := fmt.Sprintf("the stack runs MariaDB as %q, whose failover is a human step (scripts/mariadb promote); this drill needs STACK_DB=galera scripts/stack up", mode)
					if os.Getenv("CI") == "true" {
						t.Fatal("CI=true: " + msg)
					}
					t.Skip(msg)
				}
			}
			for round := range rounds {
				row := &drillRow{drill: d.name, round: round + 1, resumed: -1, atRest: "not reached"}
				func() {
					// Deferred: a round that fails (t.Fatal included) is in the table too.
					defer func() {
						drillMu.Lock()
						drillTable = append(drillTable, *row)
						drillMu.Unlock()
					}()
					s.runDrill(t, d, row)
				}()
				if t.Failed() {
					return
				}
			}
		})
	}
}

func drills() []drill {
	return []drill{
		{
			name: "redis-master-kill", hold: 8 * time.Second, apart: true,
			resumeWithin: 3 * time.Second, otherFreeAfter: time.Second, dependency: "inventory",
			inject: func(t *testing.T, s *stack, hot, _ string) func(*testing.T) {
				s.healRedis(t) // every master with a synced replica to fail over to
				victim := s.master(t, hot)
				pid := redisPID(t, victim)
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatalf("kill -9 %d (Redis master %s): %v", pid, victim, err)
				}
				return func(t *testing.T) { s.healRedis(t) }
			},
		},
		{
			// Galera (STACK_DB=galera): haproxy moves the writes to the
			// other data node; the killed one rejoins by scripts/galera up.
			name: "mariadb-writer-kill", hold: 12 * time.Second, resumeWithin: 10 * time.Second, galera: true, dependency: "store",
			inject: func(t *testing.T, s *stack, _, _ string) func(*testing.T) {
				name, pid := s.galeraWriter(t)
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatalf("kill -9 %d (Galera node %s, the writer): %v", pid, name, err)
				}
				t.Cleanup(func() { s.script(t, "galera", "up") })
				return func(t *testing.T) {
					// One command brings the node back, its data kept: it
					// catches up by IST, not by a state transfer that
					// replaces its data; then both nodes are Synced.
					if out := s.script(t, "galera", "up"); !strings.Contains(out, name+" joined") || !strings.Contains(out, "by IST") {
						t.Errorf("scripts/galera up did not rejoin %s by IST:\n%s", name, out)
					}
					s.script(t, "galera", "status")
				}
			},
		},
		{
			name: "instance-kill", hold: 6 * time.Second,
			inject: func(t *testing.T, s *stack, _, _ string) func(*testing.T) {
				pid := s.pidOf(t, 1)
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatalf("kill -9 %d (instance stack-1): %v", pid, err)
				}
				return func(t *testing.T) { s.restart(t) }
			},
		},
		{
			name: "instance-sigstop-20s", hold: 20 * time.Second, unkeyedOther: true,
			inject: func(t *testing.T, s *stack, _, _ string) func(*testing.T) {
				return s.freeze(t, "instance stack-1", s.pidOf(t, 1))
			},
		},
		{
			name: "kafka-broker-removed", hold: 8 * time.Second, kafka: true,
			inject: func(t *testing.T, s *stack, _, _ string) func(*testing.T) {
				s.script(t, "kafka", "remove-broker")
				t.Cleanup(func() { s.script(t, "kafka", "restore-broker") })
				return func(t *testing.T) { s.script(t, "kafka", "restore-broker") }
			},
		},
		{
			name: "paysim-sigstop-10s", hold: 10 * time.Second, dependency: "payments",
			inject: func(t *testing.T, s *stack, _, _ string) func(*testing.T) {
				return s.freeze(t, "paysim", s.pidFile(t, "paysim.pid"))
			},
		},
	}
}

// freeze stops pid (SIGSTOP) and returns what thaws it; a failed test
// thaws it too.
func (s *stack) freeze(t *testing.T, what string, pid int) func(*testing.T) {
	thaw := sync.OnceFunc(func() {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Errorf("kill -CONT %d (%s): %v", pid, what, err)
		}
	})
	t.Cleanup(thaw)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("kill -STOP %d (%s): %v", pid, what, err)
	}
	return func(*testing.T) { thaw() }
}

// script runs scripts/<name> args, failing the test on an error, and
// returns its output.
func (s *stack) script(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := osexec.CommandContext(ctx, filepath.Join(s.repo, "scripts", name), args...)
	// The script's background children may hold its output open: stop
	// waiting for them 5 s after the deadline.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dbMode is how the stack runs MariaDB (scripts/stack: STACK_DB).
func (s *stack) dbMode(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "db"))
	if err != nil {
		t.Fatalf("which MariaDB the stack runs: %v (scripts/stack up writes it)", err)
	}
	return strings.TrimSpace(string(b))
}

// galeraWriter is the Galera node haproxy sends the writes to, and its pid.
func (s *stack) galeraWriter(t *testing.T) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := osexec.CommandContext(ctx, filepath.Join(s.repo, "scripts", "galera"), "writer").Output()
	if err != nil {
		t.Fatalf("scripts/galera writer: %v", err)
	}
	name, p, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	pid, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("scripts/galera writer said %q", out)
	}
	return name, pid
}

// pidFile reads a pid from a file of the stack's app folder.
func (s *stack) pidFile(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return pid
}

// sent is one request of a drill's load.
type sent struct {
	product, key string // key: a purchase's Idempotency-Key ("" for a read)
	at           time.Time
	took         time.Duration // until the first answer
	a            answer
}

// runDrill runs one round of d and checks what every drill must hold:
// every read answered 200, every answer JSON, no client left hanging,
// every keyed purchase ending in its one saga once retried, every 201 a
// COMPLETED saga, I1 and I2 at rest, no money kept for a compensated saga
// and none missing for a completed one, and no gate drift.
func (s *stack) runDrill(t *testing.T, d drill, row *drillRow) {
	round := row.round - 1
	hot := s.newProduct(t, fmt.Sprintf("drill-%s-%d", d.name, round), drillSupplied)
	other := s.newProduct(t, fmt.Sprintf("drill-%s-%d-other", d.name, round), drillSupplied)
	for i := 0; d.apart && s.master(t, other) == s.master(t, hot); i++ {
		if i == 50 {
			t.Fatal("no product on another Redis master in 50 tries")
		}
		other = s.newProduct(t, fmt.Sprintf("drill-%s-%d-other", d.name, round), drillSupplied)
	}
	client := &http.Client{Timeout: drillClientTimeout, Transport: s.client.Transport}

	var (
		mu     sync.Mutex
		buys   []sent
		reads  []sent
		loadWG sync.WaitGroup
	)
	stop := make(chan struct{})
	stopLoad := sync.OnceFunc(func() { close(stop) })
	t.Cleanup(stopLoad)
	loadWG.Go(func() {
		tick := time.NewTicker(time.Second / drillRate)
		defer tick.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, product := range []string{hot, other} {
				key := fmt.Sprintf("%s-%d", product, i)
				if product == other && d.unkeyedOther {
					key = ""
				}
				wg.Go(func() {
					at := time.Now()
					a := s.purchase(client, nginxBase, product, 1, key)
					mu.Lock()
					buys = append(buys, sent{product, key, at, time.Since(at), a})
					mu.Unlock()
				})
				wg.Go(func() {
					at := time.Now()
					a := s.read(client, product)
					mu.Lock()
					reads = append(reads, sent{product, "", at, time.Since(at), a})
					mu.Unlock()
				})
			}
		}
	})

	time.Sleep(drillBefore)
	injectAt := time.Now()
	heal := d.inject(t, s, hot, other)
	faultAt := time.Now()
	time.Sleep(d.hold)
	healingAt := time.Now()
	heal(t)
	healedAt := time.Now()
	time.Sleep(drillAfter)
	stopLoad()
	loadWG.Wait()

	slices.SortFunc(buys, func(x, y sent) int { return x.at.Compare(y.at) })
	// The outage: from the fault to the first sale after the last failure
	// sent before the heal began. Failures sent from then on (a heal's own
	// stall: a Galera node rejoining, a Redis replica resyncing) are counted
	// apart.
	var lastFail, firstSale, lastLater time.Time
	var hotFirst, otherFirst []answer
	for _, b := range buys {
		row.count(b.a)
		row.slowestBuy = max(row.slowestBuy, b.took)
		ok := b.a.Status == http.StatusCreated
		if b.product == other {
			otherFirst = append(otherFirst, b.a)
		} else {
			hotFirst = append(hotFirst, b.a)
		}
		switch {
		case b.product == other:
			if !ok {
				row.otherFails++
				if d.otherFreeAfter > 0 && b.at.After(faultAt.Add(d.otherFreeAfter)) {
					t.Errorf("round %d: the bystander's purchase %s sent %v after the fault got %d %s %v",
						round+1, b.key, b.at.Sub(faultAt).Round(10*time.Millisecond), b.a.Status, b.a.Code, b.a.Err)
				}
				if b.key == "" && b.at.After(healedAt) {
					t.Errorf("round %d: an unkeyed purchase sent %v after the heal got %d %s %v",
						round+1, b.at.Sub(healedAt).Round(10*time.Millisecond), b.a.Status, b.a.Code, b.a.Err)
				}
			}
		case !ok:
			row.buys++
			row.hotFails++
			// Answered before the injection began: nothing was wrong yet.
			// (One sent before but answered after was in flight when the
			// fault hit.)
			if b.at.Add(b.took).Before(injectAt) {
				row.beforeFails++
				t.Errorf("round %d: purchase %s answered %v before the fault: %d %s %v", round+1, b.key,
					injectAt.Sub(b.at.Add(b.took)).Round(10*time.Millisecond), b.a.Status, b.a.Code, b.a.Err)
			}
			if b.at.After(healedAt.Add(drillSettle)) {
				t.Errorf("round %d: purchase %s sent %v after the heal got %d %s %v", round+1, b.key,
					b.at.Sub(healedAt).Round(10*time.Millisecond), b.a.Status, b.a.Code, b.a.Err)
			}
			if b.a.Status == http.StatusServiceUnavailable && b.a.Code == "unavailable" && d.dependency != "" && b.a.Dependency != d.dependency {
				t.Errorf("round %d: purchase %s: 503 unavailable naming %q, want %q", round+1, b.key, b.a.Dependency, d.dependency)
			}
			if b.a.Status >= 500 && b.a.RetryAfter == "" && b.a.Status != http.StatusGatewayTimeout && b.a.Status != http.StatusBadGateway {
				t.Errorf("round %d: purchase %s: %d %s without Retry-After", round+1, b.key, b.a.Status, b.a.Code)
			}
			if b.at.Before(healingAt) {
				lastFail, firstSale = b.at, time.Time{}
			} else {
				row.laterFails++
				lastLater = b.at
			}
		default:
			row.buys++
			if !lastFail.IsZero() && firstSale.IsZero() {
				firstSale = b.at
			}
		}
	}
	if !lastFail.IsZero() {
		if firstSale.IsZero() {
			row.neverResumed = true
			t.Errorf("round %d: the product never sold again after the fault", round+1)
		} else {
			row.resumed = max(firstSale.Sub(faultAt), 0)
		}
	}
	if row.laterFails > 0 {
		t.Logf("round %d: %d purchases failed once the heal began (%v after the fault; it took %v), the last sent %v after the fault",
			round+1, row.laterFails, healingAt.Sub(faultAt).Round(10*time.Millisecond), healedAt.Sub(healingAt).Round(10*time.Millisecond),
			lastLater.Sub(faultAt).Round(10*time.Millisecond))
	}
	if d.resumeWithin > 0 && row.hotFails == 0 {
		t.Errorf("round %d: no purchase of the product failed: the fault did not reach it", round+1)
	}
	if d.resumeWithin > 0 && row.resumed > d.resumeWithin {
		t.Errorf("round %d: purchases resumed %v after the fault, want <= %v", round+1, row.resumed.Round(10*time.Millisecond), d.resumeWithin)
	}
	for _, r := range reads {
		row.reads++
		row.count(r.a)
		row.slowestRead = max(row.slowestRead, r.took)
		if r.a.Err != nil || r.a.Status != http.StatusOK || !jsonType(r.a.ContentType) {
			row.readFails++
			if row.readFails == 1 {
				t.Errorf("round %d: a read of %s sent %v after the fault got %d %q %v", round+1, r.product,
					r.at.Sub(faultAt).Round(10*time.Millisecond), r.a.Status, r.a.ContentType, r.a.Err)
			}
		}
	}

	// Clients with a key retry what asks for a retry (and what got no
	// answer), each on its own: every purchase then ends definite.
	var wg sync.WaitGroup
	for i := range buys {
		b := &buys[i]
		if b.key == "" {
			continue
		}
		wg.Go(func() {
			for deadline := time.Now().Add(30 * time.Second); unsettled(b.a) && time.Now().Before(deadline); {
				time.Sleep(retryDelay(b.a))
				b.a = s.purchase(client, nginxBase, b.product, 1, b.key)
			}
		})
	}
	wg.Wait()

	for _, product := range []string{hot, other} {
		rest := s.waitAtRest(t, product, drillSupplied, 60*time.Second) // I1, I2
		row.completed += rest.Completed
		row.compensated += rest.Compensated
		for _, b := range buys {
			if b.product != product {
				continue
			}
			if b.key == "" {
				if b.a.Status == http.StatusCreated && rest.Status[b.a.SagaID] != string(domain.SagaCompleted) {
					row.ackMissing++
					t.Errorf("round %d: an unkeyed purchase answered 201 for saga %s, %q at rest", round+1, b.a.SagaID, rest.Status[b.a.SagaID])
				}
				continue
			}
			saga := string(app.SagaIDForKey(b.key))
			status := rest.Status[saga]
			switch a := b.a; {
			case unsettled(a):
				t.Errorf("round %d: purchase %s still %d %s %v after 30 s of retries", round+1, b.key, a.Status, a.Code, a.Err)
			case a.Status == http.StatusCreated:
				if a.SagaID != saga || status != string(domain.SagaCompleted) {
					row.ackMissing++
					t.Errorf("round %d: key %s answered 201 for saga %s, %q at rest; want its key's saga %s, COMPLETED", round+1, b.key, a.SagaID, status, saga)
				}
			case a.Code != "purchase_compensated" || status != string(domain.SagaCompensated):
				// With stock for everyone and no declines, a purchase that
				// did not sell was undone under its key.
				t.Errorf("round %d: key %s ended %d %s, its saga %q; want 409 purchase_compensated, COMPENSATED", round+1, b.key, a.Status, a.Code, status)
			}
		}
		row.moneyWrong += s.checkCharges(t, rest)
		if d.kafka {
			s.checkKafka(t, rest)
		}
	}
	row.atRest = "ok"
	row.drift = s.reconcileDrift(t, hot, other)
	if row.hangs > 0 || row.notJSON > 0 || row.moneyWrong > 0 || row.drift > 0 {
		t.Errorf("round %d: %d clients left hanging, %d answers not JSON, %d sagas with money wrong, %d products drifting",
			round+1, row.hangs, row.notJSON, row.moneyWrong, row.drift)
	}
	t.Logf("round %d: %s; first answers: the product's %v, the bystander's %v", round+1, row, tally(hotFirst), tally(otherFirst))
}

// unsettled: a keyed purchase's answer that asks for the same request
// again (409 or 503 with Retry-After, nginx's 502 or 504: the outcome is
// unknown), or no answer.
func unsettled(a answer) bool {
	return retryable(a) || a.Err != nil || a.Status == http.StatusBadGateway || a.Status == http.StatusGatewayTimeout
}

// count notes what every answer must be: an answer (no hang), and JSON.
func (r *drillRow) count(a answer) {
	switch {
	case a.Err != nil:
		r.hangs++
	case !jsonType(a.ContentType):
		r.notJSON++
	}
}

func jsonType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return mt == "application/json" || mt == "application/problem+json"
}

func (r *drillRow) String() string {
	resumed := "never stopped"
	if r.neverResumed {
		resumed = "never resumed"
	} else if r.resumed >= 0 {
		resumed = "resumed after " + r.resumed.Round(10*time.Millisecond).String()
	}
	return fmt.Sprintf("reads %d (failed %d, slowest %v); purchases %d (failed %d, %s, %d in the heal; slowest answer %v); bystander's failed %d; hangs %d, not JSON %d; "+
		"acknowledged missing %d; money wrong %d; drift %d; sagas completed %d, compensated %d",
		r.reads, r.readFails, r.slowestRead.Round(time.Millisecond), r.buys, r.hotFails, resumed, r.laterFails, r.slowestBuy.Round(time.Millisecond),
		r.otherFails, r.hangs, r.notJSON,
		r.ackMissing, r.moneyWrong, r.drift, r.completed, r.compensated)
}

// read GETs a product through nginx.
func (s *stack) read(client *http.Client, product string) answer {
	resp, err := client.Get(nginxBase + "/products/" + product)
	if err != nil {
		return answer{Err: err}
	}
	defer resp.Body.Close()
	var v struct{ ID string }
	a := answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil && a.Status == http.StatusOK {
		a.Status, a.Code = 0, "undecodable body: "+err.Error()
	}
	return a
}

// checkCharges asks paysim's ledger about every saga of rest: a COMPLETED
// saga was charged once and kept, a COMPENSATED one kept nothing (never
// charged, or refunded). It returns how many sagas break that.
func (s *stack) checkCharges(t *testing.T, rest atRest) int {
	t.Helper()
	var (
		mu    sync.Mutex
		wrong int
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 16)
	)
	for saga, status := range rest.Status {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var e struct{ Charged, Refunded bool }
			seen := true
			resp, err := s.direct.Get(paysimBase + "/ledger/" + saga)
			if err == nil {
				switch resp.StatusCode {
				case http.StatusOK:
					err = json.NewDecoder(resp.Body).Decode(&e)
				case http.StatusNotFound:
					seen = false
				default:
					err = fmt.Errorf("GET /ledger/%s: %s", saga, resp.Status)
				}
				resp.Body.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("paysim's ledger: %v", err)
			case status == string(domain.SagaCompleted) && (!seen || !e.Charged || e.Refunded):
				wrong++
				t.Errorf("saga %s COMPLETED but the gateway has it charged=%t refunded=%t (seen %t)", saga, e.Charged, e.Refunded, seen)
			case status == string(domain.SagaCompensated) && e.Charged && !e.Refunded:
				wrong++
				t.Errorf("saga %s COMPENSATED but its charge was kept", saga)
			}
		})
	}
	wg.Wait()
	return wrong
}

// reconcileDrift runs `flashsale reconcile` (no --fix) on the stack's
// configuration and returns how many products' gate drifts from the
// durable stock.
func (s *stack) reconcileDrift(t *testing.T, products ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := osexec.CommandContext(ctx, filepath.Join(s.dir, "bin", "flashsale"), "reconcile", "--config", filepath.Join(s.repo, "configs", "stack.yaml"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"FLASHSALE_TRACING_FILE=" + filepath.Join(s.dir, "traces", "reconcile.jsonl")}
	out, err := cmd.Output()
	if err == nil && strings.Contains(string(out), "no drift") {
		return 0
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 {
		t.Errorf("flashsale reconcile: %v\n%s", err, out)
		return 0
	}
	t.Logf("flashsale reconcile:\n%s", out)
	drift := 0
	for _, line := range lines[1:] {
		if slices.Contains(products, strings.Fields(line)[0]) {
			drift++
		}
	}
	return drift
}

// printDrills logs the table and writes it to .stack/app/drills.txt.
func (s *stack) printDrills(t *testing.T) {
	drillMu.Lock()
	defer drillMu.Unlock()
	if len(drillTable) == 0 {
		return
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "drill\tround\treads\tfailed\tslowest\tpurchases\tfailed\tresumed after\tfailed in heal\tslowest\tbystander failed\thangs\tnot JSON\tack'd missing\tmoney wrong\tI1/I2\tdrift\t")
	for _, r := range drillTable {
		resumed := "-"
		if r.neverResumed {
			resumed = "never"
		} else if r.resumed >= 0 {
			resumed = r.resumed.Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%v\t%d\t%d\t%s\t%d\t%v\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t\n", r.drill, r.round, r.reads, r.readFails,
			r.slowestRead.Round(10*time.Millisecond), r.buys, r.hotFails, resumed, r.laterFails, r.slowestBuy.Round(10*time.Millisecond),
			r.otherFails, r.hangs, r.notJSON, r.ackMissing, r.moneyWrong, r.atRest, r.drift)
	}
	tw.Flush()
	t.Logf("failure drills (through nginx, %d/s purchases of each of two products and as many reads of each):\n%s", drillRate, b.String())
	if err := os.WriteFile(filepath.Join(s.dir, "drills.txt"), []byte(b.String()), 0o644); err != nil {
		t.Log(err)
	}
}
