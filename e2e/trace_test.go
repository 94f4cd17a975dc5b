package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// span is one line of a trace file (the stdouttrace exporter's JSON).
type span struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct {
		TraceID, SpanID string
		Remote          bool
	}
	Resource   []keyValue
	Attributes []keyValue
	Status     struct{ Code, Description string }
}

type keyValue struct {
	Key   string
	Value struct{ Value any }
}

func (s span) attribute(key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return fmt.Sprint(kv.Value.Value)
		}
	}
	return ""
}

func (s span) service() string {
	for _, kv := range s.Resource {
		if kv.Key == "service.name" {
			return fmt.Sprint(kv.Value.Value)
		}
	}
	return ""
}

// The saga's events, each published in a producer span.
var sagaEvents = []string{"SagaStarted", "InventoryReserved", "OrderCreated", "PaymentProcessed", "OrderConfirmed"}

// publishedEvents are the event types of the trace's producer spans, once
// each (the relay delivers at least once).
func publishedEvents(spans []span) map[string]bool {
	got := map[string]bool{}
	for _, sp := range spans {
		if sp.Name == "publish "+topic {
			got[sp.attribute("flashsale.event_type")] = true
		}
	}
	return got
}

// readTrace returns every span of trace id in the stack's trace files.
func (s *stack) readTrace(t *testing.T, id string) []span {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.dir, "traces", "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var spans []span
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReaderSize(f, 1<<16)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				break // the end, or a line still being written: read it next time
			}
			if !strings.Contains(string(line), id) {
				continue
			}
			var sp span
			if err := json.Unmarshal(line, &sp); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if sp.SpanContext.TraceID == id {
				spans = append(spans, sp)
			}
		}
		f.Close()
	}
	return spans
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestOnePurchaseThroughNginxIsOneTrace: a keyed purchase sent through
// nginx with a sampled W3C traceparent is one trace across the processes:
// the instance's server span under the caller's, the purchase and every
// saga step under it, Redis and MariaDB calls under their steps, the
// payment client's span and paysim's server span under the charge, and a
// producer span for each of the saga's events, published by whichever
// instance relays, under the step that wrote it.
func TestOnePurchaseThroughNginxIsOneTrace(t *testing.T) {
	s := needStack(t)
	product := s.newProduct(t, "traced", 3)
	traceID, caller := randomHex(16), randomHex(8)
	req, _ := http.NewRequest(http.MethodPost, nginxBase+"/purchase", strings.NewReader(fmt.Sprintf(`{"productId":%q,"qty":1}`, product)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", product+"-traced")
	req.Header.Set("traceparent", "00-"+traceID+"-"+caller+"-01")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Trace-ID") != traceID {
		t.Fatalf("purchase: %d, X-Trace-ID %q (want 201 and %s)", resp.StatusCode, resp.Header.Get("X-Trace-ID"), traceID)
	}

	// Spans reach the files within the exporters' batch timeout (200 ms),
	// the events' within the relay's pace after that.
	var spans []span
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans = s.readTrace(t, traceID)
		if (len(publishedEvents(spans)) >= len(sagaEvents) && slices.ContainsFunc(spans, func(sp span) bool { return sp.service() == "paysim" })) ||
			time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	byID := map[string]span{}
	for _, sp := range spans {
		byID[sp.SpanContext.SpanID] = sp
	}
	named := func(name string) []span {
		var out []span
		for _, sp := range spans {
			if sp.Name == name {
				out = append(out, sp)
			}
		}
		return out
	}
	var names []string
	for _, sp := range spans {
		names = append(names, sp.service()+":"+sp.Name)
	}
	one := func(name, service string) span {
		t.Helper()
		found := named(name)
		if len(found) != 1 || found[0].service() != service {
			t.Fatalf("%d spans named %q (want one, of %s); the trace: %v", len(found), name, service, names)
		}
		return found[0]
	}
	childOf := func(name, service string, parent span) span {
		t.Helper()
		sp := one(name, service)
		if sp.Parent.SpanID != parent.SpanContext.SpanID {
			t.Errorf("span %q: parent %s, want %q (%s)", name, sp.Parent.SpanID, parent.Name, parent.SpanContext.SpanID)
		}
		return sp
	}
	hasChild := func(parent span) bool {
		for _, sp := range spans {
			if sp.Parent.SpanID == parent.SpanContext.SpanID {
				return true
			}
		}
		return false
	}

	server := one("POST /purchase", "flashsale")
	if server.Parent.SpanID != caller || !server.Parent.Remote {
		t.Errorf("server span's parent %s (remote %t), want the caller's %s", server.Parent.SpanID, server.Parent.Remote, caller)
	}
	purchase := childOf("purchase", "flashsale", server)
	steps := map[string]span{}
	for _, step := range []string{"saga.reserve", "saga.create_order", "saga.charge", "saga.confirm", "saga.settle_gate"} {
		steps[step] = childOf(step, "flashsale", purchase)
	}
	// The adapters' own spans: Redis under the reserve, MariaDB under the
	// writes (the group's span when the purchase led its group).
	if !hasChild(steps["saga.reserve"]) {
		t.Errorf("saga.reserve has no span of its Redis call; the trace: %v", names)
	}
	for _, write := range []string{"saga.create_order", "saga.confirm"} {
		group := named(strings.Replace(write, "create_order", "create", 1) + "_group")
		if !hasChild(steps[write]) && (len(group) == 0 || !hasChild(group[0])) {
			t.Errorf("%s has no span of its MariaDB write; the trace: %v", write, names)
		}
	}
	call := childOf("payment POST /charges", "flashsale", steps["saga.charge"])
	childOf("paysim POST /charges", "paysim", call)

	published := publishedEvents(spans)
	for _, e := range sagaEvents {
		if !published[e] {
			t.Errorf("no producer span of %s; the trace: %v", e, names)
		}
	}
	for _, sp := range named("publish " + topic) {
		if _, ok := byID[sp.Parent.SpanID]; !ok {
			t.Errorf("producer span %s: parent %s is not in the trace", sp.SpanContext.SpanID, sp.Parent.SpanID)
		}
	}
	for _, sp := range spans {
		if sp.SpanContext.SpanID == server.SpanContext.SpanID {
			continue
		}
		if _, ok := byID[sp.Parent.SpanID]; !ok {
			t.Errorf("span %s:%q: parent %s is not in the trace", sp.service(), sp.Name, sp.Parent.SpanID)
		}
		// A script's first call on a Redis node fails NOSCRIPT and
		// go-redis sends the script itself: that span fails, and the
		// reserve does not.
		if sp.Status.Code == "Error" && !strings.HasPrefix(sp.Status.Description, "NOSCRIPT") {
			t.Errorf("span %s:%q failed: %s", sp.service(), sp.Name, sp.Status.Description)
		}
	}
}
