package hw

import (
	"fmt"
	"io"
	"log/slog"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/doorface/doorface/clock"
)

// Sim is the simulated board's hardware side: it reads the relay, LED and buzzer pins the
// drivers write, and plays the door contact and the exit button. The drivers log every relay and
// LED pattern change. A ring (LEDKind ws2812 or apa102) runs periph's real driver over an
// in-memory SPI port (spitest.RecordRaw into io.Discard); Board.LED.Colors reads what it shows.
type Sim struct {
	clk        clock.Clock
	cfg        BoardConfig
	relay      *gpiotest.Pin
	led        []*gpiotest.Pin // [mono] or [R, G, B]; none for a ring
	buzzer     *gpiotest.Pin   // nil without a buzzer
	door, exit *wiredPin
	log        *slog.Logger
}

// wiredPin is a periph gpiotest.Pin held by what is wired to it, like a door contact or a
// button: In records the pull but keeps the level. gpiotest.Pin.In sets the level to the pull
// (a floating line), which would make the simulated door read open between the driver's In and
// the Sim setting it closed, and on the real clock the driver samples the pin right away. This is
// the only behavior the Sim adds to gpiotest.Pin.
type wiredPin struct {
	gpiotest.Pin
}

// In implements gpio.PinIn: gpiotest.Pin.In (pull, edges), then the wired level again.
func (p *wiredPin) In(pull gpio.Pull, edge gpio.Edge) error {
	l := p.Read()
	if err := p.Pin.In(pull, edge); err != nil {
		return err
	}
	p.set(l)
	return nil
}

// set sets the level the wiring holds the line at.
func (p *wiredPin) set(l gpio.Level) {
	p.Lock()
	defer p.Unlock()
	p.L = l
}

// simPins hands out named in-memory pins (periph gpiotest pins) and records them for the Sim.
type simPins struct {
	outs map[string]*gpiotest.Pin
	ins  map[string]*wiredPin
}

func (m simPins) out(name string) (gpio.PinOut, error) {
	p, ok := m.outs[name]
	if !ok {
		p = &gpiotest.Pin{N: name, Num: -1}
		m.outs[name] = p
	}
	return p, nil
}

func (m simPins) spi(string) (spi.Port, error) { return spitest.NewRecordRaw(io.Discard), nil }

func (m simPins) in(name string) (gpio.PinIn, error) {
	p, ok := m.ins[name]
	if !ok {
		p = &wiredPin{Pin: gpiotest.Pin{N: name, Num: -1}}
		m.ins[name] = p
	}
	return p, nil
}

// openSim builds the simulated board: the real drivers over periph gpiotest pins, door closed and
// exit button released at start.
func openSim(cfg BoardConfig, clk clock.Clock, log *slog.Logger) (*Board, error) {
	if cfg.Relay == "" {
		cfg.Relay = "GPIO17"
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	ms := simPins{outs: map[string]*gpiotest.Pin{}, ins: map[string]*wiredPin{}}
	s := &Sim{clk: clk, cfg: cfg, log: componentLogger(log).With("device", "sim")}
	s.door = &wiredPin{Pin: gpiotest.Pin{N: "DOOR", Num: -1, L: gpio.Level(!cfg.DoorOpenHigh)}}  // closed
	s.exit = &wiredPin{Pin: gpiotest.Pin{N: "EXIT", Num: -1, L: gpio.Level(cfg.ExitPressedLow)}} // released
	ms.ins["DOOR"], ms.ins["EXIT"] = s.door, s.exit
	b, err := build(ModeSim, cfg, ms, true, clk, log)
	if err != nil {
		return nil, fmt.Errorf("simulated board: %w", err)
	}
	s.relay = ms.outs[cfg.Relay]
	switch {
	case cfg.LEDKind == LEDWS2812 || cfg.LEDKind == LEDAPA102:
	case cfg.LED != "":
		s.led = []*gpiotest.Pin{ms.outs[cfg.LED]}
	case cfg.LEDRed != "":
		s.led = []*gpiotest.Pin{ms.outs[cfg.LEDRed], ms.outs[cfg.LEDGreen], ms.outs[cfg.LEDBlue]}
	}
	if cfg.Buzzer != "" {
		s.buzzer = ms.outs[cfg.Buzzer]
	}
	b.Sim = s
	b.log.Info("board opened", "mode", ModeSim)
	return b, nil
}

// PressExit presses the exit button and releases it once the press has been debounced
// (Debounce plus two poll periods later, on the board's clock).
func (s *Sim) PressExit() {
	s.log.Info("sim: exit button pressed")
	s.exit.set(gpio.Level(!s.cfg.ExitPressedLow))
	s.clk.AfterFunc(s.cfg.Debounce+2*DefaultPoll, func() {
		s.exit.set(gpio.Level(s.cfg.ExitPressedLow))
	})
}

// SetDoor opens or closes the simulated door.
func (s *Sim) SetDoor(open bool) {
	s.log.Info("sim: door", "open", open)
	s.door.set(gpio.Level(open == s.cfg.DoorOpenHigh))
}

// RelayLevel returns the level the relay driver last wrote.
func (s *Sim) RelayLevel() gpio.Level { return s.relay.Read() }

// LEDLevels returns the LED pins' levels: one for a mono LED, R, G, B for an RGB LED, none if
// no LED pin is configured or the light is a ring.
func (s *Sim) LEDLevels() []gpio.Level {
	var ls []gpio.Level
	for _, p := range s.led {
		ls = append(ls, p.Read())
	}
	return ls
}

// BuzzerLevel returns the level the buzzer driver last wrote, and false without a buzzer.
func (s *Sim) BuzzerLevel() (gpio.Level, bool) {
	if s.buzzer == nil {
		return gpio.Low, false
	}
	return s.buzzer.Read(), true
}
