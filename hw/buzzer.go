package hw

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/doorface/doorface/clock"
)

// Sound names a buzzer pattern.
type Sound string

// The sounds, from the least to the most important: a sound plays unless a more important one
// is playing, and replaces one of equal or less importance.
const (
	SoundKey     Sound = "key"     // a PIN key press acknowledged: one tick
	SoundGranted Sound = "granted" // two short chirps
	SoundDenied  Sound = "denied"  // one long low buzz
	SoundAlarm   Sound = "alarm"   // door forced or held open: four long beeps; sounds in quiet hours too
)

// importance orders the sounds (see Sound).
var importance = map[Sound]int{SoundKey: 0, SoundGranted: 1, SoundDenied: 1, SoundAlarm: 2}

// Beep is the buzzer on (or off) for D.
type Beep struct {
	On bool
	D  time.Duration
}

// Sounds returns the sound table, a fresh copy on each call. Every sound ends silent.
func Sounds() map[Sound][]Beep {
	ms := time.Millisecond
	return map[Sound][]Beep{
		SoundKey:     {{true, 30 * ms}},
		SoundGranted: {{true, 80 * ms}, {false, 60 * ms}, {true, 80 * ms}},
		SoundDenied:  {{true, 600 * ms}},
		SoundAlarm: {
			{true, 400 * ms}, {false, 200 * ms}, {true, 400 * ms}, {false, 200 * ms},
			{true, 400 * ms}, {false, 200 * ms}, {true, 400 * ms},
		},
	}
}

// BuzzerConfig configures the buzzer.
type BuzzerConfig struct {
	// ActiveLow sounds the buzzer by driving Low (a PNP or active-low driver board).
	ActiveLow bool
	// QuietFrom and QuietTo ("HH:MM", local time) silence every sound but SoundAlarm from
	// QuietFrom until QuietTo, across midnight when QuietTo is earlier. Both empty: never quiet.
	QuietFrom, QuietTo string
	// Location is the time zone of the quiet hours; nil means time.Local.
	Location *time.Location
}

// Buzzer plays Sounds on an active buzzer (one that sounds when powered) on a GPIO output,
// timed by the injected clock. Play never waits for a sound to end. A failed pin write is
// logged, reported by Fault, and the sound stops. A nil *Buzzer (none configured) ignores
// Play.
type Buzzer struct {
	pin      gpio.PinOut
	on, off  gpio.Level
	quiet    [2]int // minutes after midnight; equal means never quiet
	loc      *time.Location
	sounds   map[Sound][]Beep
	clk      clock.Clock
	log      *slog.Logger
	hasQuiet bool

	// mu guards everything that follows.
	mu      sync.Mutex
	halted  bool
	playing Sound // "" when silent
	step    int
	gen     uint64
	timer   clock.Timer
	fault   error
}

// NewBuzzer checks cfg, silences the buzzer and returns it.
func NewBuzzer(pin gpio.PinOut, cfg BuzzerConfig, clk clock.Clock, log *slog.Logger) (*Buzzer, error) {
	if pin == nil {
		return nil, fmt.Errorf("buzzer: nil pin: %w", ErrConfig)
	}
	if clk == nil {
		return nil, fmt.Errorf("buzzer: nil clock: %w", ErrConfig)
	}
	b := &Buzzer{pin: pin, on: gpio.High, off: gpio.Low, loc: cfg.Location, sounds: Sounds(), clk: clk,
		log: componentLogger(log).With("device", "buzzer", "pin", pinName(pin))}
	if cfg.ActiveLow {
		b.on, b.off = gpio.Low, gpio.High
	}
	if b.loc == nil {
		b.loc = time.Local
	}
	if cfg.QuietFrom != "" || cfg.QuietTo != "" {
		for i, s := range []string{cfg.QuietFrom, cfg.QuietTo} {
			m, err := parseHHMM(s)
			if err != nil {
				return nil, fmt.Errorf("buzzer quiet hours: %w", err)
			}
			b.quiet[i] = m
		}
		b.hasQuiet = b.quiet[0] != b.quiet[1]
	}
	if err := pin.Out(b.off); err != nil {
		return nil, fmt.Errorf("buzzer %s: silence: %w: %w", pinName(pin), ErrWrite, err)
	}
	b.log.Info("buzzer ready", "quiet_from", cfg.QuietFrom, "quiet_to", cfg.QuietTo)
	return b, nil
}

// parseHHMM parses "HH:MM" into minutes after midnight.
func parseHHMM(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("time %q (want HH:MM, 24-hour): %w", s, ErrConfig)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Quiet reports whether t falls in the quiet hours.
func (b *Buzzer) Quiet(t time.Time) bool {
	if !b.hasQuiet {
		return false
	}
	lt := t.In(b.loc)
	m := lt.Hour()*60 + lt.Minute()
	from, to := b.quiet[0], b.quiet[1]
	if from < to {
		return m >= from && m < to
	}
	return m >= from || m < to
}

// Play starts sound s now, unless a more important sound is playing or the quiet hours silence
// it. Play after Halt, or on a nil Buzzer, does nothing.
func (b *Buzzer) Play(s Sound) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.sounds[s]
	if b.halted || !ok {
		if !ok {
			b.log.Warn("buzzer: unknown sound", "sound", string(s))
		}
		return
	}
	if b.playing != "" && importance[b.playing] > importance[s] {
		b.log.Debug("buzzer: busy with a more important sound", "sound", string(s), "playing", string(b.playing))
		return
	}
	if s != SoundAlarm && b.Quiet(b.clk.Now()) {
		b.log.Debug("buzzer: quiet hours", "sound", string(s))
		return
	}
	b.gen++
	if b.timer != nil {
		b.timer.Stop()
	}
	b.playing, b.step = s, 0
	b.log.Info("buzzer sound", "sound", string(s))
	b.playLocked()
}

// Playing returns the sound playing now, "" when silent.
func (b *Buzzer) Playing() Sound {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.playing
}

// Fault returns the last pin write error, or nil if the last write succeeded.
func (b *Buzzer) Fault() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fault
}

// Halt silences the buzzer for good.
func (b *Buzzer) Halt() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.halted = true
	b.gen++
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.playing = ""
	if err := b.outLocked(false); err != nil {
		return err
	}
	b.log.Info("buzzer halted")
	return nil
}

// playLocked sounds the current beep and schedules the next; after the last beep the buzzer is
// silenced. b.mu must be held.
func (b *Buzzer) playLocked() {
	beeps := b.sounds[b.playing]
	if b.step >= len(beeps) {
		b.playing, b.timer = "", nil
		_ = b.outLocked(false)
		return
	}
	bp := beeps[b.step]
	if err := b.outLocked(bp.On); err != nil {
		b.playing, b.timer = "", nil
		_ = b.pin.Out(b.off) // best effort; Fault keeps the failed write
		return
	}
	gen := b.gen
	b.timer = b.clk.AfterFunc(bp.D, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if gen != b.gen || b.halted {
			return
		}
		b.step++
		b.playLocked()
	})
}

// outLocked drives the pin; a failure is logged, recorded and returned. b.mu must be held.
func (b *Buzzer) outLocked(on bool) error {
	l := b.off
	if on {
		l = b.on
	}
	if err := b.pin.Out(l); err != nil {
		b.fault = fmt.Errorf("buzzer %s: %w: %w", pinName(b.pin), ErrWrite, err)
		b.log.Error("buzzer write failed", "err", err)
		return b.fault
	}
	b.fault = nil
	return nil
}
