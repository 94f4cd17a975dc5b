package app

import (
	"context"
	"errors"
	"sync"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// groupWriter writes concurrent saga writes in groups: the confirms of one
// product, so a hot product pays its stock row's lock and the commit's
// fsync once per group instead of once per sale (group commit done by the
// application, where the database cannot: every sale of one product
// updates the same row); and the creations of sagas, so a crowd's first
// commits share one fsync and one replica acknowledgement.
//
// There is no timer and no background goroutine. A write that finds no
// group of its key being written writes at once, alone; writes that arrive
// while a group is being written queue, and the first of them, once that
// write is over, writes the whole queue (up to max) as the next group. So an
// idle key writes with no added latency, and a hot one in groups as large
// as the arrivals during one commit.
//
// A group is one call of the SagaBatchWriter: all its members are stored or
// none. A purchase is told "confirmed" only after its group's write
// returned (I7). A group refused as a whole makes each member write alone
// (the caller's fallback), which tells each its own answer.
type groupWriter[I, O any] struct {
	max   int
	hooks Hooks
	// crashAt is consulted, for every member, before a group is written
	// ("" for none): a crash there ends every member, as a dead process
	// would.
	crashAt CrashPoint
	// sagaOf names the saga of a write, for the crash hook.
	sagaOf func(I) domain.SagaID

	mu     sync.Mutex
	queues map[string]*groupQueue[I, O]
}

type groupQueue[I, O any] struct {
	writing bool
	waiting []*groupCall[I, O]
}

type groupCall[I, O any] struct {
	in I
	// wake is closed once: when the call's result is in, or when the call
	// is made the writer of group (then group is set first).
	wake  chan struct{}
	group []*groupCall[I, O]
	out   O
	err   error
}

// writeGroupFunc writes one group's inputs and returns their results in
// order (nil when there are none).
type writeGroupFunc[I, O any] func(ctx context.Context, ins []I) ([]O, error)

func newGroupWriter[I, O any](max int, hooks Hooks, crashAt CrashPoint, sagaOf func(I) domain.SagaID) *groupWriter[I, O] {
	return &groupWriter[I, O]{max: max, hooks: hooks, crashAt: crashAt, sagaOf: sagaOf, queues: make(map[string]*groupQueue[I, O])}
}

// sagaOfChange names a saga change's saga.
func sagaOfChange(c ports.SagaChange) domain.SagaID { return c.Next.ID }

// sagaOfID is the saga of a call that is a saga ID.
func sagaOfID(id domain.SagaID) domain.SagaID { return id }

// write stores change in a group with other writes of the same key and
// returns its stored saga (if write returns them) or the group's error.
// The group is written under the context of the member that writes it.
func (g *groupWriter[I, O]) write(ctx context.Context, key string, in I, write writeGroupFunc[I, O]) (O, error) {
	c := &groupCall[I, O]{in: in, wake: make(chan struct{})}
	g.mu.Lock()
	q := g.queues[key]
	if q == nil {
		q = &groupQueue[I, O]{}
		g.queues[key] = q
	}
	if q.writing {
		q.waiting = append(q.waiting, c)
		g.mu.Unlock()
		g.await(ctx, c.wake)
		if c.group == nil {
			return c.out, c.err
		}
	} else {
		q.writing = true
		c.group = []*groupCall[I, O]{c}
		g.mu.Unlock()
	}
	g.writeGroup(ctx, key, c.group, write)
	return c.out, c.err
}

func (g *groupWriter[I, O]) await(ctx context.Context, ch <-chan struct{}) {
	if g.hooks.Await != nil {
		g.hooks.Await(ctx, ch)
		return
	}
	<-ch // the writer's call is bounded by its step timeout
}

// writeGroup stores group (led by group[0], the caller), hands each member
// its result, and hands the next group to the first waiting call.
func (g *groupWriter[I, O]) writeGroup(ctx context.Context, key string, group []*groupCall[I, O], write writeGroupFunc[I, O]) {
	done := false
	defer func() {
		if !done { // a panic in the write: no member may wait forever
			for _, c := range group {
				c.err = errors.New("group write aborted")
			}
		}
		for _, c := range group[1:] {
			close(c.wake)
		}
		g.next(key)
	}()
	if g.crashed(group) {
		for _, c := range group {
			c.err = ErrCrashed
		}
		done = true
		return
	}
	ins := make([]I, len(group))
	for i, c := range group {
		ins[i] = c.in
	}
	outs, err := write(ctx, ins)
	for i, c := range group {
		switch {
		case err != nil:
			c.err = err
		case i < len(outs):
			c.out = outs[i]
		}
	}
	done = true
}

// crashed consults the crash hook for every member, as the process would
// die for all of them.
func (g *groupWriter[I, O]) crashed(group []*groupCall[I, O]) bool {
	if g.hooks.Crash == nil || g.crashAt == "" {
		return false
	}
	for _, c := range group {
		if g.hooks.Crash(g.sagaOf(c.in), g.crashAt) {
			return true
		}
	}
	return false
}

// next makes the first waiting call of key the writer of the next group,
// or marks the key idle.
func (g *groupWriter[I, O]) next(key string) {
	g.mu.Lock()
	q := g.queues[key]
	if len(q.waiting) == 0 {
		q.writing = false
		delete(g.queues, key)
		g.mu.Unlock()
		return
	}
	n := min(len(q.waiting), g.max)
	group := make([]*groupCall[I, O], n)
	copy(group, q.waiting)
	q.waiting = append(q.waiting[:0], q.waiting[n:]...)
	g.mu.Unlock()
	group[0].group = group
	close(group[0].wake)
}
