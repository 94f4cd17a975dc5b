package app

import (
	"context"
	"errors"
	"sync"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// confirmGroups commits the confirms of one product in groups, so a hot
// product pays its stock row's lock and the commit's fsync once per group
// instead of once per sale (group commit done by the application, where the
// database cannot: every sale of one product updates the same row).
//
// There is no timer and no background goroutine. A confirm that finds no
// group of its product being written writes at once, alone; confirms that
// arrive while a group is being written queue, and the first of them, once
// that write is over, writes the whole queue (up to max) as the next group.
// So an idle product confirms with no added latency, and a hot one in
// groups as large as the arrivals during one commit.
//
// A group is one SagaBatchWriter.WriteAll: all its members are stored or
// none. A purchase is told "confirmed" only after its group's write
// returned (I7). A group refused as a whole (a member's version moved, or
// the stock cannot cover every member) makes each member confirm alone.
type confirmGroups struct {
	w     ports.SagaBatchWriter
	max   int
	hooks Hooks

	mu     sync.Mutex
	queues map[domain.ProductID]*confirmQueue
}

type confirmQueue struct {
	writing bool
	waiting []*confirmCall
}

type confirmCall struct {
	change ports.SagaChange
	// wake is closed once: when the call's result is in, or when the call
	// is made the writer of group (then group is set first).
	wake  chan struct{}
	group []*confirmCall
	out   *domain.Saga
	err   error
}

func newConfirmGroups(w ports.SagaBatchWriter, max int, hooks Hooks) *confirmGroups {
	return &confirmGroups{w: w, max: max, hooks: hooks, queues: make(map[domain.ProductID]*confirmQueue)}
}

// errGroupCrashed ends every member of a group whose writer "crashed"
// (Hooks.Crash at CrashInConfirmGroup): as when the process dies, none of
// them learns anything more.
var errGroupCrashed = ErrCrashed

// confirm stores prev's move to next (its confirmation) in a group with
// other confirms of the same product. write is the call that stores one
// group, run under the step timeout of the member that writes it.
func (g *confirmGroups) confirm(ctx context.Context, prev, next *domain.Saga,
	write func(ctx context.Context, changes []ports.SagaChange) ([]*domain.Saga, error),
) (*domain.Saga, error) {
	c := &confirmCall{change: ports.SagaChange{Prev: prev, Next: next}, wake: make(chan struct{})}
	product := prev.ProductID
	g.mu.Lock()
	q := g.queues[product]
	if q == nil {
		q = &confirmQueue{}
		g.queues[product] = q
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
		c.group = []*confirmCall{c}
		g.mu.Unlock()
	}
	g.writeGroup(ctx, product, c.group, write)
	return c.out, c.err
}

func (g *confirmGroups) await(ctx context.Context, ch <-chan struct{}) {
	if g.hooks.Await != nil {
		g.hooks.Await(ctx, ch)
		return
	}
	<-ch // the writer's call is bounded by its step timeout
}

// writeGroup stores group (led by group[0], the caller), hands each member
// its result, and hands the next group to the first waiting confirm.
func (g *confirmGroups) writeGroup(ctx context.Context, product domain.ProductID, group []*confirmCall,
	write func(ctx context.Context, changes []ports.SagaChange) ([]*domain.Saga, error),
) {
	done := false
	defer func() {
		if !done { // a panic in the write: no member may wait forever
			for _, c := range group {
				c.err = errors.New("confirm group aborted")
			}
		}
		for _, c := range group[1:] {
			close(c.wake)
		}
		g.next(product)
	}()
	if g.crashed(group) {
		for _, c := range group {
			c.err = errGroupCrashed
		}
		done = true
		return
	}
	changes := make([]ports.SagaChange, len(group))
	for i, c := range group {
		changes[i] = c.change
	}
	outs, err := write(ctx, changes)
	for i, c := range group {
		if err != nil {
			c.err = err
		} else {
			c.out = outs[i]
		}
	}
	done = true
}

// crashed consults the crash hook for every member, as the process would
// die for all of them.
func (g *confirmGroups) crashed(group []*confirmCall) bool {
	if g.hooks.Crash == nil {
		return false
	}
	for _, c := range group {
		if g.hooks.Crash(c.change.Prev.ID, CrashInConfirmGroup) {
			return true
		}
	}
	return false
}

// next makes the first waiting confirm of product the writer of the next
// group, or marks the product idle.
func (g *confirmGroups) next(product domain.ProductID) {
	g.mu.Lock()
	q := g.queues[product]
	if len(q.waiting) == 0 {
		q.writing = false
		delete(g.queues, product)
		g.mu.Unlock()
		return
	}
	n := min(len(q.waiting), g.max)
	group := make([]*confirmCall, n)
	copy(group, q.waiting)
	q.waiting = append(q.waiting[:0], q.waiting[n:]...)
	g.mu.Unlock()
	group[0].group = group
	close(group[0].wake)
}
