package hw

import (
	"errors"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func TestRelayLevels(t *testing.T) {
	for _, tc := range []struct {
		name      string
		activeLow bool
		on, off   gpio.Level
	}{
		{"active-high", false, gpio.High, gpio.Low},
		{"active-low", true, gpio.Low, gpio.High},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFake()
			log, logs := newLogger()
			p := &gpiotest.Pin{N: "GPIO17", L: tc.on} // energized before we start: must lock first
			r, err := NewRelay(p, RelayConfig{ActiveLow: tc.activeLow}, clk, log)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Read(); got != tc.off || r.Unlocked() {
				t.Fatalf("after NewRelay: level %v unlocked %v, want %v locked", got, r.Unlocked(), tc.off)
			}
			if err := r.Unlock(2 * time.Second); err != nil {
				t.Fatal(err)
			}
			if got := p.Read(); got != tc.on || !r.Unlocked() {
				t.Fatalf("after Unlock: level %v unlocked %v, want %v unlocked", got, r.Unlocked(), tc.on)
			}
			if err := r.Lock(); err != nil {
				t.Fatal(err)
			}
			if got := p.Read(); got != tc.off || r.Unlocked() {
				t.Fatalf("after Lock: level %v unlocked %v, want %v locked", got, r.Unlocked(), tc.off)
			}
			if err := r.Unlock(2 * time.Second); err != nil {
				t.Fatal(err)
			}
			if err := r.Halt(); err != nil {
				t.Fatal(err)
			}
			if got := p.Read(); got != tc.off || r.Unlocked() {
				t.Fatalf("after Halt: level %v unlocked %v, want %v locked", got, r.Unlocked(), tc.off)
			}
			if err := r.Unlock(time.Second); !errors.Is(err, ErrHalted) {
				t.Fatalf("Unlock after Halt = %v, want ErrHalted", err)
			}
			if p.Read() != tc.off {
				t.Fatal("Unlock after Halt moved the pin")
			}
			if clk.Pending() != 0 {
				t.Fatalf("%d timers left after Halt", clk.Pending())
			}
			for _, want := range []string{"component=hw", "relay unlocked", "reason=start", "reason=lock", "reason=halt"} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, logs)
				}
			}
		})
	}
}

func TestRelayTimeouts(t *testing.T) {
	type call struct {
		at time.Duration // since start
		d  time.Duration // Unlock(d)
	}
	for _, tc := range []struct {
		name    string
		maxOpen time.Duration
		calls   []call
		relock  time.Duration // when the relay must relock, since start
	}{
		{"expires after d", 10 * time.Second, []call{{0, 3 * time.Second}}, 3 * time.Second},
		{"watchdog cuts an over-long unlock", 10 * time.Second, []call{{0, time.Hour}}, 10 * time.Second},
		{"default MaxOpen is 10s", 0, []call{{0, time.Minute}}, 10 * time.Second},
		{"extension moves the deadline", 10 * time.Second, []call{{0, 5 * time.Second}, {3 * time.Second, 5 * time.Second}}, 8 * time.Second},
		{"a shorter unlock does not shorten", 10 * time.Second, []call{{0, 5 * time.Second}, {1 * time.Second, time.Second}}, 5 * time.Second},
		{"repeated unlocks never pass MaxOpen", 10 * time.Second, []call{
			{0, 5 * time.Second}, {4 * time.Second, 5 * time.Second}, {8 * time.Second, 5 * time.Second}, {9 * time.Second, time.Hour},
		}, 10 * time.Second},
		{"a new opening after relock gets a fresh MaxOpen", 4 * time.Second, []call{{0, time.Hour}, {5 * time.Second, 3 * time.Second}}, 8 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFake()
			log, _ := newLogger()
			p := &gpiotest.Pin{N: "R"}
			r, err := NewRelay(p, RelayConfig{MaxOpen: tc.maxOpen}, clk, log)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.calls {
				clk.Set(t0.Add(c.at))
				if err := r.Unlock(c.d); err != nil {
					t.Fatal(err)
				}
			}
			clk.Set(t0.Add(tc.relock - time.Millisecond))
			if !r.Unlocked() || p.Read() != gpio.High {
				t.Fatalf("relocked before %v", tc.relock)
			}
			clk.Set(t0.Add(tc.relock))
			if r.Unlocked() || p.Read() != gpio.Low {
				t.Fatalf("still unlocked at %v", tc.relock)
			}
			if clk.Pending() != 0 {
				t.Fatalf("%d timers left after relock", clk.Pending())
			}
		})
	}
}

