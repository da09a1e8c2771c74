package hw

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorface/doorface/clock"
)

// EventKind names an input event.
type EventKind string

// The events sent on the board's event stream: the inputs', and the relay's healed relock.
const (
	EventDoorOpened  EventKind = "door_opened"
	EventDoorClosed  EventKind = "door_closed"
	EventHeldOpen    EventKind = "held_open"   // the door stayed open HeldOpen after opening
	EventForcedOpen  EventKind = "forced_open" // the door opened while the relay was locked
	EventExitPressed EventKind = "exit_pressed"
	// EventRelayRelocked: the relay's retry wrote the locked level after a failed lock write
	// (sent by the Relay, not an input); the machine clears the failed relock's marker.
	EventRelayRelocked EventKind = "relay_relocked"
)

// Event is one input event. At is when the new input level first appeared (before debounce
// confirmed it); for EventHeldOpen it is when the held-open time ran out.
type Event struct {
	Kind EventKind
	At   time.Time
}

// Input defaults, used when a config field is zero.
const (
	DefaultDebounce = 50 * time.Millisecond
	DefaultHeldOpen = 30 * time.Second
	DefaultPoll     = 10 * time.Millisecond
)

// DoorConfig configures a door contact.
type DoorConfig struct {
	// OpenHigh means the pin reads High when the door is open (a reed switch to ground with
	// the pull-up on, the usual wiring); otherwise Low means open. The pull is chosen to match.
	OpenHigh bool
	// Debounce is how long a new level must be read steadily before it counts. Zero means
	// DefaultDebounce.
	Debounce time.Duration
	// HeldOpen is how long the door may stay open before EventHeldOpen. Zero means
	// DefaultHeldOpen.
	HeldOpen time.Duration
	// Poll is the sampling period. Zero means DefaultPoll.
	Poll time.Duration
}

// ButtonConfig configures the exit (request-to-exit) button.
type ButtonConfig struct {
	// PressedLow means the pin reads Low while pressed (button to ground, pull-up on);
	// otherwise High means pressed (pull-down on).
	PressedLow bool
	// Debounce is how long a new level must be read steadily before it counts. Zero means
	// DefaultDebounce.
	Debounce time.Duration
	// Poll is the sampling period. Zero means DefaultPoll.
	Poll time.Duration
}

// DoorContact watches the door contact: it sends EventDoorOpened and EventDoorClosed, plus
// EventForcedOpen when the door opens while unlocked() reports false, and EventHeldOpen once per
// opening when the door stays open HeldOpen. The level found at start sets State but sends no
// event (an already-open door still gets EventHeldOpen).
type DoorContact struct {
	in       *input
	openHigh bool
	heldOpen time.Duration
	unlocked func() bool

	// in.mu guards the fields below (they are touched from input callbacks).
	state     string // "open", "closed" or "unknown"
	heldGen   uint64
	heldOpenT *trackedTimer
}

// NewDoorContact configures pin as an input and starts polling it with clk. unlocked reports
// whether the door may open (usually Relay.Unlocked); nil means never, so every opening is
// forced. Events are sent on out, blocking until they are received or the contact is halted.
func NewDoorContact(pin gpio.PinIn, cfg DoorConfig, clk clock.Clock, unlocked func() bool, out chan<- Event, log *slog.Logger) (*DoorContact, error) {
	if cfg.HeldOpen < 0 {
		return nil, fmt.Errorf("door contact: HeldOpen %v: %w", cfg.HeldOpen, ErrConfig)
	}
	if cfg.HeldOpen == 0 {
		cfg.HeldOpen = DefaultHeldOpen
	}
	if unlocked == nil {
		unlocked = func() bool { return false }
	}
	d := &DoorContact{openHigh: cfg.OpenHigh, heldOpen: cfg.HeldOpen, unlocked: unlocked, state: "unknown"}
	pull := gpio.PullDown
	if cfg.OpenHigh {
		pull = gpio.PullUp
	}
	in, err := newInput("door", pin, pull, cfg.Debounce, cfg.Poll, clk, out, log, d.changeLocked)
	if err != nil {
		return nil, err
	}
	d.in = in
	in.start()
	return d, nil
}

// settled reports whether the first level has been debounced: until then a level is the
// state at start (a press then reads as a stuck button and is ignored until released).
func (in *input) settled() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.known
}

// Settled reports whether the button's first level has been debounced. A press before that is
// taken for a button stuck at start and ignored until released.
func (b *ExitButton) Settled() bool { return b.in.settled() }

// State reports "open", "closed", or "unknown" until the first level is debounced.
func (d *DoorContact) State() string {
	d.in.mu.Lock()
	defer d.in.mu.Unlock()
	return d.state
}

