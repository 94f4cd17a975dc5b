package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flashsale/flashsale/adapters/tracing"
	"github.com/flashsale/flashsale/app"
)

// Config is the whole configuration: defaults, then a YAML file, then
// FLASHSALE_* environment variables (FLASHSALE_SAGA_STRATEGY=lock sets
// saga.strategy). Unknown keys and unknown FLASHSALE_* variables are errors,
// so a typo never silently leaves a default in place.
type Config struct {
	HTTP     HTTPConfig     `yaml:"http"`
	Admin    AdminConfig    `yaml:"admin"`
	Adapters AdaptersConfig `yaml:"adapters"`
	Saga     SagaConfig     `yaml:"saga"`
	Redis    RedisConfig    `yaml:"redis"`
	MySQL    MySQLConfig    `yaml:"mysql"`
	Kafka    KafkaConfig    `yaml:"kafka"`
	Cache    CacheConfig    `yaml:"cache"`
	Payments PaymentsConfig `yaml:"payments"`
	Memory   MemoryConfig   `yaml:"memory"`
	Demo     DemoConfig     `yaml:"demo"`
	Log      LogConfig      `yaml:"log"`
	Tracing  TracingConfig  `yaml:"tracing"`

	// crashAt is the test-only FLASHSALE_CRASH_AT: the process exits at
	// that saga step, as if killed, so crash recovery can be tested on real
	// servers. It is not a config key: no file can set it by accident.
	crashAt app.CrashPoint
}

// crashEnv is the test-only crash switch; see Config.crashAt.
const crashEnv = "FLASHSALE_CRASH_AT"

// crashExitCode is the status of a process stopped by FLASHSALE_CRASH_AT.
const crashExitCode = 86

// HTTPConfig configures the listener and the edge's protections.
type HTTPConfig struct {
	Addr            string        `yaml:"addr"`
	MaxBodyBytes    int64         `yaml:"max_body_bytes"`
	ReadTimeout     time.Duration `yaml:"read_timeout"`
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MaxInFlight caps concurrent requests; beyond it, 503 at once. 0: no cap.
	MaxInFlight int `yaml:"max_in_flight"`
	// RateLimit* limit each client with a token bucket; 0 per second: off.
	RateLimitPerSecond float64 `yaml:"rate_limit_per_second"`
	RateLimitBurst     int     `yaml:"rate_limit_burst"`
	// TrustedProxies may name the client in X-Forwarded-For (nginx).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Metrics serves Prometheus metrics: on a listener of their own at
	// MetricsAddr when it is set (bind it to a private address), else at
	// /metrics on Addr to requests bearing MetricsToken; with neither, the
	// route answers 403.
	Metrics      bool   `yaml:"metrics"`
	MetricsAddr  string `yaml:"metrics_addr"`
	MetricsToken string `yaml:"metrics_token" secret:"true"`
	// LivePage keeps this instance's figures for the live sale page
	// (/ui/stats). The page is public, as every route but the admin ones
	// and /metrics: turn it off where purchase rates and compensated saga
	// IDs must not be.
	LivePage bool `yaml:"live_page"`
}

// AdminConfig configures the admin routes.
type AdminConfig struct {
	// Token is the admin bearer token; empty turns the admin routes off.
	Token string `yaml:"token" secret:"true"`
}

// AdaptersConfig chooses an adapter for each port.
type AdaptersConfig struct {
	Inventory string `yaml:"inventory"`
	Lock      string `yaml:"lock"`
	Cache     string `yaml:"cache"`
	Store     string `yaml:"store"`
	Events    string `yaml:"events"`
	Payments  string `yaml:"payments"`
}

