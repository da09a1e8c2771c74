package hw

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorface/doorface/clock"
)

// DefaultMaxOpen is the watchdog limit used when RelayConfig.MaxOpen is zero.
const DefaultMaxOpen = 10 * time.Second

// lockRetry is how often the relay rewrites the locked level after a failed lock write.
const lockRetry = 500 * time.Millisecond

// RelayConfig configures the door-strike relay.
type RelayConfig struct {
	// ActiveLow energizes the relay (unlocks) by driving the pin Low; otherwise High unlocks.
	ActiveLow bool
	// MaxOpen is the watchdog limit: the relay is never energized longer than this from the
	// moment it was first energized, whatever callers do. Zero means DefaultMaxOpen.
	MaxOpen time.Duration
	// Events, if not nil, receives EventRelayRelocked when a retry wrote the locked level after
	// a failed lock write, that is when the door is known locked again (the board passes its
	// event channel). The send happens outside the relay's lock, blocks until received, and
	// gives up when the relay is halted.
	Events chan<- Event
}

// Relay drives the door strike through one GPIO output. It is fail-secure: it writes the locked
// level before anything else, on Halt, and on every error path, and an independent watchdog
// relocks it after RelayConfig.MaxOpen. *Relay satisfies machine.Lock
// (interface{ Unlock(time.Duration) error; Lock() error }).
//
// Unlock while already unlocked extends the unlock to max(current deadline, now+d), but never
// beyond MaxOpen after the first energize of that opening; it never shortens an opening.
type Relay struct {
	pin     gpio.PinOut
	maxOpen time.Duration
	on, off gpio.Level // energized (unlocked) and locked levels
	clk     clock.Clock
	log     *slog.Logger

	// mu guards everything that follows.
	mu        sync.Mutex
	unlocked  bool
	halted    bool
	epoch     uint64    // bumped on every lock; timers of an older epoch do nothing
	since     time.Time // first energize of the current opening
	deadline  time.Time // planned relock of the current opening
	expiry    clock.Timer
	watchdog  clock.Timer
	retry     clock.Timer // pending rewrite of the locked level after a failed write
	fault     error       // last write error, nil after a successful write
	observers []func(unlocked bool)

	events chan<- Event   // EventRelayRelocked goes here; nil for none
	done   chan struct{}  // closed by the first Halt; unblocks a pending send
	sends  sync.WaitGroup // sends in flight; Add only with mu held and not halted
}

// NewRelay takes the pin, writes the locked level first, and returns the relay. It returns an
// error (wrapping ErrWrite) and no relay if that first write fails.
func NewRelay(pin gpio.PinOut, cfg RelayConfig, clk clock.Clock, log *slog.Logger) (*Relay, error) {
	if pin == nil {
		return nil, fmt.Errorf("relay: nil pin: %w", ErrConfig)
	}
	if clk == nil {
		return nil, fmt.Errorf("relay: nil clock: %w", ErrConfig)
	}
	if cfg.MaxOpen < 0 {
		return nil, fmt.Errorf("relay: MaxOpen %v: %w", cfg.MaxOpen, ErrConfig)
	}
	if cfg.MaxOpen == 0 {
		cfg.MaxOpen = DefaultMaxOpen
	}
	r := &Relay{pin: pin, maxOpen: cfg.MaxOpen, on: gpio.High, off: gpio.Low, clk: clk,
		events: cfg.Events, done: make(chan struct{}),
		log: componentLogger(log).With("device", "relay", "pin", pinName(pin))}
	if cfg.ActiveLow {
		r.on, r.off = gpio.Low, gpio.High
	}
	if err := pin.Out(r.off); err != nil {
		r.log.Error("relay initial lock failed", "err", err)
		return nil, fmt.Errorf("relay %s: initial lock: %w: %w", pinName(pin), ErrWrite, err)
	}
	r.log.Info("relay locked", "reason", "start", "level", r.off.String(),
		"max_open_s", r.maxOpen.Seconds())
	return r, nil
}

// Unlock energizes the relay and relocks it by itself after min(d, MaxOpen) (see the Relay doc
// for repeated calls). If the pin write fails the relay writes the locked level, stays recorded
// as locked, and the error wraps ErrWrite. d must be positive.
func (r *Relay) Unlock(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("relay unlock for %v: %w", d, ErrConfig)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted {
		return fmt.Errorf("relay unlock: %w", ErrHalted)
	}
	now := r.clk.Now()
	if !r.unlocked {
		// A new opening: timers of any earlier one (a pending lock retry) must not touch it.
		r.epoch++
		if r.retry != nil {
			r.retry.Stop()
			r.retry = nil
		}
		if err := r.pin.Out(r.on); err != nil {
			r.fault = err
			r.log.Error("relay unlock failed, door stays locked", "err", err)
			r.lockLocked("unlock_failed")
			return fmt.Errorf("relay unlock: %w: %w", ErrWrite, err)
		}
		r.fault = nil
		r.unlocked = true
		r.since = now
		r.deadline = time.Time{}
		epoch := r.epoch
		// The watchdog is armed once per opening and only ever cleared by a lock: nothing a
		// caller does with Unlock moves it.
		r.watchdog = r.clk.AfterFunc(r.maxOpen, func() { r.expire(epoch, "watchdog") })
		r.log.Info("relay unlocked", "level", r.on.String(), "for_s", d.Seconds())
		r.notifyLocked()
	}
	want := now.Add(d)
	if limit := r.since.Add(r.maxOpen); want.After(limit) {
		want = limit
	}
	if !want.After(r.deadline) {
		return nil // never shorten an opening
	}
	if !r.deadline.IsZero() {
		r.log.Debug("relay unlock extended", "until_s", want.Sub(now).Seconds())
	}
	r.deadline = want
	if r.expiry != nil {
		r.expiry.Stop()
	}
	epoch := r.epoch
	r.expiry = r.clk.AfterFunc(want.Sub(now), func() { r.expire(epoch, "expired") })
	return nil
}

