package hw

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorface/doorface/clock"
)

// LED kinds, selected by BoardConfig.LEDKind.
const (
	// LEDGPIO is a mono LED on one GPIO line or an RGB LED on three (BoardConfig.LED or
	// LEDRed, LEDGreen and LEDBlue).
	LEDGPIO = "gpio"
	// LEDWS2812 is a WS2812 (NeoPixel) ring on SPI MOSI, driven by periph's nrzled.
	LEDWS2812 = "ws2812"
	// LEDAPA102 is an APA102 (DotStar) ring on SPI MOSI and SCLK, driven by periph's apa102.
	LEDAPA102 = "apa102"
)

// pixel is one LED's 8-bit (R, G, B) value.
type pixel struct{ R, G, B uint8 }

// hex is the pixel as "#rrggbb".
func (p pixel) hex() string { return fmt.Sprintf("#%02x%02x%02x", p.R, p.G, p.B) }

// lit reports whether any channel is on.
func (p pixel) lit() bool { return p.R != 0 || p.G != 0 || p.B != 0 }

// scale returns p times a/255 times b/255, rounded.
func (p pixel) scale(a, b uint8) pixel {
	s := func(c uint8) uint8 { return uint8((uint32(c)*uint32(a)*uint32(b) + 65025/2) / 65025) }
	return pixel{s(p.R), s(p.G), s(p.B)}
}

// output writes frames to a light.
type output interface {
	// write shows px (one pixel per LED). A synchronous output returns the write's error; an
	// asynchronous one queues px, returns nil at once and reports the outcome later.
	write(px []pixel) error
	// async reports whether write only queues.
	async() bool
	// halt turns every LED off for good and returns that write's error.
	halt() error
}

// LEDPins names the LED's pins: Mono for a single LED, or R, G and B for an RGB LED.
type LEDPins struct {
	Mono    gpio.PinOut
	R, G, B gpio.PinOut
	// ActiveLow lights a channel by driving it Low (common-anode RGB LEDs).
	ActiveLow bool
}

// pinsOut is a one-LED light on GPIO pins: [mono] or [R, G, B].
type pinsOut struct {
	pins []gpio.PinOut
	lit  gpio.Level
}

func (o *pinsOut) async() bool { return false }

func (o *pinsOut) write(px []pixel) error {
	var errs []error
	p := px[0]
	for i, pin := range o.pins {
		on := p.lit()
		if len(o.pins) == 3 {
			on = [3]bool{p.R != 0, p.G != 0, p.B != 0}[i]
		}
		lvl := !o.lit
		if on {
			lvl = o.lit
		}
		if err := pin.Out(lvl); err != nil {
			errs = append(errs, fmt.Errorf("led pin %s: %w: %w", pinName(pin), ErrWrite, err))
		}
	}
	return errors.Join(errs...)
}

func (o *pinsOut) halt() error { return o.write([]pixel{{}}) }

// play is a pattern as this LED plays it.
type play struct {
	frames []Frame
	repeat bool
}

// LED plays the patterns of [Looks] on the status light, timed by the injected clock: a mono or
// RGB LED on GPIO pins ([NewLED]) or an addressable ring on SPI ([NewRing]). Show is driven from
// the machine's transition stream and never waits for the hardware: a ring's frames are written
// by its own goroutine, which keeps only the newest frame. A failed write is logged, reported
// by Fault, and the pattern goes on.
//
// One-shot patterns (such as PatternDenied) play to the end and then return to the last
// repeating pattern shown, or PatternIdle. A repeating pattern shown while a one-shot plays
// becomes that return pattern instead of cutting the one-shot short (one-shots last a few
// seconds at most); a one-shot shown while another plays replaces it at once.
type LED struct {
	out    output
	n      int  // LEDs: 1 for a one-LED light
	ring   bool // frames are rendered per LED (Look.Ring)
	bright uint8
	plays  map[Pattern]play
	clk    clock.Clock
	log    *slog.Logger

	// mu guards everything that follows.
	mu          sync.Mutex
	halted      bool
	name        Pattern // pattern playing; "" after Halt
	base        Pattern // repeating pattern to return to after a one-shot
	step        int
	color       Color  // color of the step playing (recorded after the write, for GPIO)
	gen         uint64 // bumped on every pattern switch; stale step timers do nothing
	timer       clock.Timer
	spin        int // spinner head, advanced per FillSpin frame
	done, total int // enrollment progress
	shown       []pixel
	fault       error
}