// Halt stops polling and the held-open timer and waits for running callbacks to return; no
// event is sent after it returns. It is safe to call more than once.
func (d *DoorContact) Halt() error {
	d.in.halt(func() {
		if d.heldOpenT != nil {
			d.heldOpenT.Stop()
			d.heldOpenT = nil
		}
	})
	return nil
}

// Close is Halt.
func (d *DoorContact) Close() error { return d.Halt() }

// changeLocked turns a debounced level into events. d.in.mu must be held.
func (d *DoorContact) changeLocked(first bool, l gpio.Level, at, now time.Time) []Event {
	open := (l == gpio.High) == d.openHigh
	d.heldGen++
	if d.heldOpenT != nil {
		d.heldOpenT.Stop()
		d.heldOpenT = nil
	}
	if open {
		d.state = "open"
		gen := d.heldGen
		d.heldOpenT = d.in.afterLocked(d.heldOpen-now.Sub(at), func() { d.held(gen) })
	} else {
		d.state = "closed"
	}
	if first {
		d.in.log.Info("door contact initial state", "state", d.state)
		return nil
	}
	if !open {
		return []Event{{EventDoorClosed, at}}
	}
	evs := []Event{{EventDoorOpened, at}}
	if !d.unlocked() {
		evs = append(evs, Event{EventForcedOpen, at})
	}
	return evs
}

// held sends EventHeldOpen if the opening numbered gen is still going on.
func (d *DoorContact) held(gen uint64) {
	d.in.mu.Lock()
	if d.in.halted || gen != d.heldGen {
		d.in.mu.Unlock()
		return
	}
	d.heldOpenT = nil
	ticket := d.in.ticketLocked()
	ev := Event{EventHeldOpen, d.in.clk.Now()}
	d.in.mu.Unlock()
	d.in.send(ticket, []Event{ev})
}

// ExitButton watches the request-to-exit button and sends EventExitPressed on each debounced
// press. It does not unlock anything itself: the state machine does, for the unlock duration,
// and records the opening in the audit like any other.
type ExitButton struct {
	in         *input
	pressedLow bool
}

// NewExitButton configures pin as an input and starts polling it with clk. Events are sent on
// out, blocking until they are received or the button is halted.
func NewExitButton(pin gpio.PinIn, cfg ButtonConfig, clk clock.Clock, out chan<- Event, log *slog.Logger) (*ExitButton, error) {
	b := &ExitButton{pressedLow: cfg.PressedLow}
	pull := gpio.PullDown
	if cfg.PressedLow {
		pull = gpio.PullUp
	}
	in, err := newInput("exit", pin, pull, cfg.Debounce, cfg.Poll, clk, out, log, b.changeLocked)
	if err != nil {
		return nil, err
	}
	b.in = in
	in.start()
	return b, nil
}

// Halt stops polling and waits for running callbacks to return; no event is sent after it
// returns. It is safe to call more than once.
func (b *ExitButton) Halt() error {
	b.in.halt(nil)
	return nil
}

// Close is Halt.
func (b *ExitButton) Close() error { return b.Halt() }

// changeLocked turns a debounced level into events. b.in.mu must be held.
func (b *ExitButton) changeLocked(first bool, l gpio.Level, at, _ time.Time) []Event {
	pressed := (l == gpio.Low) == b.pressedLow
	switch {
	case first && pressed:
		b.in.log.Warn("exit button pressed at start (stuck or miswired?); ignored until released")
	case !first && pressed:
		return []Event{{EventExitPressed, at}}
	}
	return nil
}

// input polls one pin with the clock and debounces it: a level counts once every sample read
// over Debounce agrees.
type input struct {
	name     string
	pin      gpio.PinIn
	debounce time.Duration
	poll     time.Duration
	clk      clock.Clock
	out      chan<- Event
	log      *slog.Logger
	done     chan struct{} // closed by halt; unblocks emit
	wg       sync.WaitGroup
	change   func(first bool, l gpio.Level, at, now time.Time) []Event // called with mu held

	// sendMu guards serving; sendCond signals its changes.
	sendMu   sync.Mutex
	sendCond *sync.Cond
	serving  uint64 // ticket whose events may be sent now

	// mu guards everything that follows, and the owning device's fields.
	mu        sync.Mutex
	halted    bool
	pollT     *trackedTimer
	known     bool       // stable is valid
	stable    gpio.Level // debounced level
	cand      gpio.Level // level being confirmed
	candSince time.Time  // when cand was first read
	tickets   uint64     // next ticket to hand out
}