// RedisConfig says how to reach Redis (adapters inventory, lock, cache: redis).
type RedisConfig struct {
	// Addrs: one address, or the seed nodes of a cluster.
	Addrs        []string      `yaml:"addrs"`
	Cluster      bool          `yaml:"cluster"`
	Password     string        `yaml:"password" secret:"true"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	PoolSize     int           `yaml:"pool_size"`
}

// MySQLConfig says how to reach MySQL or MariaDB (adapters store: mysql).
type MySQLConfig struct {
	// PrimaryDSNs are the candidates for the writable primary, in order;
	// after a failover writes go to whichever is writable.
	PrimaryDSNs     []string      `yaml:"primary_dsns" secret:"dsn"`
	ReplicaDSNs     []string      `yaml:"replica_dsns" secret:"dsn"`
	PrimaryMaxConns int           `yaml:"primary_max_conns"`
	ReplicaMaxConns int           `yaml:"replica_max_conns"`
	ConnMaxLifetime time.Duration `yaml:"conn_max_lifetime"`
	QueryTimeout    time.Duration `yaml:"query_timeout"`
	MigrateOnStart  bool          `yaml:"migrate_on_start"`
}

// KafkaConfig says where saga events go (adapters.events: kafka).
type KafkaConfig struct {
	Brokers           []string      `yaml:"brokers"`
	Topic             string        `yaml:"topic"`
	Partitions        int           `yaml:"partitions"`
	ReplicationFactor int           `yaml:"replication_factor"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	// Timeline keeps each saga's timeline from the topic in this process,
	// served at GET /sagas/{id}/events (source "kafka"). Off by default:
	// the consumer reads and decodes every event of every saga (on the
	// reference machine a sixth of an instance's CPU at saturation, and
	// the broker's fetches for it), and the saga store answers the same
	// route from the durable timeline without it.
	Timeline bool `yaml:"timeline"`
}

// SagaConfig tunes the purchase saga (see app.Config).
type SagaConfig struct {
	Strategy           string        `yaml:"strategy"`
	InstanceID         string        `yaml:"instance_id"`
	MaxQtyPerOrder     int64         `yaml:"max_qty_per_order"`
	StepTimeout        time.Duration `yaml:"step_timeout"`
	SagaTimeout        time.Duration `yaml:"saga_timeout"`
	LeaseTTL           time.Duration `yaml:"lease_ttl"`
	ReservationTTL     time.Duration `yaml:"reservation_ttl"`
	LockTTL            time.Duration `yaml:"lock_ttl"`
	OptimisticRetries  int           `yaml:"optimistic_retries"`
	BackgroundInterval time.Duration `yaml:"background_interval"`
	// MaxInFlightPerProduct bounds one product's purchases running at once
	// on this instance; past it, 503 product_saturated at once. 0: no bound.
	MaxInFlightPerProduct int `yaml:"max_in_flight_per_product"`
	// SoldOutTTL: how long a gate's "insufficient stock" is answered from
	// memory for the same product. 0: off.
	SoldOutTTL time.Duration `yaml:"sold_out_ttl"`
	// MaxConfirmGroup bounds the confirms of one product in one commit.
	MaxConfirmGroup int `yaml:"max_confirm_group"`
	// RelayLease: one instance at a time relays the outbox, holding this
	// lease on the lock adapter. 0: every instance relays.
	RelayLease time.Duration `yaml:"relay_lease"`
	// RelayPace: the shortest time between relay rounds woken by saga
	// writes. 0: every write wakes a round.
	RelayPace time.Duration `yaml:"relay_pace"`
}

// CacheConfig configures the product cache.
type CacheConfig struct {
	TTL time.Duration `yaml:"ttl"`
	// NearTTL: product details and available counts kept in process memory
	// in front of the cache and the gate. 0: off.
	NearTTL time.Duration `yaml:"near_ttl"`
	// StaleTTL: how old the last available count read may be and still
	// answer a product read while the gate does not answer. 0: never.
	StaleTTL time.Duration `yaml:"stale_ttl"`
}

// PaymentsConfig configures the payment gateway: the in-process simulator
// (adapters.payments: simulated) or one reached over HTTP (http).
type PaymentsConfig struct {
	// URL and Timeout reach the gateway of adapters.payments: http.
	URL         string        `yaml:"url"`
	Timeout     time.Duration `yaml:"timeout"`
	Latency     time.Duration `yaml:"latency"`
	DeclineRate float64       `yaml:"decline_rate"`
	TimeoutRate float64       `yaml:"timeout_rate"`
	Seed        uint64        `yaml:"seed"`
}

