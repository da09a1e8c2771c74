package hw

import (
	"fmt"
	"log/slog"
	"sync"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/devices/v3/apa102"
	"periph.io/x/devices/v3/nrzled"

	"github.com/doorface/doorface/clock"
)

// Ring defaults, used when a RingConfig field is zero.
const (
	DefaultLEDCount      = 12
	DefaultLEDBrightness = 96
)

// RingConfig configures an addressable LED ring.
type RingConfig struct {
	// Kind is LEDWS2812 or LEDAPA102.
	Kind string
	// Count is the number of LEDs; zero means DefaultLEDCount.
	Count int
	// Brightness (1-255) scales every color; zero means DefaultLEDBrightness.
	Brightness int
}

// strip is what periph's LED drivers (nrzled.Dev, apa102.Dev) offer doorface: a frame of RGB
// bytes, and Halt to turn every LED off.
type strip interface {
	Write(pixels []byte) (int, error)
	Halt() error
}

// NewRing drives an addressable ring on SPI port (periph's nrzled for WS2812 at 2.5 MHz, one
// MOSI byte per two data bits; apa102 at 20 MHz with full global brightness, doorface scaling
// the colors itself), turns it off and starts PatternIdle. Frames are written by the ring's own
// goroutine, keeping only the newest, so Show never waits for SPI; a failed write is logged and
// reported by Fault. Halt stops that goroutine.
func NewRing(port spi.Port, cfg RingConfig, clk clock.Clock, log *slog.Logger) (*LED, error) {
	if port == nil {
		return nil, fmt.Errorf("led ring: nil SPI port: %w", ErrConfig)
	}
	if clk == nil {
		return nil, fmt.Errorf("led ring: nil clock: %w", ErrConfig)
	}
	if cfg.Count == 0 {
		cfg.Count = DefaultLEDCount
	}
	if cfg.Brightness == 0 {
		cfg.Brightness = DefaultLEDBrightness
	}
	if cfg.Count < 1 || cfg.Count > 1024 {
		return nil, fmt.Errorf("led ring: count %d (want 1-1024): %w", cfg.Count, ErrConfig)
	}
	if cfg.Brightness < 1 || cfg.Brightness > 255 {
		return nil, fmt.Errorf("led ring: brightness %d (want 1-255): %w", cfg.Brightness, ErrConfig)
	}
	var dev strip
	var err error
	switch cfg.Kind {
	case LEDWS2812:
		dev, err = nrzled.NewSPI(port, &nrzled.Opts{NumPixels: cfg.Count, Channels: 3, Freq: 2500 * physic.KiloHertz})
	case LEDAPA102:
		dev, err = apa102.New(port, &apa102.Opts{NumPixels: cfg.Count, Intensity: 255,
			Temperature: apa102.NeutralTemp, DisableGlobalPWM: true})
	default:
		return nil, fmt.Errorf("led ring: kind %q (want %s or %s): %w", cfg.Kind, LEDWS2812, LEDAPA102, ErrConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("led ring %s on %s: %w", cfg.Kind, port, err)
	}
	ro := &ringOut{dev: dev, clk: clk, kick: make(chan struct{}, 1), exited: make(chan struct{})}
	llog := componentLogger(log).With("device", "led", "kind", cfg.Kind, "spi", fmt.Sprint(port),
		"leds", cfg.Count, "brightness", cfg.Brightness)
	l, err := newLED(ro, cfg.Count, true, uint8(cfg.Brightness), clk, llog)
	if err != nil {
		return nil, err
	}
	ro.report = l.report
	go ro.run()
	return l, nil
}

// ringOut writes a ring's frames from its own goroutine, newest frame only.
type ringOut struct {
	dev    strip
	clk    clock.Clock
	report func(px []pixel, err error) // set before run starts
	kick   chan struct{}               // capacity 1: a frame or the halt is pending
	exited chan struct{}               // closed when run returns
	offErr error                       // the off write's error; read after exited closed

	// mu guards everything that follows.
	mu      sync.Mutex
	next    []pixel // newest frame not yet written; nil for none
	halting bool
}

func (r *ringOut) async() bool { return true }

// write queues px, replacing a frame not yet written.
func (r *ringOut) write(px []pixel) error {
	r.mu.Lock()
	r.next = px
	r.mu.Unlock()
	r.poke()
	return nil
}

func (r *ringOut) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// run writes queued frames until halt; then it turns the ring off and returns.
func (r *ringOut) run() {
	defer close(r.exited)
	var buf []byte
	for range r.kick {
		r.mu.Lock()
		px, halting := r.next, r.halting
		r.next = nil
		r.mu.Unlock()
		if halting {
			if err := r.dev.Halt(); err != nil {
				r.offErr = fmt.Errorf("led ring off: %w: %w", ErrWrite, err)
			}
			return
		}
		if px == nil {
			continue
		}
		buf = buf[:0]
		for _, p := range px {
			buf = append(buf, p.R, p.G, p.B)
		}
		if _, err := r.dev.Write(buf); err != nil {
			r.report(px, fmt.Errorf("led ring: %w: %w", ErrWrite, err))
			continue
		}
		r.report(px, nil)
	}
}

// halt asks the writer to turn the ring off and waits for it, up to ringHaltWait on the clock.
func (r *ringOut) halt() error {
	r.mu.Lock()
	r.halting = true
	r.mu.Unlock()
	r.poke()
	timeout := make(chan struct{})
	t := r.clk.AfterFunc(ringHaltWait, func() { close(timeout) })
	select {
	case <-r.exited:
		t.Stop()
		return r.offErr
	case <-timeout:
		return fmt.Errorf("led ring off: writer still busy after %v: %w", ringHaltWait, ErrWrite)
	}
}