func newInput(name string, pin gpio.PinIn, pull gpio.Pull, debounce, poll time.Duration, clk clock.Clock,
	out chan<- Event, log *slog.Logger, change func(bool, gpio.Level, time.Time, time.Time) []Event) (*input, error) {
	switch {
	case pin == nil:
		return nil, fmt.Errorf("%s input: nil pin: %w", name, ErrConfig)
	case clk == nil:
		return nil, fmt.Errorf("%s input: nil clock: %w", name, ErrConfig)
	case out == nil:
		return nil, fmt.Errorf("%s input: nil event channel: %w", name, ErrConfig)
	case debounce < 0 || poll < 0:
		return nil, fmt.Errorf("%s input: negative debounce or poll: %w", name, ErrConfig)
	}
	if debounce == 0 {
		debounce = DefaultDebounce
	}
	if poll == 0 {
		poll = DefaultPoll
	}
	in := &input{name: name, pin: pin, debounce: debounce, poll: poll, clk: clk, out: out,
		done: make(chan struct{}), change: change,
		log: componentLogger(log).With("device", name, "pin", pinName(pin))}
	in.sendCond = sync.NewCond(&in.sendMu)
	if err := pin.In(pull, gpio.NoEdge); err != nil {
		return nil, fmt.Errorf("%s input %s: configure: %w", name, pinName(pin), err)
	}
	return in, nil
}

// start takes the first sample and schedules polling.
func (in *input) start() {
	l := in.pin.Read()
	in.mu.Lock()
	defer in.mu.Unlock()
	in.cand, in.candSince = l, in.clk.Now()
	in.pollT = in.afterLocked(in.poll, in.tick)
	in.log.Info("input started", "debounce_s", in.debounce.Seconds(), "poll_s", in.poll.Seconds())
}

// tick samples the pin, sends the resulting events, then schedules the next sample.
func (in *input) tick() {
	l := in.pin.Read()
	in.mu.Lock()
	if in.halted {
		in.mu.Unlock()
		return
	}
	now := in.clk.Now()
	var evs []Event
	if l != in.cand {
		in.cand, in.candSince = l, now
	}
	if now.Sub(in.candSince) >= in.debounce && (!in.known || in.cand != in.stable) {
		first := !in.known
		in.known, in.stable = true, in.cand
		evs = in.change(first, in.cand, in.candSince, now)
	}
	var ticket uint64
	if len(evs) > 0 {
		ticket = in.ticketLocked()
	}
	in.mu.Unlock()

	if len(evs) > 0 {
		in.send(ticket, evs)
	}

	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.halted {
		in.pollT = in.afterLocked(in.poll, in.tick)
	}
}

// ticketLocked reserves the next place in this input's event order. Every ticket must be
// passed to send exactly once. in.mu must be held.
func (in *input) ticketLocked() uint64 {
	t := in.tickets
	in.tickets++
	return t
}

// send waits for ticket's turn, so events leave in the order they were decided (a held-open
// timer and a sample never overtake each other), then emits evs. It never holds in.mu, so
// State and Halt do not wait for a slow reader.
func (in *input) send(ticket uint64, evs []Event) {
	in.sendMu.Lock()
	for in.serving != ticket {
		in.sendCond.Wait()
	}
	in.sendMu.Unlock()
	in.emit(evs)
	in.sendMu.Lock()
	in.serving++
	in.sendCond.Broadcast()
	in.sendMu.Unlock()
}

// emit logs and sends evs, giving up when the input is halted.
func (in *input) emit(evs []Event) {
	for _, ev := range evs {
		in.log.Info("input event", "event", string(ev.Kind))
		select {
		case in.out <- ev:
		case <-in.done:
			return
		}
	}
}

// halt stops the input; stop (may be nil) runs with mu held to stop the device's own timers.
// It waits for running callbacks.
func (in *input) halt(stop func()) {
	in.mu.Lock()
	if in.halted {
		in.mu.Unlock()
		return
	}
	in.halted = true
	close(in.done)
	if in.pollT != nil {
		in.pollT.Stop()
		in.pollT = nil
	}
	if stop != nil {
		stop()
	}
	in.mu.Unlock()
	in.wg.Wait()
	in.log.Info("input halted")
}

// afterLocked schedules f on the clock, counted in in.wg until it returns or is stopped.
// in.mu must be held and the input not halted.
func (in *input) afterLocked(d time.Duration, f func()) *trackedTimer {
	in.wg.Add(1)
	return &trackedTimer{wg: &in.wg, t: in.clk.AfterFunc(d, func() {
		defer in.wg.Done()
		f()
	})}
}

// trackedTimer is a clock.Timer counted in a WaitGroup.
type trackedTimer struct {
	wg *sync.WaitGroup
	t  clock.Timer
}

// Stop stops the timer and, if it will not run, releases its WaitGroup count.
func (t *trackedTimer) Stop() {
	if t.t.Stop() {
		t.wg.Done()
	}
}
