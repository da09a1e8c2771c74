package hw

import (
	"fmt"
	"time"

	"github.com/doorface/doorface/machine"
)

// Pattern names what the status light shows. The patterns are data (see [Looks]); the
// machine's states map to them through [StatePattern].
type Pattern string

// The patterns.
const (
	PatternIdle        Pattern = "idle"         // waiting: a dim green breath (a heartbeat on one LED)
	PatternReceiving   Pattern = "receiving"    // frames arrive: a blue spinner (slow blue blink)
	PatternRecognizing Pattern = "recognizing"  // matching: a faster blue spinner (fast blue blink)
	PatternPinFallback Pattern = "pin_fallback" // enter your PIN: amber pulse (amber double blink)
	PatternUnlocking   Pattern = "unlocking"    // the strike is energized: solid green
	PatternCooldown    Pattern = "cooldown"     // after a session: off
	PatternDenied      Pattern = "denied"       // one-shot: three red flashes
	PatternLockout     Pattern = "lockout"      // one-shot: three slow red pulses (locked out)
	PatternFault       Pattern = "fault"        // hardware or start-up fault: red SOS
	PatternProgress    Pattern = "progress"     // enrollment: the ring fills (LED.ShowProgress)
)

// statePatterns is the explicit map from every machine state to its pattern; a test checks it
// covers machine.States() and nothing else.
var statePatterns = map[machine.State]Pattern{
	machine.Idle:        PatternIdle,
	machine.Receiving:   PatternReceiving,
	machine.Recognizing: PatternRecognizing,
	machine.PinFallback: PatternPinFallback,
	machine.Unlocking:   PatternUnlocking,
	machine.Cooldown:    PatternCooldown,
}

// StatePattern returns the pattern of a machine state, and PatternFault for a state it does not
// know (a state added to the machine without a pattern fails this package's tests).
func StatePattern(s machine.State) Pattern {
	if p, ok := statePatterns[s]; ok {
		return p
	}
	return PatternFault
}

// Color is a status-light color. A mono LED lights for every color but ColorOff; an RGB LED
// lights the channels the color has; a ring shows the color scaled by the frame's level and
// the configured brightness.
type Color string

// The colors a pattern can use.
const (
	ColorOff   Color = "off"
	ColorGreen Color = "green"
	ColorRed   Color = "red"
	ColorAmber Color = "amber"
	ColorBlue  Color = "blue"
	ColorWhite Color = "white"
)

// rgb maps each color to the (R, G, B) channels an RGB LED lights for it.
var rgb = map[Color][3]bool{
	ColorOff:   {false, false, false},
	ColorGreen: {false, true, false},
	ColorRed:   {true, false, false},
	ColorAmber: {true, true, false},
	ColorBlue:  {false, false, true},
	ColorWhite: {true, true, true},
}

// rgb24 maps each color to its full-intensity 8-bit (R, G, B) value on a ring. Amber has less
// green than an equal mix: on WS2812 and APA102 dies that reads as amber, not yellow.
var rgb24 = map[Color]pixel{
	ColorOff:   {0, 0, 0},
	ColorGreen: {0, 255, 0},
	ColorRed:   {255, 0, 0},
	ColorAmber: {255, 96, 0},
	ColorBlue:  {0, 0, 255},
	ColorWhite: {255, 255, 255},
}

// Step is one color held for D on a one-LED light (mono or RGB). A step with D <= 0 holds its
// color until the next Show; it is only valid as the last step of a repeating pattern.
type Step struct {
	Color Color
	D     time.Duration
}

// Fill says which LEDs of a ring a frame lights.
type Fill uint8

// The fills.
const (
	// FillAll lights every LED.
	FillAll Fill = iota
	// FillSpin lights a head LED and a fading two-LED tail; the head moves one LED on at each
	// FillSpin frame played, starting at LED 0 when the pattern starts.
	FillSpin
	// FillAlternate lights the even LEDs (0, 2, 4, ...).
	FillAlternate
	// FillProgress lights the first round(count*done/total) LEDs (see LED.ShowProgress).
	FillProgress
)

// Frame is one ring frame held for D: Color at Level (1-255, a fraction of the configured
// brightness) on the LEDs Fill selects, the others off. D <= 0 holds, as for a Step.
type Frame struct {
	Color Color
	Level uint8
	Fill  Fill
	D     time.Duration
}

// Look is how a pattern plays on each kind of light: Single on a one-LED light, Ring on an
// addressable ring. With Repeat both loop; without, the pattern is a one-shot that plays once
// and returns to the last repeating pattern shown.
type Look struct {
	Repeat bool
	Single []Step
	Ring   []Frame
}

const (
	sosDot  = 200 * time.Millisecond
	sosDash = 3 * sosDot
)

