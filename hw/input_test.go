package hw

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/doorface/doorface/clock"
)

// drain returns the events waiting in ch.
func drain(ch <-chan Event) []EventKind {
	var got []EventKind
	for {
		select {
		case ev := <-ch:
			got = append(got, ev.Kind)
		default:
			return got
		}
	}
}

func sameKinds(a, b []EventKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDoorContact(t *testing.T) {
	ms := time.Millisecond
	type act struct {
		at   time.Duration
		open bool
	}
	for _, tc := range []struct {
		name     string
		openHigh bool
		unlocked bool
		start    bool // door open at start
		acts     []act
		until    time.Duration
		want     []EventKind
		state    string
	}{
		{"closed at start sends nothing", true, false, false, nil, time.Second, nil, "closed"},
		{"open then close while unlocked", true, true, false,
			[]act{{100 * ms, true}, {500 * ms, false}}, time.Second,
			[]EventKind{EventDoorOpened, EventDoorClosed}, "closed"},
		{"open while locked is forced", true, false, false,
			[]act{{100 * ms, true}}, time.Second,
			[]EventKind{EventDoorOpened, EventForcedOpen}, "open"},
		{"open-low wiring", false, true, true,
			[]act{{100 * ms, false}}, time.Second,
			[]EventKind{EventDoorClosed}, "closed"},
		{"held open after HeldOpen", true, true, false,
			[]act{{100 * ms, true}}, 3*time.Second + 110*ms,
			[]EventKind{EventDoorOpened, EventHeldOpen}, "open"},
		{"not held open when closed in time", true, true, false,
			[]act{{100 * ms, true}, {2 * time.Second, false}}, 10 * time.Second,
			[]EventKind{EventDoorOpened, EventDoorClosed}, "closed"},
		{"open at start is held open too", true, true, true, nil, 3*time.Second + 50*ms,
			[]EventKind{EventHeldOpen}, "open"},
		{"bounce shorter than debounce is ignored", true, false, false,
			[]act{{100 * ms, true}, {130 * ms, false}, {140 * ms, true}, {160 * ms, false}}, time.Second,
			nil, "closed"},
		{"bouncing contact settles into one opening", true, true, false,
			[]act{{100 * ms, true}, {110 * ms, false}, {120 * ms, true}, {130 * ms, false}, {140 * ms, true}}, time.Second,
			[]EventKind{EventDoorOpened}, "open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFake()
			log, _ := newLogger()
			level := func(open bool) gpio.Level { return gpio.Level(open == tc.openHigh) }
			p := &gpiotest.Pin{N: "DOOR"}
			out := make(chan Event, 16)
			var unlocked atomic.Bool
			unlocked.Store(tc.unlocked)
			d, err := NewDoorContact(p, DoorConfig{OpenHigh: tc.openHigh, HeldOpen: 3 * time.Second}, clk, unlocked.Load, out, log)
			if err != nil {
				t.Fatal(err)
			}
			wire(p, level(tc.start)) // at t0, before the first poll
			if s := d.State(); s != "unknown" {
				t.Fatalf("State before debounce = %q", s)
			}
			if want := map[bool]gpio.Pull{true: gpio.PullUp, false: gpio.PullDown}[tc.openHigh]; p.Pull() != want {
				t.Fatalf("pull %v, want %v", p.Pull(), want)
			}
			for _, a := range tc.acts {
				clk.Set(t0.Add(a.at))
				wire(p, level(a.open))
			}
			clk.Set(t0.Add(tc.until))
			if got := drain(out); !sameKinds(got, tc.want) {
				t.Fatalf("events %v, want %v", got, tc.want)
			}
			if s := d.State(); s != tc.state {
				t.Fatalf("State = %q, want %q", s, tc.state)
			}
			if err := d.Halt(); err != nil {
				t.Fatal(err)
			}
			if clk.Pending() != 0 {
				t.Fatalf("%d timers left after Halt", clk.Pending())
			}
			wire(p, level(!tc.start))
			clk.Advance(time.Minute)
			if got := drain(out); len(got) != 0 {
				t.Fatalf("events after Halt: %v", got)
			}
			if err := d.Close(); err != nil {
				t.Fatal("second Halt:", err)
			}
		})
	}
}

