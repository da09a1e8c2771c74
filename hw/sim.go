package hw

import (
	"fmt"
	"log/slog"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorface/doorface/clock"
)

// Sim is the simulated board's hardware side: it reads the relay and LED pins the drivers write,
// and plays the door contact and the exit button. The drivers log every relay and LED change.
type Sim struct {
	clk        clock.Clock
	cfg        BoardConfig
	relay      *memPin
	led        []*memPin // [mono] or [R, G, B]
	door, exit *memPin
	log        *slog.Logger
}

// memPins hands out named memory pins and records them for the Sim.
type memPins struct {
	pins map[string]*memPin
}

func (m memPins) pin(name string) *memPin {
	p, ok := m.pins[name]
	if !ok {
		p = &memPin{N: name}
		m.pins[name] = p
	}
	return p
}

func (m memPins) out(name string) (gpio.PinOut, error) { return m.pin(name), nil }
func (m memPins) in(name string) (gpio.PinIn, error)   { return m.pin(name), nil }

// openSim builds the simulated board: the real drivers over memory pins, door closed and exit
// button released at start.
func openSim(cfg BoardConfig, clk clock.Clock, log *slog.Logger) (*Board, error) {
	if cfg.Relay == "" {
		cfg.Relay = "GPIO17"
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	ms := memPins{pins: map[string]*memPin{}}
	s := &Sim{clk: clk, cfg: cfg, log: componentLogger(log).With("device", "sim")}
	s.door, s.exit = ms.pin("DOOR"), ms.pin("EXIT")
	s.door.L = gpio.Level(!cfg.DoorOpenHigh)  // closed
	s.exit.L = gpio.Level(cfg.ExitPressedLow) // released
	b, err := build(ModeSim, cfg, ms, true, clk, log)
	if err != nil {
		return nil, fmt.Errorf("simulated board: %w", err)
	}
	s.relay = ms.pins[cfg.Relay]
	if cfg.LED != "" {
		s.led = []*memPin{ms.pins[cfg.LED]}
	} else if cfg.LEDRed != "" {
		s.led = []*memPin{ms.pins[cfg.LEDRed], ms.pins[cfg.LEDGreen], ms.pins[cfg.LEDBlue]}
	}
	b.Sim = s
	b.log.Info("board opened", "mode", ModeSim)
	return b, nil
}

// PressExit presses the exit button and releases it once the press has been debounced
// (Debounce plus two poll periods later, on the board's clock).
func (s *Sim) PressExit() {
	s.log.Info("sim: exit button pressed")
	s.exit.Set(gpio.Level(!s.cfg.ExitPressedLow))
	s.clk.AfterFunc(s.cfg.Debounce+2*DefaultPoll, func() {
		s.exit.Set(gpio.Level(s.cfg.ExitPressedLow))
	})
}

// SetDoor opens or closes the simulated door.
func (s *Sim) SetDoor(open bool) {
	s.log.Info("sim: door", "open", open)
	s.door.Set(gpio.Level(open == s.cfg.DoorOpenHigh))
}

// RelayLevel returns the level the relay driver last wrote.
func (s *Sim) RelayLevel() gpio.Level { return s.relay.Read() }

// LEDLevels returns the LED pins' levels: one for a mono LED, R, G, B for an RGB LED, none if
// no LED pin is configured.
func (s *Sim) LEDLevels() []gpio.Level {
	var ls []gpio.Level
	for _, p := range s.led {
		ls = append(ls, p.Read())
	}
	return ls
}