// MemoryConfig bounds the in-memory adapters (adapters.*: memory), so a
// server left running keeps its memory bounded.
type MemoryConfig struct {
	// Retention: a finished saga, with its order and its Idempotency-Key,
	// is kept at least this long after it finished, then forgotten; the
	// gate remembers its reservation as long.
	Retention time.Duration `yaml:"retention"`
	// MaxSagas bounds the sagas kept. Past it, once no finished saga is
	// past its retention, new purchases are refused (503) rather than a
	// saga forgotten early.
	MaxSagas int `yaml:"max_sagas"`
}

// DemoConfig seeds demo products at start (in-memory store only).
type DemoConfig struct {
	Products bool `yaml:"products"`
}

// TracingConfig configures OpenTelemetry tracing; see tracing.Config.
type TracingConfig struct {
	Exporter      string        `yaml:"exporter"`
	Endpoint      string        `yaml:"endpoint"`
	File          string        `yaml:"file"`
	SampleRatio   float64       `yaml:"sample_ratio"`
	FollowCallers bool          `yaml:"follow_callers"`
	BatchTimeout  time.Duration `yaml:"batch_timeout"`
}

func (t TracingConfig) config() tracing.Config {
	return tracing.Config{Exporter: t.Exporter, Endpoint: t.Endpoint, File: t.File, SampleRatio: t.SampleRatio,
		FollowCallers: t.FollowCallers, BatchTimeout: t.BatchTimeout}
}

// LogConfig configures logging.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

func defaultConfig() Config {
	d := app.DefaultConfig()
	return Config{
		HTTP: HTTPConfig{Addr: ":8080", MaxBodyBytes: 64 << 10, ReadTimeout: 5 * time.Second,
			WriteTimeout: 30 * time.Second, ShutdownTimeout: 30 * time.Second,
			MaxInFlight: 2048, RateLimitPerSecond: 20, RateLimitBurst: 40, Metrics: true, LivePage: true, TrustedProxies: []string{}},
		Adapters: AdaptersConfig{Inventory: "memory", Lock: "memory", Cache: "memory", Store: "memory",
			Events: "memory", Payments: "simulated"},
		Saga: SagaConfig{Strategy: string(d.Strategy), MaxQtyPerOrder: d.MaxQtyPerOrder,
			StepTimeout: d.StepTimeout, SagaTimeout: d.SagaTimeout, LeaseTTL: d.LeaseTTL,
			ReservationTTL: d.ReservationTTL, LockTTL: d.LockTTL, OptimisticRetries: d.OptimisticRetries,
			BackgroundInterval: time.Second, MaxInFlightPerProduct: d.MaxInFlightPerProduct,
			SoldOutTTL: d.SoldOutTTL, MaxConfirmGroup: d.MaxConfirmGroup, RelayLease: 3 * time.Second,
			RelayPace: d.RelayPace},
		Redis: RedisConfig{Addrs: []string{"127.0.0.1:6379"}, DialTimeout: time.Second,
			ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond},
		MySQL: MySQLConfig{PrimaryDSNs: []string{}, ReplicaDSNs: []string{}, PrimaryMaxConns: 64, ReplicaMaxConns: 16,
			ConnMaxLifetime: 5 * time.Minute, QueryTimeout: 5 * time.Second},
		Kafka: KafkaConfig{Brokers: []string{"127.0.0.1:19092", "127.0.0.1:19093"}, Topic: "flashsale.events",
			Partitions: 6, ReplicationFactor: 2, WriteTimeout: 5 * time.Second},
		Cache:    CacheConfig{TTL: d.CacheTTL, NearTTL: d.NearCacheTTL, StaleTTL: d.StaleLevelTTL},
		Payments: PaymentsConfig{Seed: 1, Timeout: 2 * time.Second},
		Memory:   MemoryConfig{Retention: 5 * time.Minute, MaxSagas: 60_000},
		Demo:     DemoConfig{Products: true},
		Log:      LogConfig{Level: "info", Format: "json"},
		Tracing:  TracingConfig{Exporter: tracing.ExporterNone},
	}
}

