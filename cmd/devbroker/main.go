// Command devbroker runs a Kafka-protocol cluster for development and
// tests: franz-go's kfake, in memory, on fixed loopback ports.
//
//	devbroker [--ports 19092,19093] [--topic flashsale.events] [--partitions 6]
//	          [--seed-topics a,b] [--no-auto-create] [--pidfile FILE] [--log-level warn]
//
// Every broker listens on 127.0.0.1 only. The events topic (and any
// --seed-topics) exist from the start with --partitions partitions; other
// topics are created on first use with the same count unless
// --no-auto-create. Data lives in memory and is gone when the process
// stops. SIGINT or SIGTERM shuts it down cleanly.
//
// It is what scripts/kafka runs. Production points the same flashsale
// configuration (broker addresses, topic) at a real Kafka cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devbroker:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	ports      []int
	topic      string
	partitions int
	seedTopics []string
	autoCreate bool
	pidfile    string
	logLevel   kfake.LogLevel
}

var logLevels = map[string]kfake.LogLevel{
	"none": kfake.LogLevelNone, "error": kfake.LogLevelError, "warn": kfake.LogLevelWarn,
	"info": kfake.LogLevelInfo, "debug": kfake.LogLevelDebug,
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("devbroker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ports := fs.String("ports", "19092,19093", "comma-separated loopback ports, one broker each (0: any free port)")
	topic := fs.String("topic", "flashsale.events", "the events topic, created at start (empty: none)")
	partitions := fs.Int("partitions", 6, "partitions of the topics created at start and of auto-created topics")
	seed := fs.String("seed-topics", "", "comma-separated extra topics created at start")
	noAuto := fs.Bool("no-auto-create", false, "refuse to create unknown topics on first use")
	pidfile := fs.String("pidfile", "", "write the process ID here once listening; removed at a clean exit")
	level := fs.String("log-level", "warn", "kfake's log level: none, error, warn, info or debug")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg := config{topic: *topic, partitions: *partitions, autoCreate: !*noAuto, pidfile: *pidfile}
	for _, s := range strings.Split(*ports, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || p < 0 || p > 65535 {
			return config{}, fmt.Errorf("--ports: %q is not a port", s)
		}
		if p != 0 && slices.Contains(cfg.ports, p) {
			return config{}, fmt.Errorf("--ports: %d given twice", p)
		}
		cfg.ports = append(cfg.ports, p)
	}
	if cfg.partitions < 1 {
		return config{}, fmt.Errorf("--partitions must be at least 1, got %d", cfg.partitions)
	}
	for _, t := range strings.Split(*seed, ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.seedTopics = append(cfg.seedTopics, t)
		}
	}
	var ok bool
	if cfg.logLevel, ok = logLevels[*level]; !ok {
		return config{}, fmt.Errorf("--log-level: unknown level %q", *level)
	}
	return cfg, nil
}

// run is main without the process: it serves until ctx ends, then shuts the
// cluster down and returns nil.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	c, err := start(cfg, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	for i, addr := range c.ListenAddrs() {
		fmt.Fprintf(stderr, "devbroker: broker %d listening on %s\n", i, addr)
	}
	if topics := cfg.topics(); len(topics) > 0 {
		fmt.Fprintf(stderr, "devbroker: topics %s with %d partitions each\n", strings.Join(topics, ","), cfg.partitions)
	}
	if cfg.pidfile != "" {
		if err := os.WriteFile(cfg.pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("pidfile: %w", err)
		}
		defer os.Remove(cfg.pidfile)
	}
	<-ctx.Done()
	fmt.Fprintln(stderr, "devbroker: shutting down")
	return nil
}

func (cfg config) topics() []string {
	var ts []string
	if cfg.topic != "" {
		ts = append(ts, cfg.topic)
	}
	for _, t := range cfg.seedTopics {
		if !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	return ts
}

// start starts the cluster. kfake binds 127.0.0.1 only.
func start(cfg config, stderr io.Writer) (*kfake.Cluster, error) {
	opts := []kfake.Opt{
		kfake.Ports(cfg.ports...),
		kfake.DefaultNumPartitions(cfg.partitions),
		kfake.ClusterID("flashsale-devbroker"),
		kfake.WithLogger(kfake.BasicLogger(stderr, cfg.logLevel)),
	}
	if topics := cfg.topics(); len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(cfg.partitions), topics...))
	}
	if cfg.autoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("start the cluster on ports %v: %w (another devbroker may be running: scripts/kafka status)", cfg.ports, err)
		}
		return nil, fmt.Errorf("start the cluster on ports %v: %w", cfg.ports, err)
	}
	return c, nil
}
