//go:build bench

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/bench"
)

// A short in-process run of every strategy and scenario writes the table,
// the JSON and the HTML with its charts, and I1 holds.
func TestBenchInProcess(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"bench", "--rate", "80", "--duration", "300ms", "--rounds", "2",
		"--ceiling-duration", "200ms", "--redis", "off", "--mysql", "off", "--settle", "0s", "--out", dir}, nil, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr is not a terminal, yet got: %q", stderr.String())
	}
	for _, want := range []string{"in-process", "optimistic", "semaphore", "I1 (confirmed", ": ok", "bench.html"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	rep := readReport(t, dir)
	// Every registered strategy, the example one too (strategies_test.go).
	if !rep.I1OK || len(rep.Results) != 4*4 || strings.Join(rep.Strategies, ",") != "none,lock,optimistic,semaphore" {
		t.Errorf("report: I1 %v, %d results, strategies %v", rep.I1OK, len(rep.Results), rep.Strategies)
	}
	for _, r := range rep.Results {
		if r.Outcomes.Errors != 0 {
			t.Errorf("%s/%s: errors %v", r.Strategy, r.Scenario, r.Outcomes.ErrorKinds)
		}
	}
	page, err := os.ReadFile(filepath.Join(dir, bench.HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{bench.TitleThroughput, bench.TitleLatency, bench.TitleOutcomes, bench.TitleCeilings, "echarts.init"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

// The crowd scenarios through the command, in process: the steps, the
// overload phases with R from them, soldout and readmax, and the help
// that documents them.
func TestBenchCrowdInProcess(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"bench", "--strategy", "none", "--scenarios", "crowd", "--saturate-rates", "40,80",
		"--step-duration", "400ms", "--overload-duration", "200ms", "--overload-read-rate", "10",
		"--ceiling-duration", "200ms", "--redis", "off", "--mysql", "off", "--settle", "0s", "--out", dir}, nil, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	rep := readReport(t, dir)
	if !rep.I1OK || !rep.OrdersOK || strings.Join(rep.Scenarios, ",") != "saturate,overload,soldout,readmax" || len(rep.Results) != 4 {
		t.Fatalf("report: I1 %v, orders %v, scenarios %v, %d results", rep.I1OK, rep.OrdersOK, rep.Scenarios, len(rep.Results))
	}
	s := rep.Results[0].Saturation
	if s == nil || len(s.Steps) != 2 || s.Steps[0].Rate != 40 || s.Steps[1].Rate != 80 || s.StepDurationS != 0.4 {
		t.Errorf("saturate: %+v", s)
	}
	if ov := rep.Results[1].Overload; ov == nil || ov.ReadRate != 10 || len(ov.Phases) != 2 || ov.Phases[1].Rate != 5*ov.SaturationRate {
		t.Errorf("overload: %+v", ov)
	}
	for _, want := range []string{"sustainable rate", "overload: one hot product", "soldout: purchases", "readmax"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}

	stdout.Reset()
	stderr.Reset()
	if err := run(context.Background(), []string{"bench", "--help"}, nil, &stdout, &stderr); err != nil {
		t.Errorf("--help: %v", err)
	}
	for _, want := range []string{"saturate", "overload", "soldout", "readmax", "crowd", "-saturation-rate", "-saturate-rates", "-overload-duration"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--rate", "0"},
		{"--rate", "-5"},
		{"--duration", "0s"},
		{"--rounds", "0"},
		{"--strategy", "pessimistic"},
		{"--scenarios", "seed,flood"},
		{"--target", "ftp://x"},
		{"--target", "https://127.0.0.1:8443"}, // no admin token
		{"--target", "https://127.0.0.1:8443", "--admin-token", "t", "--strategy", "lock"},
		{"--target", "https://127.0.0.1:8443", "--admin-token", "t", "--target-strategy", "all"},
		{"--target", "https://127.0.0.1:8443", "--admin-token", "t", "--cacert", "/nonexistent.pem"},
		{"--target-strategy", "lock"}, // needs --target
		{"--admin-token", "t"},
		{"--out", ""},
		{"--settle", "-1s"},
		{"--scenarios", "crowd,flood"},
		{"--saturate-rates", "250,0"},
		{"--saturate-rates", "250,fast"},
		{"--saturate-rates", ""},
		{"--step-duration", "0s"},
		{"--saturation-rate", "-1"},
		{"--overload-duration", "0s"},
		{"--overload-read-rate", "-1"},
		{"extra"},
		{"--no-such-flag"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"bench"}, args...), nil, &stdout, &stderr)
		if !errors.As(err, new(usageError)) {
			t.Errorf("bench %v: want a usage error (exit 2), got %v", args, err)
		}
	}
}

// readReport reads the bench.json a run wrote into dir.
func readReport(t *testing.T, dir string) bench.Report {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, bench.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestBenchHelpIsNotAnError: built with the load tool, bench -h prints its
// usage and succeeds.
func TestBenchHelpIsNotAnError(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"bench", "-h"}, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "-target") {
		t.Fatalf("bench -h: %v\n%s", err, out.String())
	}
}
