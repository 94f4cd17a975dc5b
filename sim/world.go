package sim

import (
	"context"
	"fmt"
	"iter"
	"runtime/debug"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/sim/invariant"
)

// Virtual timings of the simulated apps. Leases, reservation deadlines and
// locks run on the virtual clock. The step and saga timeouts, real-time
// context deadlines in production, are off (app.Hooks.VirtualTime): they
// could decide nothing here.
var simConfig = app.Config{
	StepTimeout: 10 * time.Second, SagaTimeout: 20 * time.Second, LeaseTTL: 30 * time.Second,
	ReservationTTL: 60 * time.Second, LockTTL: 30 * time.Second, OptimisticRetries: 4,
	MaxQtyPerOrder: 3, BatchSize: 50,
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type instance struct {
	base string // app1, app2...: the server; name adds its restart
	name string
	app  *app.App
	dead bool
	// background: a round of recovery, reaping and relaying is running;
	// like the real process, an instance runs one round at a time.
	background bool
}

type actor struct {
	inst *instance
	// buyer is the buyer's number, 0 for a background round; tries counts
	// the buyer's retries before this one.
	buyer, tries int
	wk           *worker
	// starting: the actor has not run yet (its pending is what it will
	// do, not a call).
	starting bool
	// pending is the call the actor waits to make when next scheduled,
	// described only for a recorded trace.
	pending string
	// pendingChanges: the pending call may change what the per-step
	// check reads (yield, yieldQuiet).
	pendingChanges bool
	// compensated holds the sagas this actor last loaded, in a store
	// update, as COMPENSATED: it must make no effect of theirs again.
	compensated map[domain.SagaID]bool
}

type actorMsg struct {
	done     bool
	desc     string // the call, described only for a recorded trace
	changes  bool
	panicked string
}

// crashed unwinds an actor whose instance died.
type crashed struct{}

type ctxKey struct{}

type buyer struct {
	n     int
	req   domain.PurchaseRequest
	key   string
	tries int
}

// productBook is what the simulator counted of one product: the units
// supplied, those sold durably, and those sold durably but not yet settled
// in the gate (gatePending's).
type productBook struct {
	supplied, confirmed, unsettled int64
}

// book returns the simulator's counts of a product.
func (w *world) book(id domain.ProductID) *productBook {
	b, ok := w.books[id]
	if !ok {
		b = &productBook{}
		w.books[id] = b
	}
	return b
}

// world is one run.
type world struct {
	opts Options
	ch   Chooser

	clock  *memory.Clock
	ids    *memory.IDs
	inv    *memory.Inventory
	locker *memory.Locker
	store  *memory.Store
	events *memory.EventLog
	pay    *payment.Simulated
	gate   *simInventory // the inventory as the apps see it

	instances []*instance
	restarts  int
	actors    []*actor
	workers   []*worker // every worker started
	idle      []*worker // the workers with no actor
	arrived   int
	step      int
	trace     []string
	record    bool

	// Fault state.
	mysqlDownUntil time.Time
	healing        bool
	redisLost      bool
	invReplica     *memory.InventoryCheckpoint
	lockReplica    *memory.LockerSnapshot
	heldBatch      []domain.Event

	// What the checker observes, independently of the stores' own books.
	products []domain.ProductID
	// momentProducts, momentStock and momentLevels are the buffers moment
	// reuses.
	momentProducts []invariant.Product
	momentStock    []int64
	momentLevels   []domain.StockLevel
	// books holds what the simulator counted per product; productBooks
	// is the same in products' order, for the check at every step.
	books        map[domain.ProductID]*productBook
	productBooks []*productBook
	completed    map[domain.SagaID]bool
	gatePending  map[domain.SagaID]domain.Reservation // sold durably, not yet in the gate
	charged      map[domain.SagaID]bool
	refunded     map[domain.SagaID]bool
	reserved     map[domain.SagaID]int64
	acked        map[domain.SagaID]bool
	keyOrders    map[string]map[domain.OrderID]bool
	orderOf      map[domain.SagaID]domain.OrderID // the order each saga record was created with
	chargeAsked  map[domain.SagaID]bool
	refundAsked  map[domain.SagaID]bool
	cancelled    map[domain.SagaID]bool

	res       Result
	violation *Violation
	// changed says a step since the last per-step check may have changed
	// what it reads (checkStep).
	changed bool

	ctx         context.Context // ends the run early (RunContext)
	interrupted bool
}

func newWorld(o Options) (*world, error) {
	o = o.withDefaults()
	ch := o.Chooser
	if ch == nil {
		ch = NewSeeded(o.Seed)
	}
	w := &world{
		opts: o, ch: ch, ctx: context.Background(), changed: true, clock: memory.NewClock(epoch), ids: memory.NewIDs("s"),
		books:     map[domain.ProductID]*productBook{},
		completed: map[domain.SagaID]bool{}, gatePending: map[domain.SagaID]domain.Reservation{},
		charged: map[domain.SagaID]bool{}, refunded: map[domain.SagaID]bool{},
		reserved: map[domain.SagaID]int64{}, acked: map[domain.SagaID]bool{},
		keyOrders: map[string]map[domain.OrderID]bool{}, orderOf: map[domain.SagaID]domain.OrderID{},
		chargeAsked: map[domain.SagaID]bool{}, refundAsked: map[domain.SagaID]bool{}, cancelled: map[domain.SagaID]bool{},
	}
	w.inv = memory.NewInventory(w.clock)
	w.gate = &simInventory{w: w, inner: w.inv}
	w.locker = memory.NewLocker(w.clock)
	w.store = memory.NewStore(w.clock)
	w.events = memory.NewEventLog()
	pay, err := payment.NewSimulated(payment.Options{Seed: o.Seed})
	if err != nil {
		return nil, err
	}
	w.pay = pay
	w.pay.SetDecider(w.decidePayment)
	for i := range o.Instances {
		inst, err := w.newInstance(fmt.Sprintf("app%d", i+1), fmt.Sprintf("app%d", i+1))
		if err != nil {
			return nil, err
		}
		w.instances = append(w.instances, inst)
	}
	ctx := context.Background()
	for i := range o.Products {
		id := domain.ProductID(fmt.Sprintf("p%d", i+1))
		if _, err := w.instances[0].app.Supply(ctx, domain.Supply{ID: id, Name: string(id), PriceMinor: 100 * int64(i+1), AddStock: o.Stock}); err != nil {
			return nil, err
		}
		w.products = append(w.products, id)
		w.book(id).supplied = o.Stock
		w.productBooks = append(w.productBooks, w.book(id))
	}
	if o.Faults.RedisFailover {
		w.replicate() // the replica's first point; without the fault there is none to keep
	}
	return w, nil
}

func (w *world) newInstance(base, name string) (*instance, error) {
	cfg := simConfig
	cfg.Strategy, cfg.InstanceID = w.opts.Strategy, name
	a, err := app.New(app.Deps{
		Clock: w.clock, IDs: w.ids, Inventory: w.gate,
		Locker: &simLocker{w: w, inner: w.locker}, Catalog: &simStore{w: w, inner: w.store},
		Cache: memory.NewProductCache(w.clock), Sagas: &simStore{w: w, inner: w.store},
		Orders: w.store, Outbox: &simStore{w: w, inner: w.store},
		Publisher: &simPublisher{w: w, inner: w.events}, Payments: &simPayments{w: w, inner: w.pay},
	}, cfg, app.Hooks{Await: w.await, VirtualTime: true})
	if err != nil {
		return nil, err
	}
	return &instance{base: base, name: name, app: a}, nil
}

// run drives the world until every buyer has arrived and finished, then
// brings it to rest and checks the invariants that hold at rest.
func (w *world) run() {
	maxSteps := w.opts.Buyers * 400
	for w.violation == nil {
		if w.arrived == w.opts.Buyers && len(w.actors) == 0 {
			break
		}
		if w.step > maxSteps {
			w.fail("I3", "the run did not finish within %d steps", maxSteps)
			break
		}
		if w.step%1024 == 0 {
			if w.ctx.Err() != nil {
				w.interrupted = true
				w.tracef("interrupted: %v", context.Cause(w.ctx))
				w.stopActors()
				return
			}
			if w.opts.Progress != nil {
				w.opts.Progress(w.arrived)
			}
		}
		w.next()
		w.checkStep()
		w.step++
	}
	if w.violation == nil {
		w.rest()
	}
}

// next makes one scheduling decision.
func (w *world) next() {
	f := w.opts.Faults
	// Weights per mille: mostly sagas making progress, a steady arrival of
	// buyers, the clock moving, background rounds, and rare faults (each
	// crash kills every saga in flight on its instance).
	c := w.ch.Intn(1000, "event")
	switch {
	case c < 600 && len(w.actors) > 0:
		w.stepActor(w.actors[w.ch.Intn(len(w.actors), "actor")])
	case c < 720 && w.arrived < w.opts.Buyers:
		w.arrive()
	case c < 820:
		w.advance(time.Duration(1+w.ch.Intn(5, "seconds")) * time.Second)
	case c < 880:
		w.spawnBackground()
	case c < 883 && f.Crash:
		w.crash(w.instances[w.ch.Intn(len(w.instances), "crash")])
	case c < 923 && f.RedisFailover:
		w.replicate()
	case c < 925 && f.RedisFailover:
		w.failoverRedis()
	case c < 927 && f.MySQLFailover:
		d := time.Duration(2+w.ch.Intn(20, "outage")) * time.Second
		w.mysqlDownUntil = w.clock.Now().Add(d)
		w.tracef("mysql primary lost: writes fail for %s until the replica is promoted", d)
	case c < 930 && f.LockPause:
		w.advance(simConfig.LockTTL + time.Second)
	default:
		if len(w.actors) > 0 {
			w.stepActor(w.actors[w.ch.Intn(len(w.actors), "actor")])
		} else if w.arrived < w.opts.Buyers {
			w.arrive()
		} else {
			w.advance(time.Second)
		}
	}
}

func (w *world) arrive() {
	w.arrived++
	b := buyer{
		n: w.arrived,
		req: domain.PurchaseRequest{
			ProductID: w.products[w.ch.Intn(len(w.products), "product")],
			Qty:       int64(1 + w.ch.Intn(int(simConfig.MaxQtyPerOrder), "qty")),
		},
	}
	if w.ch.Intn(3, "keyed") == 0 {
		b.key = fmt.Sprintf("key-%d", b.n)
	}
	w.spawnBuyer(b)
	if b.key != "" && w.ch.Intn(5, "duplicate") == 0 {
		w.spawnBuyer(b) // the same request sent twice at once (I5)
	}
}

func (w *world) spawnBuyer(b buyer) {
	inst := w.instances[w.ch.Intn(len(w.instances), "instance")]
	var what []any // its arguments are boxed only for a trace
	if w.record {
		what = []any{b.req.ProductID, b.req.Qty, b.key}
	}
	w.spawn(&actor{inst: inst, buyer: b.n, tries: b.tries}, func(ctx context.Context) {
		start := w.clock.Now()
		s, err := inst.app.Purchase(ctx, b.req, b.key)
		w.outcome(b, s, err, w.clock.Now().Sub(start))
	}, "buy %s x%d key=%q", what...)
}

func (w *world) spawnBackground() {
	inst := w.instances[w.ch.Intn(len(w.instances), "instance")]
	if inst.background {
		return
	}
	inst.background = true
	w.spawn(&actor{inst: inst}, func(ctx context.Context) {
		defer func() { inst.background = false }()
		n, _ := inst.app.RecoverStale(ctx)
		w.res.Recovered += n
		n, _ = inst.app.ReapExpired(ctx)
		w.res.Reaped += n
		_, _ = inst.app.RelayEvents(ctx)
	}, "recover, reap, relay")
}

// spawn starts actor a (its instance, and its buyer if it is one) on an
// idle worker, to run body; what and its args say what it does (formatted
// only for a trace). It waits to be scheduled before it does anything, and
// then runs only between its yields.
func (w *world) spawn(a *actor, body func(context.Context), what string, args ...any) {
	a.wk = w.worker()
	if w.record {
		a.pending = fmt.Sprintf(what, args...)
	}
	a.starting = true
	ctx := context.WithValue(context.Background(), ctxKey{}, a)
	a.wk.job = func() {
		if a.inst.dead {
			panic(crashed{})
		}
		body(ctx)
	}
	w.actors = append(w.actors, a)
	if w.record {
		w.tracef("spawn %s: %s", a.name(), a.pending)
	}
}

// name is the actor's name in traces and reports: its instance's, and
// /b<n> for buyer n (.<k> for its k-th retry) or /bg for a background
// round.
func (a *actor) name() string {
	switch {
	case a.buyer == 0:
		return a.inst.name + "/bg"
	case a.tries > 0:
		return fmt.Sprintf("%s/b%d.%d", a.inst.name, a.buyer, a.tries)
	}
	return fmt.Sprintf("%s/b%d", a.inst.name, a.buyer)
}

// A worker is a coroutine (iter.Pull) that runs one actor after another.
// The scheduler and the actor it steps switch directly, without the Go
// scheduler: resume runs the actor until its next yield or its end, and
// an actor's end gives its worker back to the idle ones (removeActor). So
// a run starts a coroutine and its stack per actor in flight at once, not
// per actor.
type worker struct {
	resume func() (actorMsg, bool)
	stop   func()
	// yield hands the scheduler the actor's next call and waits to be
	// resumed; false when the worker is stopped.
	yield func(actorMsg) bool
	// job is the actor's body, set until it has begun.
	job func()
}

// run runs the worker's job to its end or its crash.
func (wk *worker) run() (msg actorMsg) {
	job := wk.job
	wk.job = nil
	msg.done = true
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crashed); !ok {
				msg.panicked = fmt.Sprintf("%v\n%s", r, debug.Stack())
			}
		}
	}()
	job()
	return msg
}

