package system_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale/adapters/system"
	"github.com/flashsale/flashsale/ports"
	"github.com/flashsale/flashsale/ports/porttest"
)

func TestIDsContract(t *testing.T) {
	porttest.IDs(t, func(*testing.T) ports.IDs { return system.IDs{} })
}

func TestIDsAreVersion7UUIDs(t *testing.T) {
	id := system.IDs{}.NewID()
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 || len(id) != 36 {
		t.Fatalf("NewID returned %q (version %v, %v)", id, u.Version(), err)
	}
}

func TestClockReadsTheWallClock(t *testing.T) {
	before := time.Now()
	got := system.Clock{}.Now()
	if got.Before(before) || got.After(time.Now()) {
		t.Fatalf("clock read %v outside [%v, now]", got, before)
	}
}
