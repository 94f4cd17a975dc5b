package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/kafka"
	"github.com/flashsale/flashsale/domain"
)

// kcatFormat is the line format of docs/events.md: partition, offset, key,
// headers and the JSON value, tab-separated (the envelope never holds a
// tab or a newline).
const kcatFormat = `%p\t%o\t%k\t%h\t%s\n`

// requireKcat returns kcat's path, or skips (fails under CI, where the
// stack script installs it).
func requireKcat(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("kcat")
	if err == nil {
		return path
	}
	const how = "`scripts/kafka up` installs it when run as root with apt-get; otherwise `apt-get install kcat` (Debian/Ubuntu) or `brew install kcat` (macOS)"
	if inCI() {
		tb.Fatalf("kcat is not installed (CI=true, so this fails instead of skipping): %s", how)
	}
	tb.Skipf("kcat is not installed: %s", how)
	return ""
}

// kcat, an independent client (librdkafka), reads the topic from the
// beginning: every saga is complete and in order, each record keyed by its
// saga and carrying the documented headers; redeliveries equal their
// first delivery.
func TestKcatReadsCompleteSagas(t *testing.T) {
	brokers, n := requireBroker(t)
	kcat := requireKcat(t)
	topic := newTopic(t, brokers, n)
	p := newPublisher(t, brokers, topic)

	want := make(map[domain.SagaID][]domain.Event)
	var all [][]domain.Event
	for i := range 30 {
		es := sagaEvents(domain.SagaID(fmt.Sprintf("k-%02d", i)), i%4 == 0)
		want[es[0].SagaID] = es
		all = append(all, es)
	}
	published := 0
	for k := 0; k < 7; k++ {
		var call []domain.Event
		for _, es := range all {
			if k < len(es) {
				call = append(call, es[k])
			}
		}
		if err := p.Publish(t.Context(), call...); err != nil {
			t.Fatal(err)
		}
		published += len(call)
	}
	// A relay that died before marking: the same events again.
	if err := p.Publish(t.Context(), all[3][:2]...); err != nil {
		t.Fatal(err)
	}
	published += 2

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kcat, "-b", strings.Join(brokers, ","), "-C", "-t", topic,
		"-o", "beginning", "-e", "-q", "-f", kcatFormat)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != published {
		t.Fatalf("kcat printed %d records, want %d:\n%s", len(lines), published, stdout.String())
	}
	delivered := make([]domain.Event, 0, len(lines))
	for _, line := range lines {
		f := strings.SplitN(line, "\t", 5)
		if len(f) != 5 {
			t.Fatalf("kcat line %q: want partition, offset, key, headers, value", line)
		}
		e, err := kafka.Decode([]byte(f[4]))
		if err != nil {
			t.Fatalf("kcat line %q: %v", line, err)
		}
		if f[2] != string(e.SagaID) {
			t.Fatalf("record of %s keyed %q", e.ID, f[2])
		}
		wantHeaders := fmt.Sprintf("%s=%s,%s=%s,%s=%d", kafka.HeaderEventID, e.ID, kafka.HeaderEventType, e.Type,
			kafka.HeaderSchemaVersion, domain.EventSchemaVersion)
		if f[3] != wantHeaders {
			t.Fatalf("record of %s: headers %q, want %q", e.ID, f[3], wantHeaders)
		}
		delivered = append(delivered, e)
	}
	wantTimelines(t, delivered, want)
}
