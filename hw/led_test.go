package hw

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// ledSample is what the LED must show at a time since the start of a test.
type ledSample struct {
	at      time.Duration
	pattern Pattern
	color   Color
}

func TestLEDSequences(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		show    map[time.Duration]Pattern // Show calls, by time
		samples []ledSample
	}{
		{"Idle heartbeat loops", nil, []ledSample{
			{0, PatternIdle, ColorGreen}, {99 * ms, PatternIdle, ColorGreen}, {100 * ms, PatternIdle, ColorOff},
			{250 * ms, PatternIdle, ColorGreen}, {350 * ms, PatternIdle, ColorOff}, {1999 * ms, PatternIdle, ColorOff},
			{2000 * ms, PatternIdle, ColorGreen}, {2100 * ms, PatternIdle, ColorOff},
		}},
		{"Receiving slow blink", map[time.Duration]Pattern{0: PatternReceiving}, []ledSample{
			{0, PatternReceiving, ColorBlue}, {500 * ms, PatternReceiving, ColorOff}, {1000 * ms, PatternReceiving, ColorBlue},
		}},
		{"Recognizing fast blink", map[time.Duration]Pattern{0: PatternRecognizing}, []ledSample{
			{0, PatternRecognizing, ColorBlue}, {100 * ms, PatternRecognizing, ColorOff}, {200 * ms, PatternRecognizing, ColorBlue},
		}},
		{"Unlocking solid green", map[time.Duration]Pattern{0: PatternUnlocking}, []ledSample{
			{0, PatternUnlocking, ColorGreen}, {time.Minute, PatternUnlocking, ColorGreen},
		}},
		{"PinFallback amber double blink", map[time.Duration]Pattern{0: PatternPinFallback}, []ledSample{
			{0, PatternPinFallback, ColorAmber}, {150 * ms, PatternPinFallback, ColorOff}, {300 * ms, PatternPinFallback, ColorAmber},
			{450 * ms, PatternPinFallback, ColorOff}, {1500 * ms, PatternPinFallback, ColorAmber},
		}},
		{"Cooldown off", map[time.Duration]Pattern{0: PatternCooldown}, []ledSample{
			{0, PatternCooldown, ColorOff}, {time.Minute, PatternCooldown, ColorOff},
		}},
		{"denied flashes three times then returns", map[time.Duration]Pattern{0: PatternReceiving, 100 * ms: PatternDenied}, []ledSample{
			{100 * ms, PatternDenied, ColorRed}, {250 * ms, PatternDenied, ColorOff}, {400 * ms, PatternDenied, ColorRed},
			{550 * ms, PatternDenied, ColorOff}, {700 * ms, PatternDenied, ColorRed}, {850 * ms, PatternDenied, ColorOff},
			{1000 * ms, PatternReceiving, ColorBlue}, {1500 * ms, PatternReceiving, ColorOff},
		}},
		{"a state shown during denied waits for it", map[time.Duration]Pattern{0: PatternDenied, 200 * ms: PatternCooldown}, []ledSample{
			{200 * ms, PatternDenied, ColorOff}, {300 * ms, PatternDenied, ColorRed}, {900 * ms, PatternCooldown, ColorOff},
		}},
		{"denied with no earlier state returns to Idle", map[time.Duration]Pattern{0: PatternDenied}, []ledSample{
			{0, PatternDenied, ColorRed}, {900 * ms, PatternIdle, ColorGreen},
		}},
		{"unknown name shows fault SOS", map[time.Duration]Pattern{0: Pattern("Bogus")}, []ledSample{
			{0, PatternFault, ColorRed}, {200 * ms, PatternFault, ColorOff}, {1000 * ms, PatternFault, ColorOff},
			{1600 * ms, PatternFault, ColorRed}, {2200 * ms, PatternFault, ColorOff}, {2400 * ms, PatternFault, ColorRed},
		}},
		{"showing the playing pattern does not restart it", map[time.Duration]Pattern{0: PatternReceiving, 400 * ms: PatternReceiving}, []ledSample{
			{500 * ms, PatternReceiving, ColorOff},
		}},
	} {
		for _, mode := range []string{"mono", "rgb", "rgb-active-low"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				clk := newFake()
				log, _ := newLogger()
				pins := LEDPins{}
				var r, g, b, m gpiotest.Pin
				if mode == "mono" {
					pins.Mono = &m
				} else {
					pins.R, pins.G, pins.B = &r, &g, &b
					pins.ActiveLow = mode == "rgb-active-low"
				}
				led, err := NewLED(pins, clk, log)
				if err != nil {
					t.Fatal(err)
				}
				check := func(s ledSample) {
					t.Helper()
					name, c := led.Current()
					if name != s.pattern || c != s.color {
						t.Errorf("at %v: Current() = %q, %q; want %q, %q", s.at, name, c, s.pattern, s.color)
					}
					lit := gpio.High
					if pins.ActiveLow {
						lit = gpio.Low
					}
					if mode == "mono" {
						if got, want := m.Read() == lit, s.color != ColorOff; got != want {
							t.Errorf("at %v: mono lit %v, want %v", s.at, got, want)
						}
						return
					}
					want := rgb[s.color]
					got := [3]bool{r.Read() == lit, g.Read() == lit, b.Read() == lit}
					if got != want {
						t.Errorf("at %v: RGB lit %v, want %v (%s)", s.at, got, want, s.color)
					}
				}
				// Walk the Show calls and samples in time order; at equal times, Show first.
				var times []time.Duration
				for at := range tc.show {
					times = append(times, at)
				}
				for _, sm := range tc.samples {
					times = append(times, sm.at)
				}
				slices.Sort(times)
				samples := tc.samples
				for _, at := range slices.Compact(times) {
					clk.Set(t0.Add(at))
					if name, ok := tc.show[at]; ok {
						led.Show(name)
					}
					for len(samples) > 0 && samples[0].at == at {
						check(samples[0])
						samples = samples[1:]
					}
				}
				if err := led.Halt(); err != nil {
					t.Fatal(err)
				}
				if name, c := led.Current(); name != "" || c != ColorOff {
					t.Fatalf("after Halt: %q %q", name, c)
				}
				led.Show(PatternUnlocking)
				if _, c := led.Current(); c != ColorOff || clk.Pending() != 0 {
					t.Fatalf("Show after Halt lit %q / left %d timers", c, clk.Pending())
				}
			})
		}
	}
}