func TestRelayExtensionsCappedAtMaxOpen(t *testing.T) {
	// A caller that keeps extending the opening every 500ms cannot keep the strike energized past
	// MaxOpen from the first energize, and the relock is logged. Either the capped expiry or the
	// watchdog may do it here; TestRelayWatchdogWithoutExpiry proves the watchdog alone does.
	clk := newFake()
	log, logs := newLogger()
	p := &gpiotest.Pin{N: "R"}
	r, err := NewRelay(p, RelayConfig{MaxOpen: 2 * time.Second}, clk, log)
	if err != nil {
		t.Fatal(err)
	}
	for elapsed := time.Duration(0); elapsed < 2*time.Second; elapsed += 500 * time.Millisecond {
		if !r.Unlocked() && elapsed > 0 {
			t.Fatalf("relocked early, at %v", elapsed)
		}
		if err := r.Unlock(time.Second); err != nil {
			t.Fatal(err)
		}
		clk.Advance(500 * time.Millisecond)
	}
	if r.Unlocked() || p.Read() != gpio.Low {
		t.Fatal("still energized at MaxOpen")
	}
	if !strings.Contains(logs.String(), "reason=watchdog") && !strings.Contains(logs.String(), "reason=max_open") {
		t.Fatalf("no MaxOpen relock logged:\n%s", logs)
	}
}

