// Package sim is flashsale's deterministic simulator: the whole purchase
// saga, on several app instances over the in-memory adapters, in one
// process, with a virtual clock, one seeded source of choices, faults
// injected on purpose, and the invariants I1 to I8 of PRODUCT.md checked
// after every step and at rest.
//
// Every port call of every saga is a yield point. Each saga runs on its own
// goroutine, but only one goroutine runs at a time: the scheduler picks,
// with the seeded Chooser, which waiting actor makes its next call, when
// the clock moves, when a buyer arrives and which fault fires. No real
// goroutine race decides anything, so one seed gives one trace, byte for
// byte, and a violation found once replays from its seed. With a Chooser
// backed by pgregory.net/rapid the same choices are drawn by rapid, so a
// failing run shrinks to a minimal one.
package sim
