package hw

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/gpioioctl"

	"github.com/doorface/doorface/clock"
)

// Board modes accepted by OpenBoard.
const (
	ModeSim  = "sim"
	ModeGPIO = "gpio"
	ModeAuto = "auto"
)

// BoardConfig names the board's pins (Linux GPIO line names such as "GPIO17"), their wiring,
// the status light and the buzzer. The yaml tags are the keys of the daemon's "pins" section.
type BoardConfig struct {
	// Relay is the door-strike relay's line; required.
	Relay string `yaml:"relay"`
	// RelayActiveLow energizes the relay by driving Low.
	RelayActiveLow bool `yaml:"relay_active_low"`
	// MaxOpen is the relay watchdog limit; zero means DefaultMaxOpen.
	MaxOpen time.Duration `yaml:"max_open"`

	// LEDKind selects the status light: LEDGPIO ("gpio"; "" means the same), LEDWS2812 or
	// LEDAPA102. The GPIO pins below are used only by "gpio".
	LEDKind string `yaml:"led_kind"`
	// LED is a mono status LED's line, or "" to use LEDRed, LEDGreen and LEDBlue (all three) for
	// an RGB LED. With none, the LED is tracked in memory only.
	LED      string `yaml:"led"`
	LEDRed   string `yaml:"led_red"`
	LEDGreen string `yaml:"led_green"`
	LEDBlue  string `yaml:"led_blue"`
	// LEDActiveLow lights the LED by driving Low (common-anode RGB LEDs).
	LEDActiveLow bool `yaml:"led_active_low"`
	// LEDSPI is a ring's SPI port as periph names it ("SPI0.0" or "/dev/spidev0.0"); "" means
	// the first SPI port found.
	LEDSPI string `yaml:"led_spi"`
	// LEDCount is the number of LEDs of a ring; zero means DefaultLEDCount.
	LEDCount int `yaml:"led_count"`
	// LEDBrightness (1-255) scales a ring's colors; zero means DefaultLEDBrightness.
	LEDBrightness int `yaml:"led_brightness"`

	// Buzzer is an active buzzer's line (through a transistor), "" for none (the default).
	Buzzer string `yaml:"buzzer"`
	// BuzzerActiveLow sounds the buzzer by driving Low.
	BuzzerActiveLow bool `yaml:"buzzer_active_low"`
	// BuzzerQuietFrom and BuzzerQuietTo ("HH:MM", local time) silence all but alarms between
	// them; both "" means never quiet.
	BuzzerQuietFrom string `yaml:"buzzer_quiet_from"`
	BuzzerQuietTo   string `yaml:"buzzer_quiet_to"`

	// Door is the door contact's line, "" for none.
	Door string `yaml:"door"`
	// DoorOpenHigh: the contact reads High when the door is open.
	DoorOpenHigh bool `yaml:"door_open_high"`
	// HeldOpen is the held-open alarm time; zero means DefaultHeldOpen.
	HeldOpen time.Duration `yaml:"held_open"`

	// Exit is the exit button's line, "" for none.
	Exit string `yaml:"exit"`
	// ExitPressedLow: the button reads Low while pressed.
	ExitPressedLow bool `yaml:"exit_pressed_low"`

	// Debounce applies to the door contact and the exit button; zero means DefaultDebounce.
	Debounce time.Duration `yaml:"debounce"`
}

// DefaultBoardConfig is the documented wiring: relay on GPIO17 (active-high, 10s watchdog), mono
// LED on GPIO27 (a ring, when selected, has 12 LEDs at brightness 96 on the first SPI port), no
// buzzer, no door contact or exit button (when added: reed switch and button to ground, so door
// open reads High and a press reads Low), 30s held-open, 50ms debounce.
func DefaultBoardConfig() BoardConfig {
	return BoardConfig{
		Relay:          "GPIO17",
		MaxOpen:        DefaultMaxOpen,
		LEDKind:        LEDGPIO,
		LED:            "GPIO27",
		LEDCount:       DefaultLEDCount,
		LEDBrightness:  DefaultLEDBrightness,
		DoorOpenHigh:   true,
		HeldOpen:       DefaultHeldOpen,
		ExitPressedLow: true,
		Debounce:       DefaultDebounce,
	}
}

