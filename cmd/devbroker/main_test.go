package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// syncBuffer is an io.Writer the test can read while run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listening = regexp.MustCompile(`broker \d listening on (127\.0\.0\.1:\d+)`)

// startRun runs the broker with args until the test ends, and returns its
// listen addresses once it logged them.
func startRun(t *testing.T, args ...string) (addrs []string, stop func() error, log *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, log) }()
	stopped := false
	stop = func() error {
		cancel()
		if stopped {
			return nil
		}
		stopped = true
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("run did not return 5 s after its context ended")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		ms := listening.FindAllStringSubmatch(log.String(), -1)
		if len(ms) == 2 {
			for _, m := range ms {
				addrs = append(addrs, m[1])
			}
			return addrs, stop, log
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the brokers did not log their listeners within 5 s:\n%s", log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunServesTheTopicsAndStopsCleanly(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "devbroker.pid")
	addrs, stop, log := startRun(t, "--ports", "0,0", "--topic", "events", "--partitions", "3",
		"--seed-topics", "extra, events", "--pidfile", pidfile)

	pid, err := os.ReadFile(pidfile)
	if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pidfile holds %q (%v), want this process's ID", pid, err)
	}
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(addrs...), Transport: tr, Timeout: 5 * time.Second}
	md, err := c.Metadata(t.Context(), &kafkago.MetadataRequest{Topics: []string{"events", "extra"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 2 {
		t.Fatalf("%d brokers, want 2", len(md.Brokers))
	}
	for _, topic := range md.Topics {
		if topic.Error != nil || len(topic.Partitions) != 3 {
			t.Fatalf("topic %s: %d partitions (%v), want 3", topic.Name, len(topic.Partitions), topic.Error)
		}
	}
	// An unknown topic is created on first use with the same count.
	w := &kafkago.Writer{Addr: kafkago.TCP(addrs...), Topic: "auto", Transport: tr, AllowAutoTopicCreation: true,
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(t.Context(), kafkago.Message{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("write to an auto-created topic: %v", err)
	}
	_ = w.Close()
	md, err = c.Metadata(t.Context(), &kafkago.MetadataRequest{Topics: []string{"auto"}})
	if err != nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 3 {
		t.Fatalf("auto-created topic: %+v, %v; want 3 partitions", md, err)
	}

	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("stopped in %s", time.Since(began))
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Fatalf("pidfile left behind after a clean exit (%v)", err)
	}
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			_ = conn.Close()
			t.Fatalf("%s still accepts after shutdown", a)
		}
	}
	if !strings.Contains(log.String(), "shutting down") {
		t.Fatalf("log does not say it shut down:\n%s", log)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for name, args := range map[string][]string{
		"not a port":     {"--ports", "19092,x"},
		"port too large": {"--ports", "70000"},
		"same port":      {"--ports", "19092,19092"},
		"no partitions":  {"--partitions", "0"},
		"log level":      {"--log-level", "loud"},
		"extra argument": {"serve"},
	} {
		if err := run(t.Context(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("%s: run(%v) returned nil", name, args)
		}
	}
}

func TestRunSaysWhenAPortIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	err = run(t.Context(), []string{"--ports", "0," + port}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "scripts/kafka status") {
		t.Fatalf("run on a taken port: %v, want an error pointing at scripts/kafka status", err)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
	}
}

// SIGUSR1 takes a broker out (its port refuses, the metadata names one
// broker, writes go on through the other); SIGUSR2 brings it back on the
// same port.
func TestSignalsRemoveAndRestoreABroker(t *testing.T) {
	addrs, _, log := startRun(t, "--ports", "0,0", "--topic", "events", "--partitions", "3")
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	// A fresh transport per look: a Transport caches the cluster's
	// metadata (MetadataTTL), which would hide the change.
	brokers := func() int {
		fresh := &kafkago.Transport{}
		defer fresh.CloseIdleConnections()
		c := &kafkago.Client{Addr: kafkago.TCP(addrs[0]), Transport: fresh, Timeout: 5 * time.Second}
		md, err := c.Metadata(t.Context(), &kafkago.MetadataRequest{Topics: []string{"events"}})
		if err != nil {
			return -1
		}
		return len(md.Brokers)
	}
	accepts := func(addr string) bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
		}
		return err == nil
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "one broker left after SIGUSR1", func() bool { return brokers() == 1 && !accepts(addrs[1]) })
	w := &kafkago.Writer{Addr: kafkago.TCP(addrs...), Topic: "events", Transport: tr, RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(t.Context(), kafkago.Message{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("write with one broker removed: %v", err)
	}
	// The last broker stays.
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the last broker kept", func() bool { return strings.Contains(log.String(), "the last broker stays") })
	if brokers() != 1 {
		t.Fatal("the last broker was removed")
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two brokers after SIGUSR2", func() bool { return brokers() == 2 && accepts(addrs[1]) })
	if !strings.Contains(log.String(), "removed") || !strings.Contains(log.String(), "restored on port") {
		t.Fatalf("the log does not say what happened:\n%s", log)
	}
}
