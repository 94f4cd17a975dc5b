//go:build !bench

package main

import (
	"context"
	"io"
)

// runBench is `flashsale bench` in a binary built without the load tool,
// which the server does not link (bench.go, built with -tags bench).
func runBench(context.Context, []string, io.Writer, io.Writer) error {
	return usageErrorf("this flashsale is built without the load tool: build it with `go build -tags bench ./cmd/flashsale` (make bench does)")
}
