package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/hw"
	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
)

// TestFaceTrackIsBoundToItsSession: a face box is a hint only for the next frame of the same
// session, and only while fresh, so no session ever inherits another's search region.
func TestFaceTrackIsBoundToItsSession(t *testing.T) {
	box := image.Rect(100, 100, 300, 300)
	tests := []struct {
		name    string
		session string
		after   time.Duration
		want    image.Rectangle
	}{
		{"same session, next frame", "s1", 100 * time.Millisecond, box},
		{"same session, at the limit", "s1", trackFor, box},
		{"same session, person left", "s1", trackFor + time.Millisecond, image.Rectangle{}},
		{"another session", "s2", 100 * time.Millisecond, image.Rectangle{}},
		{"no session", "", 0, image.Rectangle{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := clock.NewFake(time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC))
			tr := &faceTrack{clock: c}
			tr.set("s1", box)
			c.Advance(tc.after)
			if got := tr.hint(tc.session); got != tc.want {
				t.Fatalf("hint(%q) after %v = %v, want %v", tc.session, tc.after, got, tc.want)
			}
		})
	}
	var none *faceTrack
	if got := none.hint("s1"); got != (image.Rectangle{}) {
		t.Fatalf("nil track hint = %v", got)
	}
}

// flakyPin is a periph gpiotest pin whose writes fail while broken is set, as a GPIO line whose
// driver returns an I/O error.
type flakyPin struct {
	gpiotest.Pin
	broken atomic.Bool
}

func (p *flakyPin) Out(l gpio.Level) error {
	if p.broken.Load() {
		return errors.New("gpio17: write: input/output error")
	}
	return p.Pin.Out(l)
}

// TestBoardReportsRelayFault: a failed lock write shows in what /v1/state reads (the relay is
// recorded as locked, and the fault names the error) until a retry writes the locked level.
func TestBoardReportsRelayFault(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC))
	pin := &flakyPin{Pin: gpiotest.Pin{N: "GPIO17", Num: 17}}
	r, err := hw.NewRelay(pin, hw.RelayConfig{}, clk, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b := board{&hw.Board{Relay: r}}
	if b.Relay() != "locked" || b.RelayFault() != "" {
		t.Fatalf("at start: relay %q fault %q", b.Relay(), b.RelayFault())
	}
	if err := r.Unlock(time.Second); err != nil {
		t.Fatal(err)
	}
	pin.broken.Store(true)
	if err := r.Lock(); err == nil {
		t.Fatal("Lock on a broken pin succeeded")
	}
	if got := b.RelayFault(); b.Relay() != "locked" || !strings.Contains(got, "input/output error") {
		t.Fatalf("after a failed lock write: relay %q fault %q", b.Relay(), got)
	}
	pin.broken.Store(false)
	clk.Advance(time.Second) // the relay rewrites the locked level every 500 ms
	if b.Relay() != "locked" || b.RelayFault() != "" || pin.Read() != gpio.Low {
		t.Fatalf("after the retry: relay %q fault %q level %v", b.Relay(), b.RelayFault(), pin.Read())
	}
}

// TestRelayRetryEndsUnlockMarker: the relock after an exit-button opening fails (the relay pin
// write errors). While the relay cannot lock, the store keeps the session's "door unlocked"
// marker, so a restart records the unlocking as interrupted. Once the relay's own retry writes
// the locked level, its EventRelayRelocked goes through the daemon's board-event loop
// (forwardDoorEvents) to the machine, the marker is cleared and a restart records nothing. Real
// relay driver, real machine, real bbolt store, the daemon's own event loop; only the GPIO line
// is a fake.
func TestRelayRetryEndsUnlockMarker(t *testing.T) {
	for _, tc := range []struct {
		name            string
		heals           bool
		wantInterrupted bool
	}{
		{"the retry locks the relay", true, false},
		{"the relay stays faulty", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC))
			logs := &testkit.LogBuffer{}
			log := slog.New(slog.NewJSONHandler(logs, nil))
			pin := &flakyPin{Pin: gpiotest.Pin{N: "GPIO17", Num: 17}}
			events := make(chan hw.Event, 64)
			relay, err := hw.NewRelay(pin, hw.RelayConfig{Events: events}, clk, log)
			if err != nil {
				t.Fatal(err)
			}
			db, err := store.Open(filepath.Join(t.TempDir(), "doorface.db"), store.Options{Clock: clk, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			cfg := machine.DefaultConfig()
			m, err := machine.New(cfg, machine.Deps{Clock: clk, Lock: relay, Sink: attempts{db: db},
				Directory: directory{db}, Lockouts: lockouts{db}, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Shutdown("end")
			d := &daemon{log: log, board: &hw.Board{Relay: relay, Events: events}, machine: m}
			ctx, cancel := context.WithCancel(context.Background())
			loopDone := make(chan struct{})
			go func() {
				defer close(loopDone)
				d.forwardDoorEvents(ctx)
			}()
			defer func() {
				cancel()
				<-loopDone
			}()

			if err := m.ExitRequest("exit button"); err != nil {
				t.Fatal(err)
			}
			session := m.Snapshot().Session
			if !relay.Unlocked() || session == "" {
				t.Fatalf("exit button: relay unlocked %v, session %q", relay.Unlocked(), session)
			}
			pin.broken.Store(true)
			clk.Advance(cfg.UnlockDuration) // the machine relocks; the write fails
			if relay.Fault() == nil {
				t.Fatal("test broken: the relock write did not fail")
			}
			if tc.heals {
				pin.broken.Store(false)
				clk.Advance(time.Second) // the relay rewrites the locked level every 500 ms
				waitFor(t, "the relock report", func() bool {
					return strings.Contains(logs.String(), `"msg":"relay relocked by its retry"`)
				})
				_ = m.Snapshot() // the report has returned: it holds the machine's lock while it works
			} else {
				clk.Advance(time.Second)
			}

			recs, err := db.RecoverInterrupted(clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			got := false
			for _, r := range recs {
				got = got || r.ID == store.UnlockInterruptedID(session)
			}
			if got != tc.wantInterrupted {
				t.Fatalf("interrupted unlock record at restart = %v, want %v (records %+v)", got, tc.wantInterrupted, recs)
			}
		})
	}
}

// TestEvidenceIsReencoded: what is kept as evidence is the frame's pixels, re-encoded and bounded:
// bytes a client appends to a JPEG (a hidden payload) do not survive, a large frame is scaled down,
// and bytes that are not a JPEG are not kept.
func TestEvidenceIsReencoded(t *testing.T) {
	big := image.NewRGBA(image.Rect(0, 0, 2600, 1400))
	for i := range big.Pix {
		big.Pix[i] = uint8(i*7 + i/5000)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, big, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	payload := []byte("PAYLOAD-that-must-not-be-kept")
	tests := []struct {
		name    string
		in      []byte
		wantErr bool
		maxW    int
	}{
		{"large frame with a trailing payload", append(buf.Bytes(), payload...), false, maxEvidenceWidth},
		{"small frame", testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/sheldon1.png"), 640, 480, 200), false, 640},
		{"not a JPEG", []byte("\x89PNG\r\n\x1a\nnot a jpeg"), true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := evidenceJPEG(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
			if err != nil || cfg.Width > tc.maxW || len(out) > maxEvidenceBytes || bytes.Contains(out, payload) {
				t.Fatalf("evidence %dx%d, %d bytes, err %v, payload kept %v", cfg.Width, cfg.Height, len(out), err, bytes.Contains(out, payload))
			}
		})
	}
}