// worker returns an idle worker, or starts one.
func (w *world) worker() *worker {
	if n := len(w.idle); n > 0 {
		wk := w.idle[n-1]
		w.idle = w.idle[:n-1]
		return wk
	}
	wk := &worker{}
	wk.resume, wk.stop = iter.Pull(func(yield func(actorMsg) bool) {
		wk.yield = yield
		// Parked until its first job's first step, then after each job
		// until the next one's.
		if !yield(actorMsg{}) {
			return
		}
		for yield(wk.run()) {
		}
	})
	wk.resume() // to its first park
	w.workers = append(w.workers, wk)
	return wk
}

// releaseWorkers hands back the run's workers, all idle once no actor is
// left, for the next run.
func (w *world) releaseWorkers() []*worker {
	if len(w.actors) > 0 || len(w.idle) != len(w.workers) {
		panic(fmt.Sprintf("sim: %d actors left, %d of %d workers idle", len(w.actors), len(w.idle), len(w.workers)))
	}
	workers := w.workers
	w.workers, w.idle = nil, nil
	return workers
}

// stepActor lets a run until its next yield or its end.
func (w *world) stepActor(a *actor) {
	if w.record {
		desc := a.pending
		if a.starting {
			desc = "start: " + desc
		}
		w.tracef("%s: %s", a.name(), desc)
	}
	a.starting = false
	w.changed = w.changed || a.pendingChanges
	msg := a.step()
	if msg.panicked != "" {
		w.fail("panic", "%s panicked: %s", a.name(), msg.panicked)
	}
	if msg.done {
		w.removeActor(a)
		return
	}
	a.pending, a.pendingChanges = msg.desc, msg.changes
}

