package hw

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
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

// BoardConfig names the board's pins (Linux GPIO line names such as "GPIO17") and their wiring.
type BoardConfig struct {
	// Relay is the door-strike relay's line; required.
	Relay string `yaml:"relay"`
	// RelayActiveLow energizes the relay by driving Low.
	RelayActiveLow bool `yaml:"relay_active_low"`
	// MaxOpen is the relay watchdog limit; zero means DefaultMaxOpen.
	MaxOpen time.Duration `yaml:"max_open"`

	// LED is a mono status LED's line, or "" to use LEDRed, LEDGreen and LEDBlue (all three) for
	// an RGB LED. With none, the LED is tracked in memory only.
	LED      string `yaml:"led"`
	LEDRed   string `yaml:"led_red"`
	LEDGreen string `yaml:"led_green"`
	LEDBlue  string `yaml:"led_blue"`
	// LEDActiveLow lights the LED by driving Low (common-anode RGB LEDs).
	LEDActiveLow bool `yaml:"led_active_low"`

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

// Validate reports the first bad setting by its key ("key=value: what is allowed"), wrapping
// ErrConfig. The yaml tags are the keys under the configuration file's "pins" section.
func (c BoardConfig) Validate() error {
	bad := func(key string, v any, allowed string) error {
		return fmt.Errorf("%w: %s=%v: %s", ErrConfig, key, v, allowed)
	}
	switch {
	case c.Relay == "":
		return bad("relay", `""`, "a GPIO line name such as GPIO17")
	case c.MaxOpen < 0:
		return bad("max_open", c.MaxOpen, "a positive duration (0 means the default)")
	case c.HeldOpen < 0:
		return bad("held_open", c.HeldOpen, "a positive duration (0 means the default)")
	case c.Debounce < 0:
		return bad("debounce", c.Debounce, "a positive duration (0 means the default)")
	}
	return nil
}

// DefaultBoardConfig is the documented wiring: relay on GPIO17 (active-high, 10s watchdog), mono
// LED on GPIO27, no door contact or exit button (when added: reed switch and button to ground,
// so door open reads High and a press reads Low), 30s held-open, 50ms debounce.
func DefaultBoardConfig() BoardConfig {
	return BoardConfig{
		Relay:          "GPIO17",
		MaxOpen:        DefaultMaxOpen,
		LED:            "GPIO27",
		DoorOpenHigh:   true,
		HeldOpen:       DefaultHeldOpen,
		ExitPressedLow: true,
		Debounce:       DefaultDebounce,
	}
}

// Board is the door's hardware: the same drivers over GPIO lines or, for Mode "sim", over
// in-memory pins.
type Board struct {
	// Relay drives the door strike. It was locked before anything else was set up.
	Relay *Relay
	// LED is the status LED; never nil (with no LED pin it is tracked in memory only).
	LED *LED
	// Door is the door contact, nil if none is configured (always present in sim).
	Door *DoorContact
	// Exit is the exit button, nil if none is configured (always present in sim).
	Exit *ExitButton
	// Events carries the door and exit events; it is closed by Halt.
	Events <-chan Event
	// Sim drives the simulated board; nil on real GPIO.
	Sim *Sim
	// Mode is "sim" or "gpio".
	Mode string

	events   chan Event
	lines    []*gpioioctl.GPIOLine // requested GPIO lines, released only on a failed open
	log      *slog.Logger
	haltOnce sync.Once
	haltErr  error
}

// OpenBoard opens the board in mode "sim", "gpio" or "auto".
//
// "gpio" runs host.Init and takes every configured pin from the Linux GPIO character device
// (periph's gpioioctl driver, never memory-mapped registers), so that a crashed process
// releases its lines. "auto" uses "gpio" when /dev/gpiochip* exists and every configured pin
// is found, and the simulated board otherwise; it logs which and why. "sim" builds the same
// drivers over in-memory pins, with a door contact and an exit button always present.
func OpenBoard(mode string, cfg BoardConfig, clk clock.Clock, log *slog.Logger) (*Board, error) {
	hlog := componentLogger(log)
	switch mode {
	case ModeSim:
		return openSim(cfg, clk, log)
	case ModeGPIO:
		return openGPIO(cfg, clk, log)
	case ModeAuto:
		chips, _ := filepath.Glob("/dev/gpiochip*")
		if len(chips) == 0 {
			hlog.Warn("no GPIO character device (/dev/gpiochip*): using the simulated board")
			return openSim(cfg, clk, log)
		}
		b, err := openGPIO(cfg, clk, log)
		if err != nil {
			hlog.Warn("GPIO board unusable: using the simulated board", "err", err)
			return openSim(cfg, clk, log)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("board mode %q (want sim, gpio or auto): %w", mode, ErrConfig)
	}
}

// pinSet gives the pins of one board: GPIO lines or memory pins.
type pinSet interface {
	out(name string) (gpio.PinOut, error)
	in(name string) (gpio.PinIn, error)
}

// build creates the drivers in the safe order: the relay first (locking it), then the LED and
// the inputs. On error it halts what it built.
func build(mode string, cfg BoardConfig, ps pinSet, needInputs bool, clk clock.Clock, log *slog.Logger) (*Board, error) {
	b := &Board{Mode: mode, events: make(chan Event, 64), log: componentLogger(log)}
	b.Events = b.events
	fail := func(err error) (*Board, error) {
		_ = b.Halt()
		return nil, err
	}
	if cfg.Relay == "" {
		return nil, fmt.Errorf("board: no relay pin: %w", ErrConfig)
	}
	rp, err := ps.out(cfg.Relay)
	if err != nil {
		return nil, err
	}
	if b.Relay, err = NewRelay(rp, RelayConfig{ActiveLow: cfg.RelayActiveLow, MaxOpen: cfg.MaxOpen}, clk, log); err != nil {
		return nil, err
	}

	var lp LEDPins
	lp.ActiveLow = cfg.LEDActiveLow
	switch {
	case cfg.LED != "":
		if lp.Mono, err = ps.out(cfg.LED); err != nil {
			return fail(err)
		}
	case cfg.LEDRed != "" || cfg.LEDGreen != "" || cfg.LEDBlue != "":
		for _, x := range []struct {
			name string
			p    *gpio.PinOut
		}{{cfg.LEDRed, &lp.R}, {cfg.LEDGreen, &lp.G}, {cfg.LEDBlue, &lp.B}} {
			if x.name == "" {
				return fail(fmt.Errorf("board: RGB LED needs LEDRed, LEDGreen and LEDBlue: %w", ErrConfig))
			}
			if *x.p, err = ps.out(x.name); err != nil {
				return fail(err)
			}
		}
	default:
		b.log.Warn("no LED pin configured: the LED is tracked in memory only")
		lp.Mono = &gpiotest.Pin{N: "LED(none)", Num: -1}
	}
	if b.LED, err = NewLED(lp, clk, log); err != nil {
		return fail(err)
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

// Halt returns the board to its inert state: relay locked first, then inputs stopped and LED
// off; it then closes Events. It is safe to call more than once and returns the first call's
// error.
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
		if b.LED != nil {
			errs = append(errs, b.LED.Halt())
		}
		close(b.events)
		if b.haltErr = errors.Join(errs...); b.haltErr != nil {
			b.haltErr = fmt.Errorf("board halt: %w", b.haltErr)
		}
		b.log.Info("board halted", "mode", b.Mode, "err", b.haltErr)
	})
	return b.haltErr
}

// gpioPins takes pins from the GPIO character devices.
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
	b.log.Info("board opened", "mode", ModeGPIO, "relay", cfg.Relay, "door", cfg.Door, "exit", cfg.Exit)
	return b, nil
}
