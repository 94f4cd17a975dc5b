package kafka

// Encode is the envelope Publish writes, for tests that check the wire
// format against docs/events.md.
var Encode = encode