// Validate checks every value a person can get wrong; the error names the key and wraps
// ErrConfig.
func (c BoardConfig) Validate() error {
	bad := func(key string, v any, want string) error {
		return fmt.Errorf("%w: %s=%v: %s", ErrConfig, key, v, want)
	}
	switch {
	case c.Relay == "":
		return bad("relay", `""`, "a GPIO line name such as GPIO17")
	case c.MaxOpen < 0:
		return bad("max_open", c.MaxOpen, "a positive duration (0 for the default)")
	case c.HeldOpen < 0:
		return bad("held_open", c.HeldOpen, "a positive duration (0 for the default)")
	case c.Debounce < 0:
		return bad("debounce", c.Debounce, "a positive duration (0 for the default)")
	case c.LEDCount < 0 || c.LEDCount > 1024:
		return bad("led_count", c.LEDCount, "1-1024 (0 for the default)")
	case c.LEDBrightness < 0 || c.LEDBrightness > 255:
		return bad("led_brightness", c.LEDBrightness, "1-255 (0 for the default)")
	}
	switch c.LEDKind {
	case "", LEDGPIO:
		if c.LED == "" && (c.LEDRed != "" || c.LEDGreen != "" || c.LEDBlue != "") &&
			(c.LEDRed == "" || c.LEDGreen == "" || c.LEDBlue == "") {
			return bad("led_red/led_green/led_blue", c.LEDRed+","+c.LEDGreen+","+c.LEDBlue, "all three lines for an RGB LED")
		}
	case LEDWS2812, LEDAPA102:
	default:
		return bad("led_kind", c.LEDKind, "gpio, ws2812 or apa102")
	}
	if (c.BuzzerQuietFrom == "") != (c.BuzzerQuietTo == "") {
		return bad("buzzer_quiet_from/buzzer_quiet_to", c.BuzzerQuietFrom+"-"+c.BuzzerQuietTo, "both set or both empty")
	}
	for _, q := range []struct{ key, v string }{{"buzzer_quiet_from", c.BuzzerQuietFrom}, {"buzzer_quiet_to", c.BuzzerQuietTo}} {
		if q.v == "" {
			continue
		}
		if _, err := parseHHMM(q.v); err != nil {
			return bad(q.key, q.v, "HH:MM (24-hour, local time)")
		}
	}
	return nil
}

// Board is the door's hardware: the same drivers over GPIO lines or, for Mode "sim", over
// in-memory pins.
type Board struct {
	// Relay drives the door strike. It was locked before anything else was set up.
	Relay *Relay
	// LED is the status light (one LED or a ring); never nil (with no LED pin it is tracked in
	// memory only).
	LED *LED
	// Buzzer is the buzzer, nil if none is configured (its Play ignores a nil receiver).
	Buzzer *Buzzer
	// Door is the door contact, nil if none is configured (always present in sim).
	Door *DoorContact
	// Exit is the exit button, nil if none is configured (always present in sim).
	Exit *ExitButton
	// Events carries the door and exit events and the relay's EventRelayRelocked; it is closed
	// by Halt.
	Events <-chan Event
	// Sim drives the simulated board; nil on real GPIO.
	Sim *Sim
	// Mode is "sim" or "gpio".
	Mode string

	events   chan Event
	lines    []*gpioioctl.GPIOLine // requested GPIO lines, released only on a failed open
	ports    []io.Closer           // opened SPI ports, closed by Halt
	log      *slog.Logger
	haltOnce sync.Once
	haltErr  error
}

// OpenBoard opens the board in mode "sim", "gpio" or "auto".
//
// "gpio" runs host.Init and takes every configured pin from the Linux GPIO character device
// (periph's gpioioctl driver, never memory-mapped registers), so that a crashed process
// releases its lines, and a ring's SPI port from spidev. "auto" is "gpio" when /dev/gpiochip*
// exists, and the simulated board only when no GPIO chip exists at all: on a machine with GPIO,
// a configured pin that is missing is an error, never a silent fallback. "sim" builds the same
// drivers over in-memory pins (and an in-memory SPI port), with a door contact and an exit
// button always present.
func OpenBoard(mode string, cfg BoardConfig, clk clock.Clock, log *slog.Logger) (*Board, error) {
	return boardOpener{chips: gpioChips, gpio: openGPIO}.open(mode, cfg, clk, log)
}

// gpioChips lists the GPIO character devices.
func gpioChips() []string {
	chips, _ := filepath.Glob("/dev/gpiochip*")
	return chips
}

