package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/config"
	"github.com/doorface/doorface/hw"
)

// waitFor polls cond every 10 ms for up to 15 s (a bound for a loaded 2-core machine, not a
// timing claim) and fails the test, naming what, if it never holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runInProcess runs the daemon in the test process on a simulated board (d.board) and returns it
// and stop, which cancels the daemon and returns run's exit code. The test's cleanup stops it (if the
// test did not), closes it and halts the board.
func runInProcess(t *testing.T, cfg config.Config, log *slog.Logger) (*daemon, func() int) {
	t.Helper()
	b, err := hw.OpenBoard(hw.ModeSim, cfg.Pins, clock.Real{}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Halt() })
	d, err := newDaemon(cfg, b, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- d.run(ctx) }()
	var once sync.Once
	code := -1
	stop := func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Error("daemon did not stop within 10s")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return d, stop
}