// Lock de-energizes the relay now. On a failed write the relay is still recorded as locked, the
// error wraps ErrWrite, and the locked level is rewritten every 500ms until a write succeeds.
func (r *Relay) Lock() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lockLocked("lock")
}

// Unlocked reports the recorded state: true only after an energizing write succeeded and until
// the relay is relocked (or a write fails).
func (r *Relay) Unlocked() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unlocked
}

// Fault returns the last pin write error, or nil if the last write succeeded.
func (r *Relay) Fault() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fault
}

// Halt locks the relay and refuses every later Unlock (ErrHalted). It implements
// conn.Resource's Halt: the inert state of a door strike is locked. If the lock write fails the
// relay keeps retrying it in the background. After Halt returns, nothing more is sent on
// RelayConfig.Events.
func (r *Relay) Halt() error {
	r.mu.Lock()
	if !r.halted {
		close(r.done)
	}
	r.halted = true
	err := r.lockLocked("halt")
	r.mu.Unlock()
	r.sends.Wait()
	return err
}

// OnChange registers f to be called after each successful change of the recorded state (and
// when a failed write forces the record back to locked). f runs with the relay's lock held, in
// order of changes: it must be quick and must not call the Relay's methods.
func (r *Relay) OnChange(f func(unlocked bool)) {
	if f == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.observers = append(r.observers, f)
}

// String implements fmt.Stringer.
func (r *Relay) String() string { return "Relay{" + pinName(r.pin) + "}" }

// expire is the body of the expiry and watchdog timers of the opening numbered epoch.
func (r *Relay) expire(epoch uint64, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if epoch != r.epoch || !r.unlocked {
		return
	}
	if reason == "expired" && !r.deadline.Before(r.since.Add(r.maxOpen)) {
		reason = "max_open"
	}
	_ = r.lockLocked(reason)
}

// lockLocked writes the locked level and records the relay as locked whatever the outcome. r.mu
// must be held.
func (r *Relay) lockLocked(reason string) error {
	r.epoch++
	for _, t := range []clock.Timer{r.expiry, r.watchdog, r.retry} {
		if t != nil {
			t.Stop()
		}
	}
	r.expiry, r.watchdog, r.retry = nil, nil, nil
	was := r.unlocked
	r.unlocked = false
	r.deadline = time.Time{}
	if err := r.pin.Out(r.off); err != nil {
		r.fault = err
		r.log.Error("relay lock write failed, recorded as locked, retrying", "reason", reason,
			"err", err, "retry_s", lockRetry.Seconds())
		epoch := r.epoch
		r.retry = r.clk.AfterFunc(lockRetry, func() { r.retryLock(epoch) })
		if was {
			r.notifyLocked()
		}
		return fmt.Errorf("relay lock (%s): %w: %w", reason, ErrWrite, err)
	}
	r.fault = nil
	if was {
		r.log.Info("relay locked", "reason", reason, "level", r.off.String())
		r.notifyLocked()
	}
	return nil
}

// retryLock rewrites the locked level after a failed lock write, unless something else wrote
// the pin since (epoch moved on), and then sends EventRelayRelocked outside the lock.
func (r *Relay) retryLock(epoch uint64) {
	r.mu.Lock()
	if epoch != r.epoch {
		r.mu.Unlock()
		return
	}
	if err := r.lockLocked("retry"); err != nil {
		r.mu.Unlock()
		return
	}
	r.log.Info("relay lock retry succeeded", "level", r.off.String())
	send := r.events != nil && !r.halted
	if send {
		r.sends.Add(1)
	}
	ev := Event{Kind: EventRelayRelocked, At: r.clk.Now()}
	r.mu.Unlock()
	if !send {
		return
	}
	defer r.sends.Done()
	select {
	case r.events <- ev:
	case <-r.done:
	}
}

// notifyLocked calls the observers with the recorded state. r.mu must be held.
func (r *Relay) notifyLocked() {
	for _, f := range r.observers {
		f(r.unlocked)
	}
}
