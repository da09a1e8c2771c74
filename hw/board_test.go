package hw

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/doorface/doorface/clock"
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
	// A line no machine has: "gpio" must fail (no chip, or no such line). "auto" falls back to
	// the simulated board, and says why, only where no GPIO chip exists; on a machine with
	// GPIO it must refuse.
	cfg = DefaultBoardConfig()
	cfg.Relay = "doorface-no-such-line"
	_, err := OpenBoard(ModeGPIO, cfg, clk, log)
	if !errors.Is(err, ErrNoGPIO) && !errors.Is(err, ErrNoPin) {
		t.Fatalf("gpio with a missing line: %v, want ErrNoGPIO or ErrNoPin", err)
	}
	b, err := OpenBoard(ModeAuto, cfg, clk, log)
	if len(gpioChips()) > 0 {
		if err == nil {
			b.Halt()
			t.Fatal("auto on a machine with GPIO opened a board without its relay line")
		}
		return
	}
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

func TestAutoNeedsNoChipToSimulate(t *testing.T) {
	real := &Board{Mode: ModeGPIO}
	for _, tc := range []struct {
		name     string
		chips    []string
		gpioErr  error
		wantMode string
		wantErr  error
	}{
		{"no GPIO chip: simulated", nil, nil, ModeSim, nil},
		{"chip and pins: real board", []string{"/dev/gpiochip0"}, nil, ModeGPIO, nil},
		{"chip but a pin is missing: refuse", []string{"/dev/gpiochip0"}, fmt.Errorf("line %q: %w", "GPIO17", ErrNoPin), "", ErrNoPin},
		{"chip but host init fails: refuse", []string{"/dev/gpiochip4"}, fmt.Errorf("periph host init: %w", ErrNoGPIO), "", ErrNoGPIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFake()
			log, _ := newLogger()
			gpioCalls := 0
			o := boardOpener{
				chips: func() []string { return tc.chips },
				gpio: func(BoardConfig, clock.Clock, *slog.Logger) (*Board, error) {
					gpioCalls++
					if tc.gpioErr != nil {
						return nil, tc.gpioErr
					}
					return real, nil
				},
			}
			b, err := o.open(ModeAuto, DefaultBoardConfig(), clk, log)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || b != nil {
					t.Fatalf("auto = %v, %v; want no board and %v", b, err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.chips[0]) {
					t.Fatalf("error %q does not name the chip", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.Mode != tc.wantMode {
				t.Fatalf("auto chose %q, want %q", b.Mode, tc.wantMode)
			}
			if b.Mode == ModeSim {
				b.Halt()
				if gpioCalls != 0 {
					t.Fatal("auto tried GPIO without a chip")
				}
			}
		})
	}
}

func TestSimBoardRingAndBuzzer(t *testing.T) {
	for _, kind := range []string{LEDWS2812, LEDAPA102} {
		t.Run(kind, func(t *testing.T) {
			clk := newFake()
			log, logs := newLogger()
			cfg := DefaultBoardConfig()
			cfg.LEDKind, cfg.LEDCount, cfg.LEDBrightness, cfg.Buzzer = kind, 8, 255, "GPIO22"
			b, err := OpenBoard(ModeSim, cfg, clk, log)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(b.Sim.LEDLevels()); n != 0 {
				t.Fatalf("a ring has %d LED pins", n)
			}
			b.LED.Show(PatternUnlocking)
			green := slices.Repeat([]string{"#00ff00"}, 8)
			eventually(t, "the ring green", func() bool { return slices.Equal(b.LED.Colors(), green) })
			if !strings.Contains(logs.String(), `pattern=unlocking colors="#00ff00 #00ff00`) {
				t.Fatalf("the ring is not in the log:\n%s", logs)
			}
			if l, ok := b.Sim.BuzzerLevel(); !ok || l != gpio.Low {
				t.Fatalf("buzzer %v %v at start", l, ok)
			}
			b.Buzzer.Play(SoundKey)
			if l, _ := b.Sim.BuzzerLevel(); l != gpio.High {
				t.Fatal("buzzer silent while playing")
			}
			if err := b.Halt(); err != nil {
				t.Fatal(err)
			}
			if c := b.LED.Colors(); !slices.Equal(c, slices.Repeat([]string{"#000000"}, 8)) {
				t.Fatalf("ring after Halt %v", c)
			}
			if l, _ := b.Sim.BuzzerLevel(); l != gpio.Low {
				t.Fatal("buzzer sounds after Halt")
			}
			if clk.Pending() != 0 {
				t.Fatalf("%d timers after Halt", clk.Pending())
			}
		})
	}
}

func TestBoardConfigValidate(t *testing.T) {
	if err := DefaultBoardConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tc := range []struct {
		name, key string
		edit      func(*BoardConfig)
	}{
		{"no relay", "relay=", func(c *BoardConfig) { c.Relay = "" }},
		{"negative max open", "max_open=", func(c *BoardConfig) { c.MaxOpen = -time.Second }},
		{"negative held open", "held_open=", func(c *BoardConfig) { c.HeldOpen = -time.Second }},
		{"negative debounce", "debounce=", func(c *BoardConfig) { c.Debounce = -time.Second }},
		{"unknown LED kind", "led_kind=", func(c *BoardConfig) { c.LEDKind = "neopixel" }},
		{"partial RGB", "led_red/led_green/led_blue=", func(c *BoardConfig) { c.LED, c.LEDRed, c.LEDGreen = "", "R", "G" }},
		{"too many LEDs", "led_count=", func(c *BoardConfig) { c.LEDCount = 5000 }},
		{"too bright", "led_brightness=", func(c *BoardConfig) { c.LEDBrightness = 300 }},
		{"quiet from alone", "buzzer_quiet_from/buzzer_quiet_to=", func(c *BoardConfig) { c.BuzzerQuietFrom = "22:00" }},
		{"bad quiet time", "buzzer_quiet_to=", func(c *BoardConfig) { c.BuzzerQuietFrom, c.BuzzerQuietTo = "22:00", "24:30" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultBoardConfig()
			tc.edit(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), ": "+tc.key) {
				t.Fatalf("Validate = %v, want ErrConfig naming %s", err, tc.key)
			}
			if _, err := OpenBoard(ModeSim, c, newFake(), nil); c.Relay != "" && !errors.Is(err, ErrConfig) {
				t.Fatalf("OpenBoard accepted it: %v", err)
			}
		})
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