// Looks returns the pattern table, a fresh copy on each call: changing it changes nothing else.
func Looks() map[Pattern]Look {
	ms := time.Millisecond
	// The SOS rhythm, shared by the one-LED and the ring fault looks: on/off pairs.
	sos := []time.Duration{
		sosDot, sosDot, sosDot, sosDot, sosDot, sosDash,
		sosDash, sosDot, sosDash, sosDot, sosDash, sosDash,
		sosDot, sosDot, sosDot, sosDot, sosDot, 7 * sosDot,
	}
	var faultSingle []Step
	var faultRing []Frame
	for i, d := range sos {
		c := ColorRed
		if i%2 == 1 {
			c = ColorOff
		}
		faultSingle = append(faultSingle, Step{c, d})
		faultRing = append(faultRing, Frame{c, 255, FillAlternate, d})
	}
	flashes := func(c Color, n int, on, off time.Duration, lo uint8) ([]Step, []Frame) {
		var s []Step
		var f []Frame
		for range n {
			s = append(s, Step{c, on}, Step{ColorOff, off})
			if lo == 0 {
				f = append(f, Frame{c, 255, FillAll, on}, Frame{ColorOff, 0, FillAll, off})
			} else {
				f = append(f, Frame{c, 255, FillAll, on}, Frame{c, lo, FillAll, off})
			}
		}
		return s, f
	}
	deniedSingle, deniedRing := flashes(ColorRed, 3, 150*ms, 150*ms, 0)
	lockoutSingle, lockoutRing := flashes(ColorRed, 3, 500*ms, 500*ms, 24)
	return map[Pattern]Look{
		PatternIdle: {Repeat: true,
			// Heartbeat: two short green beats a second and a half apart.
			Single: []Step{
				{ColorGreen, 100 * ms}, {ColorOff, 150 * ms},
				{ColorGreen, 100 * ms}, {ColorOff, 1650 * ms},
			},
			// Dim breath: up and down over 3.2 s, never fully off.
			Ring: breathe(ColorGreen, []uint8{8, 12, 18, 26, 36, 48, 60, 72, 80, 72, 60, 48, 36, 26, 18, 12}, 200*ms),
		},
		PatternReceiving: {Repeat: true,
			Single: []Step{{ColorBlue, 500 * ms}, {ColorOff, 500 * ms}},
			Ring:   []Frame{{ColorBlue, 255, FillSpin, 80 * ms}},
		},
		PatternRecognizing: {Repeat: true,
			Single: []Step{{ColorBlue, 100 * ms}, {ColorOff, 100 * ms}},
			Ring:   []Frame{{ColorBlue, 255, FillSpin, 30 * ms}},
		},
		PatternPinFallback: {Repeat: true,
			Single: []Step{
				{ColorAmber, 150 * ms}, {ColorOff, 150 * ms},
				{ColorAmber, 150 * ms}, {ColorOff, 1050 * ms},
			},
			Ring: []Frame{{ColorAmber, 255, FillAll, 700 * ms}, {ColorAmber, 96, FillAll, 700 * ms}},
		},
		PatternUnlocking: {Repeat: true,
			Single: []Step{{ColorGreen, 0}},
			Ring:   []Frame{{ColorGreen, 255, FillAll, 0}},
		},
		PatternCooldown: {Repeat: true,
			Single: []Step{{ColorOff, 0}},
			Ring:   []Frame{{ColorOff, 0, FillAll, 0}},
		},
		PatternDenied:  {Single: deniedSingle, Ring: deniedRing},
		PatternLockout: {Single: lockoutSingle, Ring: lockoutRing},
		PatternFault:   {Repeat: true, Single: faultSingle, Ring: faultRing},
		PatternProgress: {Repeat: true,
			Single: []Step{{ColorWhite, 0}},
			Ring:   []Frame{{ColorWhite, 255, FillProgress, 0}},
		},
	}
}

// breathe is a FillAll frame per level, each held d.
func breathe(c Color, levels []uint8, d time.Duration) []Frame {
	f := make([]Frame, len(levels))
	for i, l := range levels {
		f[i] = Frame{c, l, FillAll, d}
	}
	return f
}

// checkLook rejects a look that cannot be played on either kind of light.
func checkLook(l Look) error {
	if len(l.Single) == 0 || len(l.Ring) == 0 {
		return fmt.Errorf("need Single and Ring steps: %w", ErrConfig)
	}
	for i, s := range l.Single {
		if err := checkStep(s.Color, s.D, i, len(l.Single), l.Repeat); err != nil {
			return fmt.Errorf("single %w", err)
		}
	}
	for i, f := range l.Ring {
		if err := checkStep(f.Color, f.D, i, len(l.Ring), l.Repeat); err != nil {
			return fmt.Errorf("ring %w", err)
		}
		if f.Fill > FillProgress {
			return fmt.Errorf("ring step %d: unknown fill %d: %w", i, f.Fill, ErrConfig)
		}
		if f.Color != ColorOff && f.Level == 0 {
			return fmt.Errorf("ring step %d: %s at level 0 (use ColorOff): %w", i, f.Color, ErrConfig)
		}
	}
	return nil
}

func checkStep(c Color, d time.Duration, i, n int, repeat bool) error {
	if _, ok := rgb[c]; !ok {
		return fmt.Errorf("step %d: unknown color %q: %w", i, c, ErrConfig)
	}
	if d <= 0 && (i != n-1 || !repeat) {
		return fmt.Errorf("step %d: hold (D <= 0) only as the last step of a repeating pattern: %w", i, ErrConfig)
	}
	return nil
}
