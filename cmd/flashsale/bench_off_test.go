//go:build !bench

package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestBenchWithoutTheLoadToolSaysHowToGetIt: a flashsale built without
// -tags bench refuses bench as a usage error (exit 2) that names the tag.
func TestBenchWithoutTheLoadToolSaysHowToGetIt(t *testing.T) {
	err := run(context.Background(), []string{"bench", "--rate", "10"}, nil, io.Discard, io.Discard)
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "-tags bench") {
		t.Fatalf("bench without the load tool: %v", err)
	}
}
