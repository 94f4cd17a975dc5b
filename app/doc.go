// Package app holds flashsale's use cases, written only against package
// ports: reading products (cache-aside), the purchase saga and its
// compensations, the lock strategies, and the background work that keeps
// the system convergent (the reaper of expired reservations, recovery of
// stale sagas, and the outbox relay).
//
// Nothing here imports an adapter; cmd/flashsale and the simulator wire
// adapters in.
package app