// step runs the actor until its next yield or its end (msg.done).
func (a *actor) step() actorMsg {
	msg, ok := a.wk.resume()
	if !ok {
		panic("sim: a stopped worker was stepped")
	}
	return msg
}

// unwind steps an actor whose instance is dead: it ends at once, at the
// yield it waits in, without making a call.
func (w *world) unwind(a *actor) {
	if msg := a.step(); !msg.done {
		panic("sim: a dying actor yielded again (a deferred port call?) instead of ending")
	}
}

func (w *world) removeActor(a *actor) {
	w.idle = append(w.idle, a.wk)
	for i, b := range w.actors {
		if b == a {
			w.actors = append(w.actors[:i], w.actors[i+1:]...)
			return
		}
	}
}

// yield is called by every port adapter before it acts: the actor tells
// the scheduler what it is about to do and waits for its turn. Calls made
// outside an actor (setup, and the maintenance that brings the world to
// rest) do not yield. The call is described with format and args (see
// describe) only for a recorded trace.
func (w *world) yield(ctx context.Context, format string, args ...any) {
	w.yieldFor(ctx, true, format, args...)
}

// yieldQuiet is yield for a call that changes nothing the per-step check
// reads (a read, a lock, the outbox and the event log): the step that
// makes it needs no check.
func (w *world) yieldQuiet(ctx context.Context, format string, args ...any) {
	w.yieldFor(ctx, false, format, args...)
}

