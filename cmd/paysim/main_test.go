package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/payment"
)

func TestServesTheGatewayAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--decline-rate", "1"}, io.Discard, ready) }()
	client, err := payment.NewHTTPGateway("http://"+<-ready, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := client.Charge(ctx, "s-1", 100); err == nil {
		t.Fatal("decline rate 1 approved a charge")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := run(context.Background(), []string{"--decline-rate", "2"}, io.Discard, nil); err == nil {
		t.Fatal("an invalid rate was accepted")
	}
}