// NewLED checks the pins, turns the one-LED light off and starts PatternIdle.
func NewLED(p LEDPins, clk clock.Clock, log *slog.Logger) (*LED, error) {
	o := &pinsOut{lit: gpio.High}
	if p.ActiveLow {
		o.lit = gpio.Low
	}
	var llog *slog.Logger
	switch {
	case p.Mono != nil && p.R == nil && p.G == nil && p.B == nil:
		o.pins = []gpio.PinOut{p.Mono}
		llog = componentLogger(log).With("device", "led", "pin", pinName(p.Mono))
	case p.Mono == nil && p.R != nil && p.G != nil && p.B != nil:
		o.pins = []gpio.PinOut{p.R, p.G, p.B}
		llog = componentLogger(log).With("device", "led",
			"pins", pinName(p.R)+","+pinName(p.G)+","+pinName(p.B))
	default:
		return nil, fmt.Errorf("led: need Mono or all of R, G, B: %w", ErrConfig)
	}
	return newLED(o, 1, false, 255, clk, llog)
}

// newLED checks the pattern table, turns the light off and starts PatternIdle. log is the
// device's logger, already tagged.
func newLED(out output, n int, ring bool, bright uint8, clk clock.Clock, log *slog.Logger) (*LED, error) {
	if clk == nil {
		return nil, fmt.Errorf("led: nil clock: %w", ErrConfig)
	}
	l := &LED{out: out, n: n, ring: ring, bright: bright, clk: clk, log: log, plays: map[Pattern]play{}}
	for name, look := range Looks() {
		if err := checkLook(look); err != nil {
			return nil, fmt.Errorf("led pattern %q: %w", name, err)
		}
		p := play{frames: look.Ring, repeat: look.Repeat}
		if !ring {
			p.frames = nil
			for _, s := range look.Single {
				p.frames = append(p.frames, Frame{Color: s.Color, Level: 255, Fill: FillAll, D: s.D})
			}
		}
		l.plays[name] = p
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.color = ColorOff
	if err := l.writeLocked(ColorOff, make([]pixel, n)); err != nil {
		return nil, err
	}
	l.base = PatternIdle
	l.startLocked(PatternIdle)
	return l, nil
}

// Show switches to pattern p now (an unknown pattern shows PatternFault); see the LED doc for
// one-shots. Show after Halt does nothing.
func (l *LED) Show(p Pattern) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.showLocked(p)
}

// ShowProgress shows enrollment progress, done of total: a ring lights
// round(LEDs*done/total) LEDs, a one-LED light shows white. It is a repeating pattern like the
// states' (PatternProgress); calling it again while it plays updates the ring at once. done is
// clamped to [0, total]; total <= 0 lights nothing.
func (l *LED) ShowProgress(done, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.halted {
		return
	}
	l.done, l.total = min(max(done, 0), max(total, 0)), max(total, 0)
	if l.name == PatternProgress {
		l.playLocked() // a hold: redraw with the new count
		return
	}
	l.showLocked(PatternProgress)
}

// showLocked is Show. l.mu must be held.
func (l *LED) showLocked(name Pattern) {
	if l.halted {
		return
	}
	p, ok := l.plays[name]
	if !ok {
		l.log.Warn("led: unknown pattern, showing fault", "pattern", string(name))
		name, p = PatternFault, l.plays[PatternFault]
	}
	if p.repeat {
		l.base = name
		if cur, ok := l.plays[l.name]; ok && !cur.repeat {
			return // the one-shot playing returns to it
		}
		if name == l.name {
			return // already playing: do not restart the pattern
		}
	}
	l.startLocked(name)
}

// Current returns the pattern playing and the color of its step now ("" and ColorOff after
// Halt). On a one-LED light the color is recorded only after the pins were written; on a ring
// it is the step handed to the ring's writer (see Colors for what the ring shows).
func (l *LED) Current() (Pattern, Color) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.name, l.color
}

// Colors returns the colors the light shows, one "#rrggbb" per LED, as last written with
// success (brightness applied on a ring). A one-LED light reports the pattern's color while lit.
func (l *LED) Colors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.shown))
	for i, p := range l.shown {
		out[i] = p.hex()
	}
	return out
}