func (w *world) yieldFor(ctx context.Context, changes bool, format string, args ...any) {
	a, _ := ctx.Value(ctxKey{}).(*actor)
	if a == nil {
		return
	}
	var desc string
	if w.record {
		desc = describe(format, args)
	}
	if !a.wk.yield(actorMsg{desc: desc, changes: changes}) {
		panic(crashed{}) // its worker was stopped
	}
	if a.inst.dead {
		panic(crashed{})
	}
}

// await lets a saga wait for its confirm group (app.Hooks.Await) without
// blocking the scheduler: whenever it is scheduled it looks whether it may
// go on, and yields again if not. Outside an actor it simply waits.
func (w *world) await(ctx context.Context, ch <-chan struct{}) {
	if a, _ := ctx.Value(ctxKey{}).(*actor); a == nil {
		<-ch
		return
	}
	for {
		select {
		case <-ch:
			return
		default:
		}
		w.yieldQuiet(ctx, "await confirm group") // looking changes nothing
	}
}

func (w *world) advance(d time.Duration) {
	w.clock.Advance(d)
	if w.record { // d is not boxed for a trace no one keeps
		w.tracef("clock +%s", d)
	}
}

// crash kills an instance: each of its actors dies at its next call, as
// if the process vanished; the instance restarts empty under a new name.
func (w *world) crash(inst *instance) {
	w.tracef("crash %s", inst.name)
	inst.dead = true
	for _, a := range append([]*actor(nil), w.actors...) {
		if a.inst == inst {
			w.unwind(a)
			w.removeActor(a)
			if a.buyer > 0 {
				w.res.Crashed++
				w.res.Sagas++
			}
		}
	}
	w.restarts++
	fresh, err := w.newInstance(inst.base, fmt.Sprintf("%s.r%d", inst.base, w.restarts))
	if err != nil {
		w.fail("setup", "restart: %v", err)
		return
	}
	for i, x := range w.instances {
		if x == inst {
			w.instances[i] = fresh
		}
	}
}