// boardOpener is OpenBoard with its look at the machine injected (tests replace it).
type boardOpener struct {
	chips func() []string
	gpio  func(BoardConfig, clock.Clock, *slog.Logger) (*Board, error)
}

func (o boardOpener) open(mode string, cfg BoardConfig, clk clock.Clock, log *slog.Logger) (*Board, error) {
	hlog := componentLogger(log)
	switch mode {
	case ModeSim:
		return openSim(cfg, clk, log)
	case ModeGPIO:
		return o.gpio(cfg, clk, log)
	case ModeAuto:
		chips := o.chips()
		if len(chips) == 0 {
			hlog.Warn("no GPIO character device (/dev/gpiochip*): using the simulated board")
			return openSim(cfg, clk, log)
		}
		b, err := o.gpio(cfg, clk, log)
		if err != nil {
			return nil, fmt.Errorf("hw auto: GPIO chips %v exist, so the real board is required (--hw sim to simulate): %w", chips, err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("board mode %q (want sim, gpio or auto): %w", mode, ErrConfig)
	}
}

// pinSet gives the pins and SPI ports of one board: real or in memory.
type pinSet interface {
	out(name string) (gpio.PinOut, error)
	in(name string) (gpio.PinIn, error)
	spi(name string) (spi.Port, error)
}

// build creates the drivers in the safe order: the relay first (locking it), then the LED, the
// buzzer and the inputs. On error it halts what it built.
func build(mode string, cfg BoardConfig, ps pinSet, needInputs bool, clk clock.Clock, log *slog.Logger) (*Board, error) {
	b := &Board{Mode: mode, events: make(chan Event, 64), log: componentLogger(log)}
	b.Events = b.events
	fail := func(err error) (*Board, error) {
		_ = b.Halt()
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("board: %w", err)
	}
	rp, err := ps.out(cfg.Relay)
	if err != nil {
		return nil, err
	}
	rc := RelayConfig{ActiveLow: cfg.RelayActiveLow, MaxOpen: cfg.MaxOpen, Events: b.events}
	if b.Relay, err = NewRelay(rp, rc, clk, log); err != nil {
		return nil, err
	}

	if b.LED, err = buildLED(b, cfg, ps, clk, log); err != nil {
		return fail(err)
	}
	if cfg.Buzzer != "" {
		p, err := ps.out(cfg.Buzzer)
		if err != nil {
			return fail(err)
		}
		bc := BuzzerConfig{ActiveLow: cfg.BuzzerActiveLow, QuietFrom: cfg.BuzzerQuietFrom, QuietTo: cfg.BuzzerQuietTo}
		if b.Buzzer, err = NewBuzzer(p, bc, clk, log); err != nil {
			return fail(err)
		}
	}

	door, exit := cfg.Door, cfg.Exit
	if needInputs {
		door, exit = "DOOR", "EXIT"
	}
	if door != "" {
		p, err := ps.in(door)
		if err != nil {
			return fail(err)
		}
		dc := DoorConfig{OpenHigh: cfg.DoorOpenHigh, Debounce: cfg.Debounce, HeldOpen: cfg.HeldOpen}
		if b.Door, err = NewDoorContact(p, dc, clk, b.Relay.Unlocked, b.events, log); err != nil {
			return fail(err)
		}
	}
	if exit != "" {
		p, err := ps.in(exit)
		if err != nil {
			return fail(err)
		}
		bc := ButtonConfig{PressedLow: cfg.ExitPressedLow, Debounce: cfg.Debounce}
		if b.Exit, err = NewExitButton(p, bc, clk, b.events, log); err != nil {
			return fail(err)
		}
	}
	return b, nil
}

// buildLED creates the status light cfg.LEDKind selects.
func buildLED(b *Board, cfg BoardConfig, ps pinSet, clk clock.Clock, log *slog.Logger) (*LED, error) {
	if cfg.LEDKind == LEDWS2812 || cfg.LEDKind == LEDAPA102 {
		port, err := ps.spi(cfg.LEDSPI)
		if err != nil {
			return nil, err
		}
		if c, ok := port.(io.Closer); ok {
			b.ports = append(b.ports, c)
		}
		return NewRing(port, RingConfig{Kind: cfg.LEDKind, Count: cfg.LEDCount, Brightness: cfg.LEDBrightness}, clk, log)
	}
	var lp LEDPins
	lp.ActiveLow = cfg.LEDActiveLow
	var err error
	switch {
	case cfg.LED != "":
		if lp.Mono, err = ps.out(cfg.LED); err != nil {
			return nil, err
		}
	case cfg.LEDRed != "":
		for _, x := range []struct {
			name string
			p    *gpio.PinOut
		}{{cfg.LEDRed, &lp.R}, {cfg.LEDGreen, &lp.G}, {cfg.LEDBlue, &lp.B}} {
			if *x.p, err = ps.out(x.name); err != nil {
				return nil, err
			}
		}
	default:
		b.log.Warn("no LED pin configured: the LED is tracked in memory only")
		lp.Mono = &gpiotest.Pin{N: "LED(none)", Num: -1}
	}
	return NewLED(lp, clk, log)
}

// Halt returns the board to its inert state: relay locked first, then inputs stopped, buzzer
// silent and every LED off; it then closes the SPI ports and Events. It is safe to call more
// than once and returns the first call's error.
func (b *Board) Halt() error {
	b.haltOnce.Do(func() {
		var errs []error
		if b.Relay != nil {
			errs = append(errs, b.Relay.Halt())
		}
		if b.Door != nil {
			errs = append(errs, b.Door.Halt())
		}
		if b.Exit != nil {
			errs = append(errs, b.Exit.Halt())
		}
		if b.Buzzer != nil {
			errs = append(errs, b.Buzzer.Halt())
		}
		if b.LED != nil {
			errs = append(errs, b.LED.Halt())
		}
		for _, p := range b.ports {
			errs = append(errs, p.Close())
		}
		close(b.events)
		if b.haltErr = errors.Join(errs...); b.haltErr != nil {
			b.haltErr = fmt.Errorf("board halt: %w", b.haltErr)
		}
		b.log.Info("board halted", "mode", b.Mode, "err", b.haltErr)
	})
	return b.haltErr
}

// gpioPins takes pins from the GPIO character devices and SPI ports from spidev.
type gpioPins struct {
	b *Board
}

// line finds a line by name on the GPIO character devices, or through gpioreg when the name
// there resolves to a character-device line (an alias).
func (g gpioPins) line(name string) (*gpioioctl.GPIOLine, error) {
	for _, c := range gpioioctl.Chips {
		if l := c.ByName(name); l != nil {
			return l, nil
		}
	}
	p := gpioreg.ByName(name)
	for p != nil {
		if l, ok := p.(*gpioioctl.GPIOLine); ok {
			return l, nil
		}
		r, ok := p.(gpio.RealPin)
		if !ok {
			break
		}
		p = r.Real()
	}
	return nil, fmt.Errorf("line %q: %w", name, ErrNoPin)
}

func (g gpioPins) out(name string) (gpio.PinOut, error) {
	l, err := g.line(name)
	if err != nil {
		return nil, err
	}
	g.b.lines = append(g.b.lines, l)
	return l, nil
}

func (g gpioPins) in(name string) (gpio.PinIn, error) {
	l, err := g.line(name)
	if err != nil {
		return nil, err
	}
	g.b.lines = append(g.b.lines, l)
	return l, nil
}

func (g gpioPins) spi(name string) (spi.Port, error) {
	p, err := spireg.Open(name)
	if err != nil {
		return nil, fmt.Errorf("SPI port %q (enable SPI: dtparam=spi=on): %w: %w", name, ErrNoSPI, err)
	}
	return p, nil
}

// openGPIO opens the real board on the GPIO character devices.
func openGPIO(cfg BoardConfig, clk clock.Clock, log *slog.Logger) (*Board, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("periph host init: %w: %w", ErrNoGPIO, err)
	}
	if len(gpioioctl.Chips) == 0 {
		return nil, fmt.Errorf("gpioioctl found no chip: %w", ErrNoGPIO)
	}
	holder := &Board{}
	b, err := build(ModeGPIO, cfg, gpioPins{b: holder}, false, clk, log)
	if err != nil {
		for _, l := range holder.lines {
			l.Close() // release the lines we requested; the kernel stops driving them
		}
		return nil, err
	}
	b.lines = holder.lines
	b.log.Info("board opened", "mode", ModeGPIO, "relay", cfg.Relay, "led_kind", cfg.LEDKind,
		"buzzer", cfg.Buzzer, "door", cfg.Door, "exit", cfg.Exit)
	return b, nil
}