// Fault returns the last write error (wrapping ErrWrite), or nil if the last write succeeded.
func (l *LED) Fault() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fault
}

// Halt turns every LED off and stops the pattern for good. A ring's writer is given up to a
// second (on the LED's clock) to write the off frame.
func (l *LED) Halt() error {
	l.mu.Lock()
	if l.halted {
		l.mu.Unlock()
		return nil
	}
	l.halted = true
	l.gen++
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.name = ""
	l.mu.Unlock()

	err := l.out.halt() // outside mu: a ring's writer reports to the LED under mu

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.fault = err
		l.log.Error("led halt: off write failed", "err", err)
		return err
	}
	l.color, l.shown, l.fault = ColorOff, make([]pixel, l.n), nil
	l.log.Info("led halted")
	return nil
}

// startLocked plays pattern name from its first step. l.mu must be held.
func (l *LED) startLocked(name Pattern) {
	l.gen++
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.name = name
	l.step = 0
	l.spin = 0
	px := l.playLocked()
	attrs := []any{"pattern", string(name)}
	if l.ring {
		attrs = append(attrs, "colors", hexes(px))
	}
	l.log.Info("led pattern", attrs...)
}

// playLocked shows the current step, schedules the next and returns the frame. l.mu must be
// held.
func (l *LED) playLocked() []pixel {
	f := l.plays[l.name].frames[l.step]
	px := l.renderLocked(f)
	_ = l.writeLocked(f.Color, px)
	if f.D > 0 {
		gen := l.gen
		l.timer = l.clk.AfterFunc(f.D, func() { l.next(gen) })
	}
	return px
}

// next advances the pattern started in generation gen.
func (l *LED) next(gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen || l.halted {
		return
	}
	p := l.plays[l.name]
	l.step++
	if l.step < len(p.frames) {
		l.playLocked()
		return
	}
	if p.repeat {
		l.step = 0
		l.playLocked()
		return
	}
	l.startLocked(l.base)
}

// renderLocked turns a frame into one pixel per LED. l.mu must be held.
func (l *LED) renderLocked(f Frame) []pixel {
	px := make([]pixel, l.n)
	if !l.ring {
		px[0] = rgb24[f.Color]
		return px
	}
	v := rgb24[f.Color].scale(f.Level, l.bright)
	switch f.Fill {
	case FillAll:
		for i := range px {
			px[i] = v
		}
	case FillSpin:
		h := l.spin % l.n
		l.spin++
		px[(h-2+2*l.n)%l.n] = v.scale(16, 255) // tail first: on a tiny ring the head wins
		px[(h-1+l.n)%l.n] = v.scale(64, 255)
		px[h] = v
	case FillAlternate:
		for i := 0; i < l.n; i += 2 {
			px[i] = v
		}
	case FillProgress:
		k := 0
		if l.total > 0 {
			k = (l.n*l.done + l.total/2) / l.total
		}
		for i := range k {
			px[i] = v
		}
	}
	return px
}

// writeLocked writes a frame of step color c. On a one-LED light a failure is logged and
// returned (wrapping ErrWrite) and the recorded color is left unchanged; a ring queues the
// frame and its writer reports. l.mu must be held.
func (l *LED) writeLocked(c Color, px []pixel) error {
	if err := l.out.write(px); err != nil {
		l.fault = err
		l.log.Error("led write failed", "color", string(c), "err", err)
		return err
	}
	if c != l.color {
		l.log.Debug("led color", "pattern", string(l.name), "color", string(c))
	}
	l.color = c
	if !l.out.async() {
		l.shown, l.fault = px, nil
	}
	return nil
}

// report records the outcome of a ring write of px, from the ring's writer.
func (l *LED) report(px []pixel, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.halted {
		return
	}
	if err != nil {
		if l.fault == nil { // log the first of a run of failures, not every frame
			l.log.Error("led write failed", "err", err)
		}
		l.fault = err
		return
	}
	if l.fault != nil {
		l.log.Info("led write recovered")
	}
	l.shown, l.fault = px, nil
}

// hexes joins the pixels' "#rrggbb" with spaces, for logs.
func hexes(px []pixel) string {
	s := make([]string, len(px))
	for i, p := range px {
		s[i] = p.hex()
	}
	return strings.Join(s, " ")
}

// ringHaltWait bounds how long Halt waits for a ring's off frame.
const ringHaltWait = time.Second
