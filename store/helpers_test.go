package store

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/doorface/doorface/clock"
)

// t0 is the fake clock's start in every test: a round time, so decimal timestamps in the file
// cannot accidentally contain a test PIN.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// quietLogger drops log lines.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// logBuffer is a concurrency-safe buffer for captured log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testOptions are the options openTestDB uses: a fake clock and a quiet logger.
func testOptions() Options {
	return Options{Clock: clock.NewFake(t0), Logger: quietLogger()}
}

// openTestDB opens a fresh database in t.TempDir() and, in t.Cleanup, closes it and runs
// bbolt's consistency check on the file.
func openTestDB(t *testing.T, mods ...func(*Options)) *DB {
	t.Helper()
	o := testOptions()
	for _, m := range mods {
		m(&o)
	}
	path := filepath.Join(t.TempDir(), "data", "doorface.db")
	db, err := Open(path, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkFile(t, path)
	})
	return db
}

// reopenTestDB closes db and opens its file again, as a daemon restart does; the new handle is
// closed in t.Cleanup.
func reopenTestDB(t *testing.T, db *DB) *DB {
	t.Helper()
	path := db.Path()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(path, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	return db2
}

// checkFile runs bbolt's consistency check on a closed database file.
func checkFile(t *testing.T, path string) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Errorf("check %s: open: %v", path, err)
		return
	}
	defer bdb.Close()
	if err := bdb.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	}); err != nil {
		t.Errorf("check %s: %v", path, err)
	}
}

// rawUpdate opens a closed database file with bbolt directly and runs fn, as an attacker or a
// broken tool would.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("raw open: %v", err)
	}
	defer bdb.Close()
	if err := bdb.Update(fn); err != nil {
		t.Fatalf("raw update: %v", err)
	}
}

// sampleAttempt is a fully populated attempt of session id.
func sampleAttempt(id string, start time.Time) Attempt {
	return Attempt{
		ID: id, Start: start, End: start.Add(1500 * time.Millisecond),
		Outcome: "denied", Method: "pin", User: "", Name: "", BestUser: "u-best",
		BestDistance: 0.61, BestMargin: 0.02, Frames: 7, PinTries: 3,
		Durations: map[string]float64{"Receiving": 0.25, "Recognizing": 0.5, "PinFallback": 0.75},
		Reason:    "wrong PIN",
	}
}

// slogText logs text lines into w.
func slogText(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
