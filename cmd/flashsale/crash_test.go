package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/adapters/redis"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// TestMain lets the test binary serve as flashsale itself, so the crash
// matrix runs real processes without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("RUN_FLASHSALE_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// instance is a flashsale process of the crash matrix.
type instance struct {
	cmd  *exec.Cmd
	base string
	done chan error
}

func startInstance(t *testing.T, env []string) *instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) { // the parent's own FLASHSALE_* are not the child's config
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Env = append(cmd.Env, "RUN_FLASHSALE_MAIN=1", "FLASHSALE_HTTP_ADDR="+addr, "FLASHSALE_LOG_LEVEL=warn")
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in := &instance{cmd: cmd, base: "http://" + addr, done: make(chan error, 1)}
	go func() { in.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-in.done
		if t.Failed() {
			t.Logf("instance %s logs:\n%s", addr, logs.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		if r, err := http.Get(in.base + "/healthz"); err == nil {
			r.Body.Close()
			return in
		}
		select {
		case err := <-in.done:
			t.Fatalf("instance exited at start: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashMatrix: for every crash point, a purchase runs on an instance
// that dies there (exit, no cleanup, as kill -9); a second instance finds
// the saga and drives it to its end. Then, on the real MariaDB and Redis:
// the saga is terminal (I3), COMPLETED only if its confirm committed
// before the crash (I7); durable stock and the Redis gate agree and hold
// nothing (I2); the saga's events are contiguous and all published, and
// kcat (an independent client) reads them all from Kafka, in order, any
// duplicate identical to its first delivery (I6);
// and on the payment gateway both instances share (over HTTP, as a real
// provider), the saga was charged at most once and refunded exactly when
// charged and compensated (I4).
func TestCrashMatrix(t *testing.T) {
	needServices(t)
	for _, at := range app.CrashPoints() {
		t.Run(string(at), func(t *testing.T) {
			gateway, err := payment.NewSimulated(payment.Options{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(string(at), "compensate") {
				// Charge, then report a timeout: the saga compensates, with a refund.
				gateway.SetDecider(func(domain.SagaID) payment.Outcome { return payment.TimeoutCharged })
			}
			paysrv := httptest.NewServer(payment.Handler(gateway))
			defer paysrv.Close()
			env := append(realEnv(t), "FLASHSALE_MYSQL_MIGRATE_ON_START=true",
				"FLASHSALE_ADAPTERS_PAYMENTS=http", "FLASHSALE_PAYMENTS_URL="+paysrv.URL,
				"FLASHSALE_SAGA_STRATEGY=none", "FLASHSALE_KAFKA_TIMELINE=true",
				// Short leases and deadlines, so recovery comes within seconds.
				"FLASHSALE_SAGA_STEP_TIMEOUT=500ms", "FLASHSALE_SAGA_SAGA_TIMEOUT=1s",
				"FLASHSALE_SAGA_LEASE_TTL=2s", "FLASHSALE_SAGA_RESERVATION_TTL=3s",
				"FLASHSALE_SAGA_BACKGROUND_INTERVAL=100ms")
			survivor := startInstance(t, env)
			product := fmt.Sprintf("crash-%s-%d", at, time.Now().UnixNano())
			supplyOver(t, survivor.base, product, 5)

			dyingEnv := append(append([]string(nil), env...), crashEnv+"="+string(at))
			dying := startInstance(t, dyingEnv)
			resp, err := http.Post(dying.base+"/purchase", "application/json", strings.NewReader(`{"productId":"`+product+`","qty":1}`))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("the dying instance answered %d", resp.StatusCode)
			}
			var exit *exec.ExitError
			if err := <-dying.done; !errors.As(err, &exit) || exit.ExitCode() != crashExitCode {
				t.Fatalf("the dying instance ended with %v, want exit %d", err, crashExitCode)
			}
			dying.done <- nil // for its cleanup

			wantStock, wantStatus := int64(5), domain.SagaCompensated
			if at == app.CrashAfterConfirm {
				wantStock, wantStatus = 4, domain.SagaCompleted
			}
			saga := waitAtRest(t, product, wantStock, wantStatus)
			checkKafkaTimeline(t, saga, survivor.base)

			e := gateway.Ledger()[saga]
			if gateway.ChargesApplied() > 1 || (wantStatus == domain.SagaCompleted && (!e.Charged || e.Refunded)) ||
				(wantStatus == domain.SagaCompensated && e.Charged != e.Refunded) {
				t.Fatalf("I4: saga %s %s, ledger %+v, %d charges", saga, wantStatus, e, gateway.ChargesApplied())
			}
		})
	}
}

func supplyOver(t *testing.T, base, product string, stock int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/products", strings.NewReader(fmt.Sprintf(`{"id":%q,"name":"crash","priceMinor":100,"addStock":%d}`, product, stock)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer admin-secret-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("supply: %v %v", resp, err)
	}
	resp.Body.Close()
}

// waitAtRest polls the real servers until the product's saga is at rest,
// then checks the invariants; it fails after 20 s.
func waitAtRest(t *testing.T, product string, wantStock int64, wantStatus domain.SagaStatus) domain.SagaID {
	t.Helper()
	db, err := sql.Open("mysql", "flashsale:flashsale@tcp("+realPrimary+")/"+realDB)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	client, err := redis.NewClient(redis.Options{Addrs: []string{realRedis}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	inv := redis.NewInventory(client)
	ctx := context.Background()

	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var saga, status string
		var stock int64
		var sagas, events, unpublished, maxSeq int
		err := db.QueryRow(`SELECT COUNT(*), COALESCE(MAX(id), ''), COALESCE(MAX(status), '') FROM sagas WHERE product_id = ?`, product).Scan(&sagas, &saga, &status)
		if err == nil {
			err = db.QueryRow(`SELECT stock FROM products WHERE id = ?`, product).Scan(&stock)
		}
		if err == nil {
			err = db.QueryRow(`SELECT COALESCE(SUM(last_seq - first_seq + 1), 0), COALESCE(MAX(last_seq), 0), COALESCE(SUM(last_seq - published_seq), 0) FROM saga_event_writes WHERE saga_id = ?`, saga).Scan(&events, &maxSeq, &unpublished)
		}
		if err != nil {
			t.Fatal(err)
		}
		level, lerr := inv.Level(ctx, domain.ProductID(product))
		last = fmt.Sprintf("sagas %d (%s %s), durable stock %d, gate %+v (%v), events %d (max seq %d, unpublished %d)",
			sagas, saga, status, stock, level, lerr, events, maxSeq, unpublished)
		if sagas != 1 || !domain.SagaStatus(status).Terminal() || lerr != nil || level.Reserved != 0 || unpublished != 0 {
			continue // not at rest yet
		}
		if status != string(wantStatus) || stock != wantStock || level.Stock != stock || events != maxSeq || events < 4 {
			t.Fatalf("at rest, wrong: %s; want %s and stock %d", last, wantStatus, wantStock)
		}
		return domain.SagaID(saga)
	}
	t.Fatalf("not at rest within 20 s: %s", last)
	return ""
}

// checkKafkaTimeline reads the topic with kcat and checks the saga's
// events are all there, in seq order, every duplicate identical to its
// first delivery; and that the survivor's consumer sees the same timeline.
func checkKafkaTimeline(t *testing.T, saga domain.SagaID, survivor string) {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is needed to read the events independently: %v (scripts/kafka up installs it)", err)
	}
	out, err := exec.Command(kcat, "-b", realKafka+",127.0.0.1:19093", "-C", "-t", "flashsale.events",
		"-o", "beginning", "-e", "-q", "-f", "%k\t%s\n").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	first := map[string]string{}
	var seqs []int
	for _, line := range strings.Split(string(out), "\n") {
		key, value, ok := strings.Cut(line, "\t")
		if !ok || key != string(saga) {
			continue
		}
		var e struct {
			ID  string `json:"id"`
			Seq int    `json:"seq"`
		}
		if err := json.Unmarshal([]byte(value), &e); err != nil {
			t.Fatalf("undecodable event %q: %v", value, err)
		}
		if prev, dup := first[e.ID]; dup {
			if prev != value {
				t.Fatalf("I6: duplicate of %s differs:\n%s\n%s", e.ID, prev, value)
			}
			continue
		}
		first[e.ID] = value
		seqs = append(seqs, e.Seq)
	}
	if len(seqs) < 4 {
		t.Fatalf("I6: kcat read %d events of saga %s", len(seqs), saga)
	}
	for i, seq := range seqs {
		if seq != i+1 {
			t.Fatalf("I6: saga %s events in Kafka have seqs %v", saga, seqs)
		}
	}
	// The consumer of the surviving instance sees the same timeline.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(survivor + "/sagas/" + string(saga) + "/events")
		if err != nil {
			t.Fatal(err)
		}
		var tl struct {
			Source string
			Events []domain.Event
		}
		_ = json.NewDecoder(resp.Body).Decode(&tl)
		resp.Body.Close()
		if tl.Source == "kafka" && len(tl.Events) == len(seqs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the survivor's Kafka timeline has %d of %d events (source %q)", len(tl.Events), len(seqs), tl.Source)
		}
	}
}
