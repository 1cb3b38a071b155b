package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"airlock/migrations"
)

// ArrivalChannel is the PostgreSQL NOTIFY channel on which a node announces
// that a request of a device arrived, so that another node holding an older
// Ping of the same device ends it (MS-ASCMD 2.2.1.13: a device has one
// outstanding Ping; a newer request supersedes it).
const ArrivalChannel = "airlock_arrivals"

// Arrival is one request of a device arriving on a node: the device's
// primary key, the node's random name and the node's own sequence number of
// the request.
type Arrival struct {
	DevicePK int64
	Node     string
	Seq      uint64
}

// Payload is the arrival as NOTIFY carries it: "DEVICE:NODE:SEQ".
func (a Arrival) Payload() string {
	return strconv.FormatInt(a.DevicePK, 10) + ":" + a.Node + ":" + strconv.FormatUint(a.Seq, 10)
}

// ParseArrival reads a NOTIFY payload written by Payload.
func ParseArrival(payload string) (Arrival, error) {
	parts := strings.Split(payload, ":")
	if len(parts) != 3 || parts[1] == "" {
		return Arrival{}, fmt.Errorf("arrival payload %q: want DEVICE:NODE:SEQ", payload)
	}
	dev, err1 := strconv.ParseInt(parts[0], 10, 64)
	seq, err2 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || dev <= 0 {
		return Arrival{}, fmt.Errorf("arrival payload %q: want DEVICE:NODE:SEQ", payload)
	}
	return Arrival{DevicePK: dev, Node: parts[1], Seq: seq}, nil
}

// NotifyArrival announces a on ArrivalChannel to every listening node, this
// one included. It is one statement outside any transaction, so it is
// delivered at once. On SQLite (one process) there is nobody to tell and it
// does nothing.
func (s *Store) NotifyArrival(ctx context.Context, a Arrival) error {
	if s.dialect != migrations.Postgres {
		return nil
	}
	return wrap(s.db.WithContext(ctx).Exec("SELECT pg_notify(?, ?)", ArrivalChannel, a.Payload()).Error, "notify arrival")
}
