package hw

import (
	"slices"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/doorface/doorface/machine"
)

func TestStatePatternsCoverMachineStates(t *testing.T) {
	looks := Looks()
	for _, s := range machine.States() {
		p, ok := statePatterns[s]
		if !ok {
			t.Errorf("state %s has no pattern", s)
			continue
		}
		if _, ok := looks[p]; !ok {
			t.Errorf("state %s maps to %q, which has no look", s, p)
		}
		if StatePattern(s) != p {
			t.Errorf("StatePattern(%s) = %q, want %q", s, StatePattern(s), p)
		}
	}
	if len(statePatterns) != len(machine.States()) {
		t.Errorf("statePatterns has %d entries for %d states", len(statePatterns), len(machine.States()))
	}
	if p := StatePattern("Renamed"); p != PatternFault {
		t.Errorf("an unknown state shows %q, want fault", p)
	}
	// Distinct states look distinct: no two states share a pattern.
	seen := map[Pattern]machine.State{}
	for s, p := range statePatterns {
		if o, ok := seen[p]; ok {
			t.Errorf("states %s and %s share pattern %q", s, o, p)
		}
		seen[p] = s
	}
	// Looks returns a copy: changing it changes nothing else.
	looks[PatternIdle] = Look{}
	if l := Looks()[PatternIdle]; len(l.Single) == 0 {
		t.Fatal("Looks shares its table")
	}
}

// wantRingFrame is the first frame of f on n LEDs at brightness b, written out from the Fill
// docs.
func wantRingFrame(f Frame, n int, b uint8) []string {
	v := rgb24[f.Color].scale(f.Level, b)
	px := make([]pixel, n)
	for i := range px {
		switch f.Fill {
		case FillAll:
			px[i] = v
		case FillSpin:
			switch i {
			case 0:
				px[i] = v
			case n - 1:
				px[i] = v.scale(64, 255)
			case n - 2:
				px[i] = v.scale(16, 255)
			}
		case FillAlternate:
			if i%2 == 0 {
				px[i] = v
			}
		}
	}
	return hexList(px)
}

func TestEveryStateOnEveryLEDKind(t *testing.T) {
	const n, bright = 6, 200
	looks := Looks()
	for _, kind := range []string{"mono", "rgb", LEDWS2812, LEDAPA102} {
		for _, s := range machine.States() {
			t.Run(kind+"/"+string(s), func(t *testing.T) {
				clk := newFake()
				log, _ := newLogger()
				var l *LED
				var err error
				var m, r, g, b gpiotest.Pin
				switch kind {
				case "mono":
					l, err = NewLED(LEDPins{Mono: &m}, clk, log)
				case "rgb":
					l, err = NewLED(LEDPins{R: &r, G: &g, B: &b}, clk, log)
				default:
					l, err = NewRing(&spitest.Record{}, RingConfig{Kind: kind, Count: n, Brightness: bright}, clk, log)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer l.Halt()
				p := StatePattern(s)
				l.Show(p)
				look := looks[p]
				if name, c := l.Current(); name != p || (kind == "mono" || kind == "rgb") && c != look.Single[0].Color {
					t.Fatalf("Current() = %q %q, want %q %q", name, c, p, look.Single[0].Color)
				}
				switch kind {
				case "mono":
					if got, want := m.Read() == gpio.High, look.Single[0].Color != ColorOff; got != want {
						t.Fatalf("mono lit %v, want %v", got, want)
					}
				case "rgb":
					want := rgb[look.Single[0].Color]
					if got := [3]bool{bool(r.Read()), bool(g.Read()), bool(b.Read())}; got != want {
						t.Fatalf("RGB %v, want %v", got, want)
					}
				default:
					want := wantRingFrame(look.Ring[0], n, bright)
					eventually(t, "the first frame", func() bool { return slices.Equal(l.Colors(), want) })
				}
			})
		}
	}
}

func TestShowProgress(t *testing.T) {
	clk := newFake()
	log, _ := newLogger()
	var m gpiotest.Pin
	mono, err := NewLED(LEDPins{Mono: &m}, clk, log)
	if err != nil {
		t.Fatal(err)
	}
	defer mono.Halt()
	mono.ShowProgress(1, 5)
	if name, c := mono.Current(); name != PatternProgress || c != ColorWhite || m.Read() != gpio.High {
		t.Fatalf("mono progress: %q %q level %v", name, c, m.Read())
	}

	ring, err := NewRing(&spitest.Record{}, RingConfig{Kind: LEDWS2812, Count: 5, Brightness: 255}, clk, log)
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Halt()
	w, o := "#ffffff", "#000000"
	for _, tc := range []struct {
		done, total int
		want        []string
	}{
		{0, 5, []string{o, o, o, o, o}},
		{1, 5, []string{w, o, o, o, o}},
		{2, 3, []string{w, w, w, o, o}}, // round(5*2/3) = 3
		{9, 5, []string{w, w, w, w, w}}, // clamped
		{-1, 5, []string{o, o, o, o, o}},
		{1, 0, []string{o, o, o, o, o}},
	} {
		ring.ShowProgress(tc.done, tc.total)
		eventually(t, "progress frame", func() bool { return slices.Equal(ring.Colors(), tc.want) })
	}
	// A denial during enrollment plays, then the progress comes back.
	ring.ShowProgress(2, 5)
	ring.Show(PatternDenied)
	clk.Advance(900 * time.Millisecond)
	if name, _ := ring.Current(); name != PatternProgress {
		t.Fatalf("after denied: %q, want progress", name)
	}
	eventually(t, "progress back", func() bool { return slices.Equal(ring.Colors(), []string{w, w, o, o, o}) })
}
