package hw

import (
	"errors"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// next receives one event or fails.
func next(t *testing.T, ch <-chan Event) EventKind {
	t.Helper()
	select {
	case ev := <-ch:
		return ev.Kind
	default:
		t.Fatal("no event")
		return ""
	}
}

func TestSimBoard(t *testing.T) {
	clk := newFake()
	log, logs := newLogger()
	b, err := OpenBoard(ModeSim, DefaultBoardConfig(), clk, log)
	if err != nil {
		t.Fatal(err)
	}
	if b.Mode != ModeSim || b.Sim == nil || b.Door == nil || b.Exit == nil || b.LED == nil {
		t.Fatalf("sim board incomplete: %+v", b)
	}
	if b.Sim.RelayLevel() != gpio.Low || b.Relay.Unlocked() {
		t.Fatal("relay not locked at start")
	}
	if name, c := b.LED.Current(); name != PatternIdle || c != ColorGreen {
		t.Fatalf("LED %q %q at start", name, c)
	}
	clk.Advance(time.Second)
	if s := b.Door.State(); s != "closed" {
		t.Fatalf("sim door %q at start", s)
	}
	if got := drain(b.Events); len(got) != 0 {
		t.Fatalf("events at start: %v", got)
	}

	b.Sim.PressExit()
	clk.Advance(time.Second)
	if k := next(t, b.Events); k != EventExitPressed {
		t.Fatalf("PressExit gave %v", k)
	}
	b.Sim.PressExit() // the button was released: a second press counts too
	clk.Advance(time.Second)
	if k := next(t, b.Events); k != EventExitPressed {
		t.Fatalf("second PressExit gave %v", k)
	}

	b.Sim.SetDoor(true)
	clk.Advance(time.Second)
	if got := drain(b.Events); !sameKinds(got, []EventKind{EventDoorOpened, EventForcedOpen}) {
		t.Fatalf("door opened while locked: %v", got)
	}
	b.Sim.SetDoor(false)
	clk.Advance(time.Second)
	if k := next(t, b.Events); k != EventDoorClosed {
		t.Fatalf("SetDoor(false) gave %v", k)
	}

	if err := b.Relay.Unlock(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if b.Sim.RelayLevel() != gpio.High {
		t.Fatal("relay pin not energized")
	}
	b.LED.Show(PatternUnlocking)
	if ls := b.Sim.LEDLevels(); len(ls) != 1 || ls[0] != gpio.High {
		t.Fatalf("LED levels %v while Unlocking", ls)
	}
	b.Sim.SetDoor(true)
	clk.Advance(time.Second)
	if got := drain(b.Events); !sameKinds(got, []EventKind{EventDoorOpened}) {
		t.Fatalf("door opened while unlocked: %v", got)
	}

	if err := b.Halt(); err != nil {
		t.Fatal(err)
	}
	if b.Sim.RelayLevel() != gpio.Low || b.Relay.Unlocked() {
		t.Fatal("relay not locked by Halt")
	}
	if ls := b.Sim.LEDLevels(); ls[0] != gpio.Low {
		t.Fatal("LED not off after Halt")
	}
	if _, ok := <-b.Events; ok {
		t.Fatal("Events not closed by Halt")
	}
	if clk.Pending() != 0 {
		t.Fatalf("%d timers left after Halt", clk.Pending())
	}
	if err := b.Halt(); err != nil {
		t.Fatal("second Halt:", err)
	}
	for _, want := range []string{"relay unlocked", "relay locked", "led pattern", "mode=sim"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestSimBoardWiring(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      func(*BoardConfig)
		relayOff gpio.Level
		ledPins  int
	}{
		{"default", func(*BoardConfig) {}, gpio.Low, 1},
		{"active-low relay", func(c *BoardConfig) { c.RelayActiveLow = true }, gpio.High, 1},
		{"RGB LED", func(c *BoardConfig) { c.LED, c.LEDRed, c.LEDGreen, c.LEDBlue = "", "R", "G", "B" }, gpio.Low, 3},
		{"no LED", func(c *BoardConfig) { c.LED = "" }, gpio.Low, 0},
		{"open-low door, pressed-high button", func(c *BoardConfig) { c.DoorOpenHigh, c.ExitPressedLow = false, false }, gpio.Low, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFake()
			cfg := DefaultBoardConfig()
			tc.cfg(&cfg)
			log, _ := newLogger()
			b, err := OpenBoard(ModeSim, cfg, clk, log)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Halt()
			if b.Sim.RelayLevel() != tc.relayOff {
				t.Fatalf("relay level %v at start, want %v", b.Sim.RelayLevel(), tc.relayOff)
			}
			if n := len(b.Sim.LEDLevels()); n != tc.ledPins {
				t.Fatalf("%d LED pins, want %d", n, tc.ledPins)
			}
			clk.Advance(time.Second) // inputs settle: the first debounced level is no event
			b.Sim.SetDoor(true)
			b.Sim.PressExit()
			clk.Advance(time.Second)
			got := drain(b.Events)
			for _, k := range []EventKind{EventDoorOpened, EventForcedOpen, EventExitPressed} {
				if !strings.Contains(strings.Join(kindsStrings(got), " "), string(k)) {
					t.Fatalf("events %v lack %v", got, k)
				}
			}
		})
	}
}

func kindsStrings(ks []EventKind) []string {
	var s []string
	for _, k := range ks {
		s = append(s, string(k))
	}
	return s
}

func TestOpenBoardModes(t *testing.T) {
	clk := newFake()
	log, logs := newLogger()
	if _, err := OpenBoard("pi", DefaultBoardConfig(), clk, log); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown mode: %v", err)
	}
	cfg := DefaultBoardConfig()
	cfg.Relay = ""
	if _, err := OpenBoard(ModeSim, cfg, clk, log); err != nil {
		t.Fatalf("sim with no relay name should use a default: %v", err)
	}
	// A line no machine has: "gpio" must fail (no chip, or no such line), "auto" must fall back
	// to the simulated board and say why.
	cfg = DefaultBoardConfig()
	cfg.Relay = "doorface-no-such-line"
	_, err := OpenBoard(ModeGPIO, cfg, clk, log)
	if !errors.Is(err, ErrNoGPIO) && !errors.Is(err, ErrNoPin) {
		t.Fatalf("gpio with a missing line: %v, want ErrNoGPIO or ErrNoPin", err)
	}
	b, err := OpenBoard(ModeAuto, cfg, clk, log)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Halt()
	if b.Mode != ModeSim || b.Sim == nil {
		t.Fatalf("auto chose %q", b.Mode)
	}
	if !strings.Contains(logs.String(), "using the simulated board") {
		t.Fatalf("auto did not log its choice:\n%s", logs)
	}
}

func TestWiredPinKeepsLevel(t *testing.T) {
	for _, tc := range []struct {
		pull  gpio.Pull
		level gpio.Level
	}{
		{gpio.PullUp, gpio.Low}, {gpio.PullDown, gpio.High}, {gpio.PullUp, gpio.High}, {gpio.Float, gpio.Low},
	} {
		t.Run(tc.pull.String()+"/"+tc.level.String(), func(t *testing.T) {
			// Plain gpiotest.Pin takes the pull's level; a wired pin keeps what the switch holds.
			w := &wiredPin{Pin: gpiotest.Pin{N: "DOOR", L: tc.level}}
			if err := w.In(tc.pull, gpio.NoEdge); err != nil {
				t.Fatal(err)
			}
			if w.Read() != tc.level || w.Pull() != tc.pull {
				t.Fatalf("after In: level %v pull %v, want %v %v", w.Read(), w.Pull(), tc.level, tc.pull)
			}
			w.set(!tc.level)
			if w.Read() != !tc.level {
				t.Fatal("set did not change the level")
			}
			if err := w.In(tc.pull, gpio.BothEdges); err == nil {
				t.Fatal("edge detection without EdgesChan accepted")
			}
		})
	}
}
