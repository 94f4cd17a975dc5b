// Package domain holds flashsale's pure model: products, reservations, orders,
// the purchase saga and its events, and the errors every layer speaks.
//
// Nothing here performs I/O, reads the wall clock or draws random numbers.
// Time and identifiers are passed in by the caller (through the ports.Clock
// and ports.IDs ports), so the simulator can drive every decision.
package domain
