package app_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain raises rapid's default of 100 cases per property to 1000 (well
// under a second here): the state machine is cheap and the interleavings
// it explores are the point. -rapid.checks on the command line wins; -short
// keeps rapid's default.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "rapid.checks" })
	if !given && !testing.Short() {
		if err := flag.Set("rapid.checks", "1000"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
