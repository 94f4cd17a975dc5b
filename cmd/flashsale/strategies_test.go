package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	// A fourth lock strategy, in one file of its own: imported here, it
	// is listed, simulated and benchmarked (TestBenchInProcess) by this
	// command with no change to it.
	_ "github.com/flashsale/flashsale/app/examplestrategy"
)

func TestStrategiesListsTheRegistry(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"strategies"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var names []string
	for _, l := range lines {
		names = append(names, strings.Fields(l)[0])
	}
	if got := strings.Join(names, ","); got != "none,lock,optimistic,semaphore" {
		t.Fatalf("strategies listed %s, want none,lock,optimistic,semaphore:\n%s", got, out.String())
	}
	if !strings.Contains(lines[0], "(the default)") {
		t.Errorf("the default is not marked first: %q", lines[0])
	}
	out.Reset()
	if err := run(context.Background(), []string{"strategies", "--names"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "none\nlock\noptimistic\nsemaphore\n" {
		t.Fatalf("strategies --names = %q", got)
	}
	if err := run(context.Background(), []string{"strategies", "extra"}, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("strategies took an argument")
	}
}

func TestSimRunsARegisteredStrategy(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"sim", "--runs", "3", "--buyers", "40", "--strategy", "semaphore"}, nil, &out, io.Discard); err != nil {
		t.Fatalf("sim: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "semaphore") {
		t.Fatalf("the table lacks the strategy:\n%s", out.String())
	}
}