const envPrefix = "FLASHSALE_"

// loadConfig builds the configuration from the defaults, the file at path
// (if not empty) and the environment (environ as os.Environ returns it).
func loadConfig(path string, environ []string) (Config, error) {
	cfg := defaultConfig()
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&cfg, environ); err != nil {
		return Config{}, err
	}
	if err := cfg.validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// applyEnv sets every field whose FLASHSALE_* variable is present.
func applyEnv(cfg *Config, environ []string) error {
	fields := map[string]reflect.Value{}
	collectFields(reflect.ValueOf(cfg).Elem(), "", fields)
	var errs []error
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) {
			continue
		}
		if name == crashEnv {
			if val != "" && !slices.Contains(app.CrashPoints(), app.CrashPoint(val)) {
				errs = append(errs, fmt.Errorf("%s: unknown crash point %q (want one of %v)", name, val, app.CrashPoints()))
			}
			cfg.crashAt = app.CrashPoint(val)
			continue
		}
		f, ok := fields[name]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown environment variable %s", name))
			continue
		}
		if err := setField(f, val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func collectFields(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		name := prefix + strings.ToUpper(tag)
		if v.Field(i).Kind() == reflect.Struct {
			collectFields(v.Field(i), name+"_", out)
			continue
		}
		out[envPrefix+name] = v.Field(i)
	}
}

func setField(f reflect.Value, s string) error {
	if f.Type() == reflect.TypeFor[time.Duration]() {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return err
		}
		f.SetUint(n)
	case reflect.Slice:
		// A comma-separated list: FLASHSALE_HTTP_TRUSTED_PROXIES=10.0.0.1,10.0.0.2
		var items []string
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		f.Set(reflect.ValueOf(items))
	case reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		f.SetFloat(n)
	default:
		return fmt.Errorf("unsupported kind %s", f.Kind())
	}
	return nil
}

// adapters lists the adapters this build offers for each port.
var adapters = map[string][]string{
	"inventory": {"memory", "redis"}, "lock": {"memory", "redis"}, "cache": {"memory", "redis"},
	"store": {"memory", "mysql"}, "events": {"memory", "kafka"}, "payments": {"simulated", "http"},
}

