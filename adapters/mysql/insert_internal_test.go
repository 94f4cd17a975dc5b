package mysql

import (
	"context"
	"database/sql"
	"reflect"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm/schema"
	"gorm.io/plugin/optimisticlock"
)

// The adapter's own INSERTs write sagaColumns and eventColumns; reads and
// updates go through GORM's schema of the same structs. These tests hold
// the two to one mapping: every column GORM knows, in struct order, taking
// the value of the field GORM maps it to.

func TestSagaColumnsMatchTheGORMSchema(t *testing.T) {
	at := time.Date(2031, 2, 3, 4, 5, 6, 7000, time.UTC)
	row := sagaRow{
		ID: "s-1", OrderID: sql.NullString{String: "o-1", Valid: true}, ProductID: "p-1", Qty: 2,
		AmountMinor: 3, Strategy: "st", Status: "RUNNING", OrderStatus: sql.NullString{String: "PENDING", Valid: true},
		Charged: true, Refunded: true, Released: true, Reason: "r", ReservationDeadline: at.Add(1),
		LeaseOwner: "lo", LeaseUntil: at.Add(2), Started: at.Add(3), Updated: at.Add(4),
		OrderCreated: sql.NullTime{Time: at.Add(5), Valid: true}, OrderUpdated: sql.NullTime{Time: at.Add(6), Valid: true},
		EventCount: 7, Version: optimisticlock.Version{Int64: 8, Valid: true},
	}
	checkColumns(t, &row, sagaColumns)
}

func TestEventColumnsMatchTheGORMSchema(t *testing.T) {
	at := time.Date(2031, 2, 3, 4, 5, 6, 7000, time.UTC)
	row := eventRow{
		ID: "s-1-1", SagaID: "s-1", Seq: 1, Type: "SagaStarted", Payload: []byte(`{}`), OccurredAt: at,
		PublishedAt: sql.NullTime{Time: at.Add(1), Valid: true},
	}
	checkColumns(t, &row, eventColumns)
}

func checkColumns[R any](t *testing.T, row *R, columns []column[R]) {
	t.Helper()
	s, err := schema.Parse(row, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range s.Fields {
		if f.DBName != "" {
			want = append(want, f.DBName)
		}
	}
	var got []string
	for _, c := range columns {
		got = append(got, c.name)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("insert columns of %s\n%v\nGORM's\n%v", s.Table, got, want)
	}
	for _, c := range columns {
		v, _ := s.LookUpField(c.name).ValueOf(context.Background(), reflect.ValueOf(row).Elem())
		if !reflect.DeepEqual(c.value(row), v) {
			t.Fatalf("column %s.%s inserts %#v, GORM maps it to %#v", s.Table, c.name, c.value(row), v)
		}
	}
}
