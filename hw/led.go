package hw

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorface/doorface/clock"
)

// Color is a status-LED color. A mono LED lights for every color but ColorOff.
type Color string

// The colors an LED pattern can use.
const (
	ColorOff   Color = "off"
	ColorGreen Color = "green"
	ColorRed   Color = "red"
	ColorAmber Color = "amber"
	ColorBlue  Color = "blue"
	ColorWhite Color = "white"
)

// rgb maps each color to the (R, G, B) channels it lights.
var rgb = map[Color][3]bool{
	ColorOff:   {false, false, false},
	ColorGreen: {false, true, false},
	ColorRed:   {true, false, false},
	ColorAmber: {true, true, false},
	ColorBlue:  {false, false, true},
	ColorWhite: {true, true, true},
}

// Step is one color held for D. A step with D <= 0 holds its color until the next Show; it is
// only valid as the last step of a repeating pattern.
type Step struct {
	Color Color
	D     time.Duration
}

// Pattern is a sequence of steps, played once (a one-shot, such as "denied") or looped.
type Pattern struct {
	Steps  []Step
	Repeat bool
}

// Pattern names used by doorface: the machine's states plus the "denied" one-shot and "fault".
const (
	PatternIdle        = "Idle"
	PatternReceiving   = "Receiving"
	PatternRecognizing = "Recognizing"
	PatternUnlocking   = "Unlocking"
	PatternPinFallback = "PinFallback"
	PatternCooldown    = "Cooldown"
	PatternDenied      = "denied"
	PatternFault       = "fault"
)

const (
	sosDot  = 200 * time.Millisecond
	sosDash = 3 * sosDot
)

// Patterns is the pattern table, keyed by the machine's state names plus "denied" and "fault".
// NewLED copies it, so changing it afterwards affects only LEDs created later.
var Patterns = map[string]Pattern{
	// Heartbeat: two short green beats a second and a half apart.
	PatternIdle: {Repeat: true, Steps: []Step{
		{ColorGreen, 100 * time.Millisecond}, {ColorOff, 150 * time.Millisecond},
		{ColorGreen, 100 * time.Millisecond}, {ColorOff, 1650 * time.Millisecond},
	}},
	// Slow blue blink.
	PatternReceiving: {Repeat: true, Steps: []Step{
		{ColorBlue, 500 * time.Millisecond}, {ColorOff, 500 * time.Millisecond},
	}},
	// Fast blue blink.
	PatternRecognizing: {Repeat: true, Steps: []Step{
		{ColorBlue, 100 * time.Millisecond}, {ColorOff, 100 * time.Millisecond},
	}},
	// Solid green while the strike is energized.
	PatternUnlocking: {Repeat: true, Steps: []Step{{ColorGreen, 0}}},
	// Amber double blink: enter your PIN.
	PatternPinFallback: {Repeat: true, Steps: []Step{
		{ColorAmber, 150 * time.Millisecond}, {ColorOff, 150 * time.Millisecond},
		{ColorAmber, 150 * time.Millisecond}, {ColorOff, 1050 * time.Millisecond},
	}},
	// Off.
	PatternCooldown: {Repeat: true, Steps: []Step{{ColorOff, 0}}},
	// Three quick red flashes, once.
	PatternDenied: {Repeat: false, Steps: []Step{
		{ColorRed, 150 * time.Millisecond}, {ColorOff, 150 * time.Millisecond},
		{ColorRed, 150 * time.Millisecond}, {ColorOff, 150 * time.Millisecond},
		{ColorRed, 150 * time.Millisecond}, {ColorOff, 150 * time.Millisecond},
	}},
	// Red SOS (... --- ...) and a word gap, looped.
	PatternFault: {Repeat: true, Steps: []Step{
		{ColorRed, sosDot}, {ColorOff, sosDot}, {ColorRed, sosDot}, {ColorOff, sosDot},
		{ColorRed, sosDot}, {ColorOff, sosDash},
		{ColorRed, sosDash}, {ColorOff, sosDot}, {ColorRed, sosDash}, {ColorOff, sosDot},
		{ColorRed, sosDash}, {ColorOff, sosDash},
		{ColorRed, sosDot}, {ColorOff, sosDot}, {ColorRed, sosDot}, {ColorOff, sosDot},
		{ColorRed, sosDot}, {ColorOff, 7 * sosDot},
	}},
}

// LEDPins names the LED's pins: Mono for a single LED, or R, G and B for an RGB LED.
type LEDPins struct {
	Mono    gpio.PinOut
	R, G, B gpio.PinOut
	// ActiveLow lights a channel by driving it Low (common-anode RGB LEDs).
	ActiveLow bool
}

// LED plays Patterns on a mono or RGB status LED, timed by the injected clock. Show is driven from
// the machine's transition stream. A pin write failure is logged and the pattern goes on.
//
// One-shot patterns (Repeat false, such as "denied") play to the end and then return to the
// last repeating pattern shown, or Idle. A repeating pattern shown while a one-shot plays becomes
// that return pattern instead of cutting the one-shot short (one-shots are about a second); a
// one-shot shown while another plays replaces it at once.
type LED struct {
	pins     []gpio.PinOut // [mono] or [R, G, B]
	lit      gpio.Level    // level that lights a channel
	patterns map[string]Pattern
	clk      clock.Clock
	log      *slog.Logger

	// mu guards everything that follows.
	mu     sync.Mutex
	halted bool
	name   string // pattern playing; "" after Halt
	base   string // repeating pattern to return to after a one-shot
	step   int
	color  Color
	gen    uint64 // bumped on every pattern switch; stale step timers do nothing
	timer  clock.Timer
}