func (c Config) validate() error {
	var errs []error
	for port, chosen := range map[string]string{
		"inventory": c.Adapters.Inventory, "lock": c.Adapters.Lock, "cache": c.Adapters.Cache,
		"store": c.Adapters.Store, "events": c.Adapters.Events, "payments": c.Adapters.Payments,
	} {
		if !slices.Contains(adapters[port], chosen) {
			errs = append(errs, fmt.Errorf("adapters.%s: unknown adapter %q (available: %s)", port, chosen, strings.Join(adapters[port], ", ")))
		}
	}
	if c.Adapters.Store == "memory" && c.Adapters.Inventory != "memory" {
		// The memory store forgets a finished saga after memory.retention;
		// a Redis gate remembers its reservation for a day, and would
		// answer a late retry of the key "reserved" with no saga left to
		// say it was sold: the retry would sell again.
		errs = append(errs, errors.New("adapters.store memory needs adapters.inventory memory: the memory store forgets sagas the Redis gate still remembers (use store: mysql with a Redis gate)"))
	}
	if c.Adapters.Payments == "http" && c.Payments.URL == "" {
		errs = append(errs, errors.New("adapters.payments is http but payments.url is empty"))
	}
	if c.Adapters.Events == "kafka" && (len(c.Kafka.Brokers) == 0 || c.Kafka.Topic == "" || c.Kafka.Partitions <= 0 || c.Kafka.ReplicationFactor <= 0 || c.Kafka.WriteTimeout <= 0) {
		errs = append(errs, errors.New("adapters.events is kafka: kafka.brokers, topic, partitions, replication_factor and write_timeout are required"))
	}
	if c.Payments.Timeout <= 0 {
		errs = append(errs, errors.New("payments.timeout must be positive"))
	}
	if c.Adapters.Store == "mysql" && len(c.MySQL.PrimaryDSNs) == 0 {
		errs = append(errs, errors.New("adapters.store is mysql but mysql.primary_dsns is empty"))
	}
	if c.MySQL.PrimaryMaxConns <= 0 || c.MySQL.ReplicaMaxConns <= 0 || c.MySQL.QueryTimeout <= 0 || c.MySQL.ConnMaxLifetime <= 0 {
		errs = append(errs, errors.New("mysql: pool sizes, conn_max_lifetime and query_timeout must be positive"))
	}
	usesRedis := c.Adapters.Inventory == "redis" || c.Adapters.Lock == "redis" || c.Adapters.Cache == "redis"
	if usesRedis && len(c.Redis.Addrs) == 0 {
		errs = append(errs, errors.New("a redis adapter is chosen but redis.addrs is empty"))
	}
	if usesRedis && !c.Redis.Cluster && len(c.Redis.Addrs) > 1 {
		errs = append(errs, errors.New("redis.addrs has several addresses: set redis.cluster: true, or give one"))
	}
	if c.HTTP.Addr == "" {
		errs = append(errs, errors.New("http.addr must not be empty"))
	}
	for key, token := range map[string]string{"admin.token": c.Admin.Token, "http.metrics_token": c.HTTP.MetricsToken} {
		if err := checkToken(token); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	if c.Memory.Retention <= 0 || c.Memory.MaxSagas <= 0 {
		errs = append(errs, errors.New("memory.retention and memory.max_sagas must be positive"))
	}
	if c.HTTP.MaxBodyBytes <= 0 || c.HTTP.ReadTimeout <= 0 || c.HTTP.WriteTimeout <= 0 || c.HTTP.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("http.max_body_bytes and the http timeouts must be positive"))
	}
	if c.HTTP.MaxInFlight < 0 || c.HTTP.RateLimitPerSecond < 0 || c.HTTP.RateLimitBurst < 0 {
		errs = append(errs, errors.New("http.max_in_flight and the rate limit must not be negative"))
	}
	if c.Saga.BackgroundInterval <= 0 {
		errs = append(errs, errors.New("saga.background_interval must be positive"))
	}
	if c.Saga.MaxInFlightPerProduct < 0 || c.Saga.SoldOutTTL < 0 || c.Cache.NearTTL < 0 || c.Cache.StaleTTL < 0 || c.Saga.MaxConfirmGroup <= 0 || c.Saga.RelayLease < 0 || c.Saga.RelayPace < 0 {
		errs = append(errs, errors.New("saga.max_in_flight_per_product, saga.sold_out_ttl, saga.relay_lease, saga.relay_pace, cache.near_ttl and cache.stale_ttl must not be negative (0 turns each off), saga.max_confirm_group must be positive"))
	}
	if c.Payments.DeclineRate < 0 || c.Payments.DeclineRate > 1 || c.Payments.TimeoutRate < 0 || c.Payments.TimeoutRate > 1 || c.Payments.Latency < 0 {
		errs = append(errs, errors.New("payments: rates must be within [0, 1] and latency not negative"))
	}
	if err := c.Tracing.config().Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		errs = append(errs, err)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		errs = append(errs, fmt.Errorf("log.format must be json or text, got %q", c.Log.Format))
	}
	if err := c.appConfig().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("saga: %w", err))
	}
	return errors.Join(errs...)
}

// MinTokenLength is the shortest bearer token accepted: 16 characters of
// a random token are beyond guessing through a rate-limited API.
const MinTokenLength = 16

