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
	pattern string
	color   Color
}

func TestLEDSequences(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		show    map[time.Duration]string // Show calls, by time
		samples []ledSample
	}{
		{"Idle heartbeat loops", nil, []ledSample{
			{0, "Idle", ColorGreen}, {99 * ms, "Idle", ColorGreen}, {100 * ms, "Idle", ColorOff},
			{250 * ms, "Idle", ColorGreen}, {350 * ms, "Idle", ColorOff}, {1999 * ms, "Idle", ColorOff},
			{2000 * ms, "Idle", ColorGreen}, {2100 * ms, "Idle", ColorOff},
		}},
		{"Receiving slow blink", map[time.Duration]string{0: "Receiving"}, []ledSample{
			{0, "Receiving", ColorBlue}, {500 * ms, "Receiving", ColorOff}, {1000 * ms, "Receiving", ColorBlue},
		}},
		{"Recognizing fast blink", map[time.Duration]string{0: "Recognizing"}, []ledSample{
			{0, "Recognizing", ColorBlue}, {100 * ms, "Recognizing", ColorOff}, {200 * ms, "Recognizing", ColorBlue},
		}},
		{"Unlocking solid green", map[time.Duration]string{0: "Unlocking"}, []ledSample{
			{0, "Unlocking", ColorGreen}, {time.Minute, "Unlocking", ColorGreen},
		}},
		{"PinFallback amber double blink", map[time.Duration]string{0: "PinFallback"}, []ledSample{
			{0, "PinFallback", ColorAmber}, {150 * ms, "PinFallback", ColorOff}, {300 * ms, "PinFallback", ColorAmber},
			{450 * ms, "PinFallback", ColorOff}, {1500 * ms, "PinFallback", ColorAmber},
		}},
		{"Cooldown off", map[time.Duration]string{0: "Cooldown"}, []ledSample{
			{0, "Cooldown", ColorOff}, {time.Minute, "Cooldown", ColorOff},
		}},
		{"denied flashes three times then returns", map[time.Duration]string{0: "Receiving", 100 * ms: "denied"}, []ledSample{
			{100 * ms, "denied", ColorRed}, {250 * ms, "denied", ColorOff}, {400 * ms, "denied", ColorRed},
			{550 * ms, "denied", ColorOff}, {700 * ms, "denied", ColorRed}, {850 * ms, "denied", ColorOff},
			{1000 * ms, "Receiving", ColorBlue}, {1500 * ms, "Receiving", ColorOff},
		}},
		{"a state shown during denied waits for it", map[time.Duration]string{0: "denied", 200 * ms: "Cooldown"}, []ledSample{
			{200 * ms, "denied", ColorOff}, {300 * ms, "denied", ColorRed}, {900 * ms, "Cooldown", ColorOff},
		}},
		{"denied with no earlier state returns to Idle", map[time.Duration]string{0: "denied"}, []ledSample{
			{0, "denied", ColorRed}, {900 * ms, "Idle", ColorGreen},
		}},
		{"unknown name shows fault SOS", map[time.Duration]string{0: "Bogus"}, []ledSample{
			{0, "fault", ColorRed}, {200 * ms, "fault", ColorOff}, {1000 * ms, "fault", ColorOff},
			{1600 * ms, "fault", ColorRed}, {2200 * ms, "fault", ColorOff}, {2400 * ms, "fault", ColorRed},
		}},
		{"showing the playing pattern does not restart it", map[time.Duration]string{0: "Receiving", 400 * ms: "Receiving"}, []ledSample{
			{500 * ms, "Receiving", ColorOff},
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
				led.Show("Unlocking")
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
	for name, p := range map[string]Pattern{
		"empty":            {},
		"unknown color":    {Steps: []Step{{"purple", time.Second}}},
		"hold in one-shot": {Steps: []Step{{ColorRed, 0}}},
		"hold not last":    {Repeat: true, Steps: []Step{{ColorRed, 0}, {ColorOff, time.Second}}},
	} {
		t.Run("pattern "+name, func(t *testing.T) {
			if err := checkPattern(p); !errors.Is(err, ErrConfig) {
				t.Fatalf("checkPattern = %v, want ErrConfig", err)
			}
		})
	}
	for name, p := range Patterns {
		if err := checkPattern(p); err != nil {
			t.Errorf("built-in pattern %q: %v", name, err)
		}
	}
}