// stopActors ends every actor's goroutine, as a crash of every instance
// would, so an interrupted run leaves none behind.
func (w *world) stopActors() {
	for _, inst := range w.instances {
		inst.dead = true
	}
	for _, a := range w.actors {
		w.unwind(a)
		w.idle = append(w.idle, a.wk)
	}
	w.actors = nil
}

// replicate copies the Redis master's state to its replica.
func (w *world) replicate() {
	w.invReplica, w.lockReplica = w.inv.Checkpoint(), w.locker.Snapshot()
}

// failoverRedis promotes the replica: every write since the last
// replication is lost.
func (w *world) failoverRedis() {
	w.inv.Rewind(w.invReplica)
	w.locker.Restore(w.lockReplica)
	w.redisLost = true
	w.changed = true
	w.tracef("redis failover: writes since the last replication are lost")
}

func (w *world) decidePayment(domain.SagaID) payment.Outcome {
	if !w.opts.Faults.Payment {
		return payment.Approve
	}
	switch c := w.ch.Intn(20, "payment"); {
	case c < 2:
		return payment.Decline
	case c == 2:
		return payment.TimeoutCharged
	case c == 3:
		return payment.TimeoutNotCharged
	}
	return payment.Approve
}

// outcome records a buyer's answer, classified once by app.Classify, and
// retries a keyed buyer told to.
func (w *world) outcome(b buyer, s *domain.Saga, err error, latency time.Duration) {
	outcome := app.Classify(err)
	switch outcome {
	case app.OutcomeCompleted:
		w.res.Completed++
		w.res.latencies = append(w.res.latencies, latency)
		w.acked[s.ID] = true
		stored := false
		w.store.View(s.ID, func(s *domain.Saga) { stored = s != nil && s.Status == domain.SagaCompleted })
		if !stored {
			w.fail("I7", "buyer %d was answered COMPLETED for saga %s, which is not COMPLETED in the store", b.n, s.ID)
			return
		}
		if b.key != "" {
			if w.keyOrders[b.key] == nil {
				w.keyOrders[b.key] = map[domain.OrderID]bool{}
			}
			w.keyOrders[b.key][s.Order.ID] = true
		}
	case app.OutcomeCompensated, app.OutcomePaymentDeclined:
		// A decline whose compensation is still pending is final for the
		// buyer too: recovery finishes undoing it.
		w.res.Compensated++
	case app.OutcomeInsufficientStock:
		w.res.Insufficient++
	case app.OutcomeLockBusy:
		w.res.LockBusy++
	case app.OutcomeContention:
		w.res.Contention++
	case app.OutcomeUnavailable, app.OutcomeInProgress, app.OutcomeKeyReused, app.OutcomeAbandoned, app.OutcomeSaturated:
		w.res.Unavailable++
	default: // invalid input, an unknown product, an unclassified error: the buyers never send those
		w.fail("api", "buyer %d got an unexpected %s: %v", b.n, outcome, err)
		return
	}
	w.res.Sagas++
	if b.key != "" && outcome.Retry() && b.tries < 2 {
		b.tries++
		w.spawnBuyer(b)
	}
}