// NewLED checks the pins and the Patterns table (copied), turns the LED off and starts Idle.
func NewLED(p LEDPins, clk clock.Clock, log *slog.Logger) (*LED, error) {
	if clk == nil {
		return nil, fmt.Errorf("led: nil clock: %w", ErrConfig)
	}
	l := &LED{clk: clk, lit: gpio.High, patterns: make(map[string]Pattern, len(Patterns))}
	if p.ActiveLow {
		l.lit = gpio.Low
	}
	switch {
	case p.Mono != nil && p.R == nil && p.G == nil && p.B == nil:
		l.pins = []gpio.PinOut{p.Mono}
		l.log = componentLogger(log).With("device", "led", "pin", pinName(p.Mono))
	case p.Mono == nil && p.R != nil && p.G != nil && p.B != nil:
		l.pins = []gpio.PinOut{p.R, p.G, p.B}
		l.log = componentLogger(log).With("device", "led",
			"pins", pinName(p.R)+","+pinName(p.G)+","+pinName(p.B))
	default:
		return nil, fmt.Errorf("led: need Mono or all of R, G, B: %w", ErrConfig)
	}
	for name, pat := range Patterns {
		if err := checkPattern(pat); err != nil {
			return nil, fmt.Errorf("led pattern %q: %w", name, err)
		}
		l.patterns[name] = Pattern{Steps: append([]Step(nil), pat.Steps...), Repeat: pat.Repeat}
	}
	for _, name := range []string{PatternIdle, PatternFault} {
		if _, ok := l.patterns[name]; !ok {
			return nil, fmt.Errorf("led: pattern %q missing: %w", name, ErrConfig)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.color = ColorOff
	if err := l.writeLocked(ColorOff); err != nil {
		return nil, err
	}
	l.base = PatternIdle
	l.startLocked(PatternIdle)
	return l, nil
}

// checkPattern rejects patterns that cannot be played.
func checkPattern(p Pattern) error {
	if len(p.Steps) == 0 {
		return fmt.Errorf("no steps: %w", ErrConfig)
	}
	for i, s := range p.Steps {
		if _, ok := rgb[s.Color]; !ok {
			return fmt.Errorf("step %d: unknown color %q: %w", i, s.Color, ErrConfig)
		}
		if s.D <= 0 && (i != len(p.Steps)-1 || !p.Repeat) {
			return fmt.Errorf("step %d: hold (D <= 0) only as the last step of a repeating pattern: %w", i, ErrConfig)
		}
	}
	return nil
}

// Show switches to the named pattern now (an unknown name shows "fault"); see the LED doc for
// one-shots. Show after Halt does nothing.
func (l *LED) Show(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.halted {
		return
	}
	p, ok := l.patterns[name]
	if !ok {
		l.log.Warn("led: unknown pattern, showing fault", "pattern", name)
		name, p = PatternFault, l.patterns[PatternFault]
	}
	if p.Repeat {
		l.base = name
		if cur, ok := l.patterns[l.name]; ok && !cur.Repeat {
			return // the one-shot playing returns to it
		}
		if name == l.name {
			return // already playing: do not restart the pattern
		}
	}
	l.startLocked(name)
}

// Current returns the pattern playing and the color shown now ("" and ColorOff after Halt).
func (l *LED) Current() (pattern string, c Color) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.name, l.color
}

// Halt turns the LED off and stops its pattern for good.
func (l *LED) Halt() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.halted = true
	l.gen++
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.name = ""
	l.log.Info("led halted")
	return l.writeLocked(ColorOff)
}

// startLocked plays pattern name from its first step. l.mu must be held.
func (l *LED) startLocked(name string) {
	l.gen++
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.log.Info("led pattern", "pattern", name)
	l.name = name
	l.step = 0
	l.playLocked()
}

// playLocked shows the current step and schedules the next. l.mu must be held.
func (l *LED) playLocked() {
	s := l.patterns[l.name].Steps[l.step]
	_ = l.writeLocked(s.Color)
	if s.D <= 0 {
		return
	}
	gen := l.gen
	l.timer = l.clk.AfterFunc(s.D, func() { l.next(gen) })
}

// next advances the pattern started in generation gen.
func (l *LED) next(gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen || l.halted {
		return
	}
	p := l.patterns[l.name]
	l.step++
	if l.step < len(p.Steps) {
		l.playLocked()
		return
	}
	if p.Repeat {
		l.step = 0
		l.playLocked()
		return
	}
	l.startLocked(l.base)
}

// writeLocked drives the pins for color c and records it; a failed write is logged and returned
// (wrapping ErrWrite) and the recorded color is left unchanged. l.mu must be held.
func (l *LED) writeLocked(c Color) error {
	var errs []error
	ch := rgb[c]
	for i, p := range l.pins {
		on := c != ColorOff
		if len(l.pins) == 3 {
			on = ch[i]
		}
		lvl := !l.lit
		if on {
			lvl = l.lit
		}
		if err := p.Out(lvl); err != nil {
			errs = append(errs, fmt.Errorf("led pin %s: %w: %w", pinName(p), ErrWrite, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		l.log.Error("led write failed", "color", string(c), "err", err)
		return err
	}
	if c != l.color {
		l.log.Debug("led color", "pattern", l.name, "color", string(c))
	}
	l.color = c
	return nil
}
