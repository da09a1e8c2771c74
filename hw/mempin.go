package hw

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

// memPin is an in-memory gpio.PinIO, modeled on periph's gpiotest.Pin: exported fields behind a
// mutex that tests and the simulated board set to fake the hardware. Unlike gpiotest.Pin, In does
// not overwrite the level with the pull (what is wired to an input decides its level, as on a
// real board), and edge detection is refused (hw polls its inputs).
//
// hw does not use gpiotest.Pin itself because that package needs github.com/jonboulle/clockwork,
// which is not in doorface's go.mod.
type memPin struct {
	// N is the pin name; immutable.
	N string

	// Mutex guards everything that follows.
	sync.Mutex
	L      gpio.Level // level: written by Out, read by Read
	P      gpio.Pull  // last pull passed to In
	Writes int        // number of successful Out calls
}

var _ gpio.PinIO = (*memPin)(nil)

// String implements conn.Resource.
func (p *memPin) String() string { return fmt.Sprintf("%s(mem)", p.N) }

// Halt implements conn.Resource; it has no effect.
func (p *memPin) Halt() error { return nil }

// Name implements pin.Pin.
func (p *memPin) Name() string { return p.N }

// Number implements pin.Pin; memory pins have no number.
func (p *memPin) Number() int { return -1 }

// Function implements pin.Pin.
func (p *memPin) Function() string { return "" }

// In implements gpio.PinIn: it records the pull and keeps the level.
func (p *memPin) In(pull gpio.Pull, edge gpio.Edge) error {
	if edge != gpio.NoEdge {
		return errors.New("mempin: edge detection not supported")
	}
	p.Lock()
	defer p.Unlock()
	p.P = pull
	return nil
}

// Read implements gpio.PinIn.
func (p *memPin) Read() gpio.Level {
	p.Lock()
	defer p.Unlock()
	return p.L
}

// WaitForEdge implements gpio.PinIn; memory pins have no edges.
func (p *memPin) WaitForEdge(time.Duration) bool { return false }

// Pull implements gpio.PinIn.
func (p *memPin) Pull() gpio.Pull {
	p.Lock()
	defer p.Unlock()
	return p.P
}

// DefaultPull implements gpio.PinIn.
func (p *memPin) DefaultPull() gpio.Pull { return gpio.PullNoChange }

// Out implements gpio.PinOut.
func (p *memPin) Out(l gpio.Level) error {
	p.Lock()
	defer p.Unlock()
	p.L = l
	p.Writes++
	return nil
}

// PWM implements gpio.PinOut; it is not supported.
func (p *memPin) PWM(gpio.Duty, physic.Frequency) error {
	return errors.New("mempin: PWM not supported")
}

// Set sets the level an input reads, as the wiring would.
func (p *memPin) Set(l gpio.Level) {
	p.Lock()
	defer p.Unlock()
	p.L = l
}