func TestDoorEventTimes(t *testing.T) {
	clk := newFake()
	p := &gpiotest.Pin{N: "DOOR"}
	out := make(chan Event, 4)
	d, err := NewDoorContact(p, DoorConfig{OpenHigh: true, Debounce: 50 * time.Millisecond, HeldOpen: time.Second}, clk, nil, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	wire(p, gpio.Low) // closed, at t0, before the first poll
	clk.Set(t0.Add(200 * time.Millisecond))
	wire(p, gpio.High)
	clk.Set(t0.Add(249 * time.Millisecond))
	if got := drain(out); len(got) != 0 {
		t.Fatalf("event %v before the debounce time", got)
	}
	clk.Set(t0.Add(260 * time.Millisecond))
	ev := <-out
	// The opening is first read at the 210ms poll; it counts from then.
	if ev.Kind != EventDoorOpened || !ev.At.Equal(t0.Add(210*time.Millisecond)) {
		t.Fatalf("event %v at %v, want door_opened at +210ms", ev.Kind, ev.At.Sub(t0))
	}
	if ev := <-out; ev.Kind != EventForcedOpen {
		t.Fatalf("nil unlocked func: got %v, want forced_open", ev.Kind)
	}
	clk.Set(t0.Add(1210 * time.Millisecond))
	if ev := <-out; ev.Kind != EventHeldOpen || !ev.At.Equal(t0.Add(1210*time.Millisecond)) {
		t.Fatalf("event %v at %v, want held_open at +1210ms", ev.Kind, ev.At.Sub(t0))
	}
}

func TestExitButton(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name       string
		pressedLow bool
		presses    [][2]time.Duration // pressed from [0] to [1]
		want       int
	}{
		{"press (low)", true, [][2]time.Duration{{100 * ms, 300 * ms}}, 1},
		{"press (high)", false, [][2]time.Duration{{100 * ms, 300 * ms}}, 1},
		{"a held press counts once", true, [][2]time.Duration{{100 * ms, 5000 * ms}}, 1},
		{"a glitch is not a press", true, [][2]time.Duration{{100 * ms, 130 * ms}}, 0},
		{"two presses", true, [][2]time.Duration{{100 * ms, 300 * ms}, {500 * ms, 700 * ms}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFake()
			log, _ := newLogger()
			pressed, released := gpio.High, gpio.Low
			if tc.pressedLow {
				pressed, released = gpio.Low, gpio.High
			}
			p := &gpiotest.Pin{N: "EXIT", L: released}
			out := make(chan Event, 8)
			b, err := NewExitButton(p, ButtonConfig{PressedLow: tc.pressedLow}, clk, out, log)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for _, pr := range tc.presses {
				clk.Set(t0.Add(pr[0]))
				wire(p, pressed)
				clk.Set(t0.Add(pr[1]))
				wire(p, released)
			}
			clk.Advance(time.Second)
			got := drain(out)
			if len(got) != tc.want {
				t.Fatalf("events %v, want %d exit_pressed", got, tc.want)
			}
			for _, k := range got {
				if k != EventExitPressed {
					t.Fatalf("event %v", k)
				}
			}
		})
	}
}

func TestInputConfigErrors(t *testing.T) {
	clk := newFake()
	out := make(chan Event)
	if _, err := NewDoorContact(nil, DoorConfig{}, clk, nil, out, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil pin: %v", err)
	}
	if _, err := NewDoorContact(&gpiotest.Pin{}, DoorConfig{}, clk, nil, nil, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil channel: %v", err)
	}
	if _, err := NewDoorContact(&gpiotest.Pin{}, DoorConfig{HeldOpen: -1}, clk, nil, out, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("negative HeldOpen: %v", err)
	}
	if _, err := NewExitButton(&gpiotest.Pin{}, ButtonConfig{Debounce: -1}, clk, out, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("negative debounce: %v", err)
	}
}

// TestInputsStopOnHalt runs the inputs on the real clock and checks that Halt leaves no
// goroutine behind, even with events stuck on a channel nobody reads.
func TestInputsStopOnHalt(t *testing.T) {
	before := runtime.NumGoroutine()
	// On gpiotest pins, In sets the level to the pull: the door reads open (pull-up, open high)
	// and the exit button released (pull-up, pressed low) from the first sample on.
	door := &gpiotest.Pin{N: "DOOR"}
	exit := &gpiotest.Pin{N: "EXIT"}
	out := make(chan Event) // unbuffered and, at the end, unread
	cfgD := DoorConfig{OpenHigh: true, Debounce: 2 * time.Millisecond, Poll: time.Millisecond, HeldOpen: time.Millisecond}
	d, err := NewDoorContact(door, cfgD, clock.Real{}, nil, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewExitButton(exit, ButtonConfig{PressedLow: true, Debounce: 2 * time.Millisecond, Poll: time.Millisecond}, clock.Real{}, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if door.Read() != gpio.High || exit.Read() != gpio.High {
		t.Fatalf("gpiotest pins after In: door %v exit %v, want High High", door.Read(), exit.Read())
	}
	recv := func(want EventKind) {
		t.Helper()
		select {
		case ev := <-out:
			if ev.Kind != want {
				t.Fatalf("event %v, want %v", ev.Kind, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %v event on the real clock", want)
		}
	}
	recv(EventHeldOpen) // open at start: no door_opened, but held open after 1ms
	if s := d.State(); s != "open" {
		t.Fatalf("door state %q, want open", s)
	}
	wire(door, gpio.Low)
	recv(EventDoorClosed)
	wire(door, gpio.High)
	recv(EventDoorOpened) // forced_open and held_open now block on out
	wire(exit, gpio.Low)  // and so does exit_pressed
	halted := make(chan error, 1)
	go func() { halted <- errors.Join(d.Halt(), b.Halt()) }()
	select {
	case err := <-halted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Halt did not return: an input goroutine keeps running")
	}
	// Halt waited for every callback; their goroutines only have to return.
	for i := 0; i < 1000 && runtime.NumGoroutine() > before; i++ {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Halt, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