// checkToken accepts an empty token (the routes it guards are off) or one
// a client can send as it is: at least MinTokenLength characters of the
// token68 syntax (RFC 9110, 11.2: letters, digits, "-._~+/", then "="s).
// A space, even a trailing one from an editor, could never match.
func checkToken(t string) error {
	if t == "" {
		return nil
	}
	if len(t) < MinTokenLength {
		return fmt.Errorf("must be at least %d characters (it has %d)", MinTokenLength, len(t))
	}
	body := strings.TrimRight(t, "=")
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return fmt.Errorf("character %d (%q) is not allowed: use letters, digits and -._~+/ (openssl rand -hex 24 makes one)", i+1, c)
		}
	}
	if body == "" {
		return errors.New("must not be only '='")
	}
	return nil
}

func (c Config) appConfig() app.Config {
	return app.Config{
		Strategy: app.Strategy(c.Saga.Strategy), InstanceID: c.Saga.InstanceID,
		MaxQtyPerOrder: c.Saga.MaxQtyPerOrder, StepTimeout: c.Saga.StepTimeout,
		SagaTimeout: c.Saga.SagaTimeout, LeaseTTL: c.Saga.LeaseTTL, ReservationTTL: c.Saga.ReservationTTL,
		LockTTL: c.Saga.LockTTL, OptimisticRetries: c.Saga.OptimisticRetries, CacheTTL: c.Cache.TTL,
		BatchSize:             app.DefaultConfig().BatchSize,
		RelayBatch:            app.DefaultConfig().RelayBatch,
		MaxInFlightPerProduct: offIfZero(c.Saga.MaxInFlightPerProduct),
		SoldOutTTL:            offIfZero(c.Saga.SoldOutTTL),
		NearCacheTTL:          offIfZero(c.Cache.NearTTL),
		StaleLevelTTL:         offIfZero(c.Cache.StaleTTL),
		MaxConfirmGroup:       c.Saga.MaxConfirmGroup,
		RelayLease:            c.Saga.RelayLease,
		RelayPace:             offIfZero(c.Saga.RelayPace),
	}
}

// offIfZero maps a configured 0 ("off") to app.Config's "off", -1: a zero
// there means "the default".
func offIfZero[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// masked returns the configuration as YAML with secrets replaced, for logs
// and `flashsale config`. The secrets are the fields tagged secret:
// "true" hides the value, "dsn" the password of a user:password@... DSN.
func (c Config) masked() string {
	maskSecrets(reflect.ValueOf(&c).Elem())
	out, _ := yaml.Marshal(c)
	return string(out)
}

// maskSecrets masks the secret fields of the struct v, and of the structs
// it holds.
func maskSecrets(v reflect.Value) {
	for i := range v.NumField() {
		f, field := v.Field(i), v.Type().Field(i)
		switch kind := field.Tag.Get("secret"); {
		case !field.IsExported():
		case kind != "":
			maskField(f, kind, field.Name)
		case f.Kind() == reflect.Struct:
			maskSecrets(f)
		}
	}
}

// maskField masks a secret string or list of strings. A slice gets a new
// backing array: the caller's copy of the configuration keeps its values.
func maskField(f reflect.Value, kind, name string) {
	mask := func(s string) string {
		switch {
		case s == "":
			return s
		case kind == "dsn":
			return maskDSN(s)
		}
		return "*****"
	}
	switch {
	case f.Kind() == reflect.String:
		f.SetString(mask(f.String()))
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		out := reflect.MakeSlice(f.Type(), f.Len(), f.Len())
		for i := range f.Len() {
			out.Index(i).SetString(mask(f.Index(i).String()))
		}
		f.Set(out)
	default:
		panic(fmt.Sprintf("config: field %s is tagged secret but is a %s, not a string or a list of them", name, f.Type()))
	}
}

// maskDSN hides the password of a user:password@tcp(host)/db DSN.
func maskDSN(d string) string {
	at := strings.LastIndex(d, "@")
	colon := strings.Index(d, ":")
	if at > 0 && colon >= 0 && colon < at {
		return d[:colon+1] + "*****" + d[at:]
	}
	return d
}