func TestLEDWriteFailureIsLoggedAndSurvived(t *testing.T) {
	clk := newFake()
	log, logs := newLogger()
	p := &failPin{Pin: gpiotest.Pin{N: "LED"}}
	led, err := NewLED(LEDPins{Mono: p}, clk, log)
	if err != nil {
		t.Fatal(err)
	}
	p.setFail(true, false)
	clk.Advance(100 * time.Millisecond) // heartbeat wants off
	if _, c := led.Current(); c != ColorGreen {
		t.Fatalf("color %q recorded although the write failed", c)
	}
	if !strings.Contains(logs.String(), "led write failed") {
		t.Fatalf("failure not logged:\n%s", logs)
	}
	p.setFail(false, false)
	clk.Advance(150 * time.Millisecond)
	if _, c := led.Current(); c != ColorGreen || p.Read() != gpio.High {
		t.Fatalf("pattern did not go on after the pin healed: %q", c)
	}
	p.setFail(true, false)
	if err := led.Halt(); !errors.Is(err, ErrWrite) {
		t.Fatalf("Halt on a failing pin = %v, want ErrWrite", err)
	}
}

func TestLEDConfigErrors(t *testing.T) {
	clk := newFake()
	for _, tc := range []struct {
		name string
		pins LEDPins
	}{
		{"no pins", LEDPins{}},
		{"mono and rgb", LEDPins{Mono: &gpiotest.Pin{}, R: &gpiotest.Pin{}, G: &gpiotest.Pin{}, B: &gpiotest.Pin{}}},
		{"partial rgb", LEDPins{R: &gpiotest.Pin{}, G: &gpiotest.Pin{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewLED(tc.pins, clk, nil); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
	ok := []Frame{{ColorRed, 255, FillAll, time.Second}}
	for name, l := range map[string]Look{
		"empty":                 {},
		"no ring frames":        {Single: []Step{{ColorRed, time.Second}}},
		"no single steps":       {Ring: ok},
		"unknown color":         {Single: []Step{{"purple", time.Second}}, Ring: ok},
		"hold in one-shot":      {Single: []Step{{ColorRed, 0}}, Ring: ok},
		"hold not last":         {Repeat: true, Single: []Step{{ColorRed, 0}, {ColorOff, time.Second}}, Ring: ok},
		"ring unknown color":    {Single: []Step{{ColorRed, time.Second}}, Ring: []Frame{{"purple", 255, FillAll, time.Second}}},
		"ring hold in one-shot": {Single: []Step{{ColorRed, time.Second}}, Ring: []Frame{{ColorRed, 255, FillAll, 0}}},
		"ring unknown fill":     {Single: []Step{{ColorRed, time.Second}}, Ring: []Frame{{ColorRed, 255, 9, time.Second}}},
		"ring lit at level 0":   {Single: []Step{{ColorRed, time.Second}}, Ring: []Frame{{ColorRed, 0, FillAll, time.Second}}},
	} {
		t.Run("look "+name, func(t *testing.T) {
			if err := checkLook(l); !errors.Is(err, ErrConfig) {
				t.Fatalf("checkLook = %v, want ErrConfig", err)
			}
		})
	}
	for name, l := range Looks() {
		if err := checkLook(l); err != nil {
			t.Errorf("built-in pattern %q: %v", name, err)
		}
	}
}
