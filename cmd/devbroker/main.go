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
// Broker loss, for failure drills: SIGUSR1 removes the broker with the
// highest node ID (its listener closes and its partitions get a new leader
// among the others; kfake keeps the connections it had already accepted
// open, answering "not leader" for the partitions it lost); SIGUSR2 adds the
// removed brokers back on their ports. At least one broker always stays.
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
	"net"
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
	// Before the listeners are announced: a drill may signal at once.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	m := newMembership(c)
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
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(stderr, "devbroker: shutting down")
			return nil
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				m.removeOne(stderr)
			} else {
				m.restore(stderr)
			}
		}
	}
}

// membership removes and restores brokers of a running cluster (SIGUSR1,
// SIGUSR2), keeping each node's port so a restored broker is where its
// clients knew it.
type membership struct {
	c       *kfake.Cluster
	ports   map[int32]int // node ID -> port, from the start
	present []int32       // node IDs serving, ascending
	removed []int32       // node IDs removed, in removal order
}

// newMembership reads the cluster's nodes: kfake numbers them 0..n-1 in
// the order of ListenAddrs.
func newMembership(c *kfake.Cluster) *membership {
	m := &membership{c: c, ports: map[int32]int{}}
	for i, addr := range c.ListenAddrs() {
		_, p, _ := net.SplitHostPort(addr)
		m.ports[int32(i)], _ = strconv.Atoi(p)
		m.present = append(m.present, int32(i))
	}
	return m
}

func (m *membership) removeOne(logs io.Writer) {
	if len(m.present) < 2 {
		fmt.Fprintln(logs, "devbroker: SIGUSR1 ignored: the last broker stays")
		return
	}
	node := m.present[len(m.present)-1]
	if err := m.c.RemoveNode(node); err != nil {
		fmt.Fprintf(logs, "devbroker: removing broker %d: %v\n", node, err)
		return
	}
	m.present = m.present[:len(m.present)-1]
	m.removed = append(m.removed, node)
	fmt.Fprintf(logs, "devbroker: broker %d (port %d) removed; its partitions moved to the others\n", node, m.ports[node])
}

func (m *membership) restore(logs io.Writer) {
	for len(m.removed) > 0 {
		node := m.removed[len(m.removed)-1]
		if _, _, err := m.c.AddNode(node, m.ports[node]); err != nil {
			fmt.Fprintf(logs, "devbroker: restoring broker %d on port %d: %v\n", node, m.ports[node], err)
			return
		}
		m.removed = m.removed[:len(m.removed)-1]
		m.present = append(m.present, node)
		slices.Sort(m.present)
		fmt.Fprintf(logs, "devbroker: broker %d restored on port %d\n", node, m.ports[node])
	}
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
