package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/flashsale/flashsale/adapters/redis"
	"github.com/flashsale/flashsale/domain"
)

const (
	realRedis   = "127.0.0.1:7379"
	realPrimary = "127.0.0.1:3316"
	realReplica = "127.0.0.1:3317"
	realDB      = "flashsale_cmd" // this package's own database: adapter tests truncate theirs
	realKafka   = "127.0.0.1:19092"
)

// needServices skips (or, with CI=true, fails) when the local Redis and
// MariaDB that scripts/redis and scripts/mariadb start are not there.
func needServices(t *testing.T) {
	t.Helper()
	for _, addr := range []string{realRedis, realPrimary, realReplica, realKafka} {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			msg := fmt.Sprintf("%s not reachable (%v); start it with: make stack-up", addr, err)
			if os.Getenv("CI") == "true" {
				t.Fatal("CI=true: " + msg)
			}
			t.Skip(msg)
		}
		c.Close()
	}
}

// realEnv configures the service on the local Redis and a fresh database.
func realEnv(t *testing.T) []string {
	t.Helper()
	db, err := sql.Open("mysql", "flashsale:flashsale@tcp("+realPrimary+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{"DROP DATABASE IF EXISTS " + realDB, "CREATE DATABASE " + realDB} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	dsn := func(addr string) string { return "flashsale:flashsale@tcp(" + addr + ")/" + realDB }
	return []string{
		"FLASHSALE_ADAPTERS_INVENTORY=redis", "FLASHSALE_ADAPTERS_LOCK=redis", "FLASHSALE_ADAPTERS_CACHE=redis",
		"FLASHSALE_ADAPTERS_STORE=mysql", "FLASHSALE_REDIS_ADDRS=" + realRedis,
		"FLASHSALE_MYSQL_PRIMARY_DSNS=" + dsn(realPrimary) + "," + dsn(realReplica),
		"FLASHSALE_MYSQL_REPLICA_DSNS=" + dsn(realReplica),
		"FLASHSALE_DEMO_PRODUCTS=false", "FLASHSALE_ADMIN_TOKEN=admin-secret-0123456789",
		"FLASHSALE_HTTP_ADDR=127.0.0.1:0", "FLASHSALE_SAGA_STRATEGY=lock", "FLASHSALE_ADAPTERS_EVENTS=kafka",
	}
}

func TestMigrateOnAnEmptyDatabase(t *testing.T) {
	needServices(t)
	env := realEnv(t)
	for i := range 2 { // the second run finds nothing to do
		var out bytes.Buffer
		if err := run(context.Background(), []string{"migrate"}, env, &out, io.Discard); err != nil {
			t.Fatalf("migrate run %d: %v", i+1, err)
		}
		if !strings.Contains(out.String(), "migrated "+realPrimary) {
			t.Fatalf("migrate said %q", out.String())
		}
	}
}

// TestServeOnRedisAndMySQL: the service on the real adapters sells, reads
// its own writes, reports ready, and reconcile finds and fixes a drift.
func TestServeOnRedisAndMySQL(t *testing.T) {
	needServices(t)
	env := append(realEnv(t), "FLASHSALE_MYSQL_MIGRATE_ON_START=true")
	cfg, err := loadConfig("", env)
	if err != nil {
		t.Fatal(err)
	}
	base, stop := startServe(t, cfg, io.Discard)
	product := fmt.Sprintf("real-%d", time.Now().UnixNano())

	post := func(path, body string, header map[string]string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := post("/products", `{"id":"`+product+`","name":"Real","priceMinor":250,"addStock":3}`, map[string]string{"Authorization": "Bearer admin-secret-0123456789"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("restock: %d %s", resp.StatusCode, body)
	}
	for i := range 4 {
		resp, body = post("/purchase", `{"productId":"`+product+`","qty":1}`, nil)
		want := http.StatusCreated
		if i == 3 {
			want = http.StatusConflict // stock 3: the fourth is told why
		}
		if resp.StatusCode != want {
			t.Fatalf("purchase %d: %d %s", i+1, resp.StatusCode, body)
		}
		if i < 3 {
			// Read-your-writes: the order is there at once (primary read).
			var o struct{ OrderID string }
			_ = json.Unmarshal(body, &o)
			get, err := http.Get(base + "/orders/" + o.OrderID)
			if err != nil || get.StatusCode != http.StatusOK {
				t.Fatalf("GET /orders right after the purchase: %v %v", get, err)
			}
			get.Body.Close()
		}
	}
	if r, err := http.Get(base + "/readyz"); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %v %v", r, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}

	// A drift, as after a Redis failover that lost a sale: the gate says 2,
	// the durable stock is 0.
	client, err := redis.NewClient(redis.Options{Addrs: []string{realRedis}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := redis.NewInventory(client).SetStock(context.Background(), domainID(product), 2); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = run(context.Background(), []string{"reconcile"}, env, &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), product) {
		t.Fatalf("reconcile without --fix: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"reconcile", "--fix"}, env, &out, io.Discard); err != nil {
		t.Fatalf("reconcile --fix: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"reconcile"}, env, &out, io.Discard); err != nil || !strings.Contains(out.String(), "no drift") {
		t.Fatalf("after the fix: %v\n%s", err, out.String())
	}
}

func domainID(s string) domain.ProductID { return domain.ProductID(s) }