// rest heals every fault, lets every actor finish, then lets time pass
// with recovery, the reaper and the relay running until the world is
// quiet, and checks the invariants that hold at rest.
func (w *world) rest() {
	w.healing = true
	w.mysqlDownUntil = time.Time{}
	for n := 0; len(w.actors) > 0 && w.violation == nil; n++ {
		if n%1024 == 0 && w.ctx.Err() != nil {
			w.interrupted = true
			return // RunContext stops the actors
		}
		w.stepActor(w.actors[w.ch.Intn(len(w.actors), "actor")])
		w.checkStep()
	}
	if w.violation != nil {
		return
	}
	ctx := context.Background()
	a := w.instances[0].app
	// At least four rounds, then as many as still find work: each round
	// recovers and reaps at most a batch (simConfig.BatchSize), and a long
	// run can leave thousands of sagas to its crashed instances, which the
	// real background loop would go on working through.
	for round := 0; ; round++ {
		if w.ctx.Err() != nil {
			w.interrupted = true
			return
		}
		w.advance(5 * time.Minute)
		recovered, err := a.RecoverStale(ctx)
		w.res.Recovered += recovered
		if err != nil {
			w.fail("I3", "recovery at rest: %v", err)
			return
		}
		reaped, err := a.ReapExpired(ctx)
		w.res.Reaped += reaped
		if err != nil {
			w.fail("I3", "reaper at rest: %v", err)
			return
		}
		if _, err := a.RelayEvents(ctx); err != nil {
			w.fail("I6", "relay at rest: %v", err)
			return
		}
		w.flushHeld()
		if round >= 3 && recovered == 0 && reaped == 0 {
			break
		}
		if round > 4+2*w.opts.Buyers {
			w.fail("I3", "recovery and the reaper still find work after %d rounds at rest", round)
			return
		}
	}
	if w.redisLost {
		// Redis is a gate, not the truth: after losing writes it is
		// rebuilt from the durable store (flashsale reconcile --fix).
		drifts, err := a.Reconcile(ctx, app.ReconcileOptions{Fix: true})
		if err != nil {
			w.fail("I2", "reconcile: %v", err)
			return
		}
		w.tracef("reconcile fixed %d products", len(drifts))
	}
	w.checkRest()
}

func (w *world) tracef(format string, args ...any) {
	if w.record {
		w.trace = append(w.trace, fmt.Sprintf("%06d %8s %s", w.step, w.clock.Now().Sub(epoch), fmt.Sprintf(format, args...)))
	}
}

// conflict counts a write refused by its version check: a writer that
// lost a race to another writer of the same record.
func (w *world) conflict(format string, args ...any) {
	w.res.Conflicts++
	w.tracef("conflict: "+format, args...)
}

func (w *world) fail(invariant, format string, args ...any) {
	if w.violation != nil {
		return
	}
	w.violation = &Violation{Invariant: invariant, Detail: fmt.Sprintf(format, args...), Step: w.step}
	w.tracef("VIOLATION %s: %s", invariant, w.violation.Detail)
}