func TestRelayWatchdogWithoutExpiry(t *testing.T) {
	// White box: lose the expiry timer (as a bug in the deadline bookkeeping would); the
	// watchdog armed at the first energize still relocks at MaxOpen.
	clk := newFake()
	log, logs := newLogger()
	p := &gpiotest.Pin{N: "R"}
	r, err := NewRelay(p, RelayConfig{MaxOpen: 3 * time.Second}, clk, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Unlock(time.Hour); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.expiry.Stop()
	r.mu.Unlock()
	clk.Advance(3*time.Second - time.Millisecond)
	if !r.Unlocked() {
		t.Fatal("relocked early")
	}
	clk.Advance(time.Millisecond)
	if r.Unlocked() || p.Read() != gpio.Low {
		t.Fatal("watchdog did not relock at MaxOpen")
	}
	if !strings.Contains(logs.String(), "reason=watchdog") {
		t.Fatalf("watchdog relock not logged:\n%s", logs)
	}
}

func TestRelayFailingWrites(t *testing.T) {
	t.Run("initial lock fails", func(t *testing.T) {
		p := &failPin{Pin: gpiotest.Pin{N: "R"}}
		p.setFail(true, false)
		r, err := NewRelay(p, RelayConfig{}, newFake(), nil)
		if r != nil || !errors.Is(err, ErrWrite) || !errors.Is(err, errStuck) {
			t.Fatalf("NewRelay = %v, %v; want nil, ErrWrite wrapping the pin error", r, err)
		}
	})
	t.Run("unlock write fails", func(t *testing.T) {
		clk := newFake()
		p := &failPin{Pin: gpiotest.Pin{N: "R"}}
		r, err := NewRelay(p, RelayConfig{}, clk, nil)
		if err != nil {
			t.Fatal(err)
		}
		var changes []bool
		r.OnChange(func(u bool) { changes = append(changes, u) })
		p.setFail(false, true) // energizing (High) fails, locking works
		if err := r.Unlock(5 * time.Second); !errors.Is(err, ErrWrite) {
			t.Fatalf("Unlock = %v, want ErrWrite", err)
		}
		if r.Unlocked() || p.Read() != gpio.Low {
			t.Fatalf("after failed unlock: unlocked %v level %v", r.Unlocked(), p.Read())
		}
		if len(changes) != 0 {
			t.Fatalf("observers saw %v for a change that never happened", changes)
		}
		p.setFail(false, false)
		if err := r.Unlock(5 * time.Second); err != nil || !r.Unlocked() || r.Fault() != nil {
			t.Fatalf("Unlock after heal = %v unlocked %v fault %v", err, r.Unlocked(), r.Fault())
		}
	})
	t.Run("lock write fails then is retried", func(t *testing.T) {
		clk := newFake()
		p := &failPin{Pin: gpiotest.Pin{N: "R"}}
		events := make(chan Event, 4)
		r, err := NewRelay(p, RelayConfig{Events: events}, clk, nil)
		if err != nil {
			t.Fatal(err)
		}
		var changes []bool
		r.OnChange(func(u bool) { changes = append(changes, u) })
		if err := r.Unlock(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		p.setFail(true, false)
		if err := r.Lock(); !errors.Is(err, ErrWrite) {
			t.Fatalf("Lock = %v, want ErrWrite", err)
		}
		if r.Unlocked() {
			t.Fatal("a failed lock write must leave the door reported locked")
		}
		if p.Read() != gpio.High {
			t.Fatal("test broken: the fake wrote despite failing")
		}
		clk.Advance(time.Second) // still failing: retries go on
		if r.Fault() == nil || clk.Pending() != 1 || len(events) != 0 {
			t.Fatalf("fault %v pending %d relocked %d, want a fault, one retry, no relock report", r.Fault(), clk.Pending(), len(events))
		}
		p.setFail(false, false)
		clk.Advance(lockRetry)
		if p.Read() != gpio.Low || r.Fault() != nil || clk.Pending() != 0 || len(events) != 1 {
			t.Fatalf("after heal: level %v fault %v pending %d relocked %d", p.Read(), r.Fault(), clk.Pending(), len(events))
		}
		if ev := <-events; ev.Kind != EventRelayRelocked || !ev.At.Equal(clk.Now()) {
			t.Fatalf("relock event %+v, want %s at %v", ev, EventRelayRelocked, clk.Now())
		}
		if want := []bool{true, false}; len(changes) != 2 || changes[0] != want[0] || changes[1] != want[1] {
			t.Fatalf("observers saw %v, want %v", changes, want)
		}
	})
	t.Run("unlock while a retry is pending is not relocked by the retry", func(t *testing.T) {
		clk := newFake()
		p := &failPin{Pin: gpiotest.Pin{N: "R"}}
		events := make(chan Event, 4)
		r, err := NewRelay(p, RelayConfig{Events: events}, clk, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.setFail(true, false)
		if err := r.Lock(); err == nil {
			t.Fatal("Lock on a failing pin succeeded")
		}
		p.setFail(false, false)
		if err := r.Unlock(3 * time.Second); err != nil {
			t.Fatal(err)
		}
		clk.Advance(lockRetry)
		if !r.Unlocked() || len(events) != 0 {
			t.Fatalf("a stale lock retry cut a fresh opening (unlocked %v) or reported a relock (%d)", r.Unlocked(), len(events))
		}
		clk.Advance(3 * time.Second)
		if r.Unlocked() {
			t.Fatal("not relocked")
		}
	})
	t.Run("halt releases a relock report nobody receives", func(t *testing.T) {
		clk := newFake()
		p := &failPin{Pin: gpiotest.Pin{N: "R"}}
		events := make(chan Event) // nobody receives
		r, err := NewRelay(p, RelayConfig{Events: events}, clk, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.setFail(true, false)
		if err := r.Lock(); err == nil {
			t.Fatal("Lock on a failing pin succeeded")
		}
		p.setFail(false, false)
		advanced := make(chan struct{})
		go func() {
			defer close(advanced)
			clk.Advance(lockRetry) // the retry succeeds and blocks sending its report
		}()
		// The relay's lock is free while the report waits: Unlocked answers.
		deadline := time.Now().Add(5 * time.Second)
		for r.Fault() != nil && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if r.Unlocked() || r.Fault() != nil {
			t.Fatalf("retry did not lock: unlocked %v fault %v", r.Unlocked(), r.Fault())
		}
		if err := r.Halt(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-advanced:
		case <-time.After(5 * time.Second):
			t.Fatal("Halt did not release the blocked relock report")
		}
		select {
		case ev := <-events:
			t.Fatalf("event %+v after Halt", ev)
		default:
		}
	})
}

func TestRelayConfigErrors(t *testing.T) {
	clk := newFake()
	for _, tc := range []struct {
		name string
		pin  gpio.PinOut
		cfg  RelayConfig
	}{
		{"nil pin", nil, RelayConfig{}},
		{"negative MaxOpen", &gpiotest.Pin{}, RelayConfig{MaxOpen: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewRelay(tc.pin, tc.cfg, clk, nil); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
	r, err := NewRelay(&gpiotest.Pin{}, RelayConfig{}, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, -time.Second} {
		if err := r.Unlock(d); !errors.Is(err, ErrConfig) || r.Unlocked() {
			t.Fatalf("Unlock(%v) = %v unlocked %v, want ErrConfig and locked", d, err, r.Unlocked())
		}
	}
}

// *Relay satisfies machine.Lock structurally and periph's conn.Resource.
var (
	_ interface {
		Unlock(time.Duration) error
		Lock() error
	} = (*Relay)(nil)
	_ conn.Resource = (*Relay)(nil)
)
