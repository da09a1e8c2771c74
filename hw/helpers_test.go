package hw

import (
	"bytes"
	"errors"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/doorface/doorface/clock"
)

// t0 is the start of every fake clock in these tests.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// errStuck is the error a failPin returns.
var errStuck = errors.New("line stuck")

// failPin is a periph gpiotest.Pin whose writes fail on demand, in the manner of periph's
// devices/tm1637 tests (embed gpiotest.Pin, override Out).
type failPin struct {
	gpiotest.Pin
	// fmu guards everything that follows.
	fmu      sync.Mutex
	failAll  bool
	failHigh bool // fail only writes of gpio.High
}

func (f *failPin) setFail(all, high bool) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	f.failAll, f.failHigh = all, high
}

// Out fails as configured, else writes like gpiotest.Pin.
func (f *failPin) Out(l gpio.Level) error {
	f.fmu.Lock()
	fail := f.failAll || (f.failHigh && l == gpio.High)
	f.fmu.Unlock()
	if fail {
		return errStuck
	}
	return f.Pin.Out(l)
}

// wire sets the level an input pin reads, as what is wired to it would. gpiotest.Pin.In sets
// the level to the pull (a floating line), so tests wire an input after its driver configured it.
func wire(p *gpiotest.Pin, l gpio.Level) {
	p.Lock()
	defer p.Unlock()
	p.L = l
}

// logBuf is a goroutine-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newLogger returns a debug-level text logger writing into the returned buffer.
func newLogger() (*slog.Logger, *logBuf) {
	b := &logBuf{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func newFake() *clock.Fake { return clock.NewFake(t0) }
