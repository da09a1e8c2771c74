package hw

import (
	"errors"
	"slices"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// beepAt is the buzzer's expected state at a time since the start of a test.
type beepAt struct {
	at      time.Duration
	on      bool
	playing Sound
}

func TestBuzzerSounds(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name    string
		cfg     BuzzerConfig
		start   time.Time // clock start; zero means t0 (03:04 UTC)
		play    map[time.Duration]Sound
		samples []beepAt
	}{
		{"granted: two chirps", BuzzerConfig{}, time.Time{}, map[time.Duration]Sound{0: SoundGranted}, []beepAt{
			{0, true, SoundGranted}, {79 * ms, true, SoundGranted}, {80 * ms, false, SoundGranted},
			{140 * ms, true, SoundGranted}, {220 * ms, false, ""},
		}},
		{"denied: one long buzz", BuzzerConfig{}, time.Time{}, map[time.Duration]Sound{0: SoundDenied}, []beepAt{
			{0, true, SoundDenied}, {599 * ms, true, SoundDenied}, {600 * ms, false, ""},
		}},
		{"key tick", BuzzerConfig{}, time.Time{}, map[time.Duration]Sound{0: SoundKey}, []beepAt{
			{0, true, SoundKey}, {30 * ms, false, ""},
		}},
		{"alarm: four beeps", BuzzerConfig{}, time.Time{}, map[time.Duration]Sound{0: SoundAlarm}, []beepAt{
			{0, true, SoundAlarm}, {400 * ms, false, SoundAlarm}, {600 * ms, true, SoundAlarm},
			{1800 * ms, true, SoundAlarm}, {2200 * ms, false, ""},
		}},
		{"a key press does not cut the alarm", BuzzerConfig{}, time.Time{},
			map[time.Duration]Sound{0: SoundAlarm, 100 * ms: SoundKey}, []beepAt{
				{100 * ms, true, SoundAlarm}, {400 * ms, false, SoundAlarm},
			}},
		{"the alarm cuts a granted chirp", BuzzerConfig{}, time.Time{},
			map[time.Duration]Sound{0: SoundGranted, 90 * ms: SoundAlarm}, []beepAt{
				{90 * ms, true, SoundAlarm}, {489 * ms, true, SoundAlarm}, {490 * ms, false, SoundAlarm},
			}},
		{"quiet hours across midnight silence granted", BuzzerConfig{QuietFrom: "22:00", QuietTo: "07:00", Location: time.UTC},
			time.Time{}, map[time.Duration]Sound{0: SoundGranted}, []beepAt{{0, false, ""}, {80 * ms, false, ""}}},
		{"quiet hours never silence the alarm", BuzzerConfig{QuietFrom: "22:00", QuietTo: "07:00", Location: time.UTC},
			time.Time{}, map[time.Duration]Sound{0: SoundAlarm}, []beepAt{{0, true, SoundAlarm}}},
		{"outside quiet hours", BuzzerConfig{QuietFrom: "22:00", QuietTo: "07:00", Location: time.UTC},
			time.Date(2026, 1, 2, 7, 0, 0, 0, time.UTC), map[time.Duration]Sound{0: SoundDenied}, []beepAt{{0, true, SoundDenied}}},
		{"quiet hours in the site's zone", BuzzerConfig{QuietFrom: "03:00", QuietTo: "04:00", Location: time.FixedZone("UTC+5", 5*3600)},
			time.Time{}, map[time.Duration]Sound{0: SoundDenied}, []beepAt{{0, true, SoundDenied}}}, // 08:04 there
		{"active-low", BuzzerConfig{ActiveLow: true}, time.Time{}, map[time.Duration]Sound{0: SoundKey}, []beepAt{
			{0, true, SoundKey}, {30 * ms, false, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := tc.start
			if start.IsZero() {
				start = t0
			}
			clk := newFake()
			clk.Set(start)
			log, _ := newLogger()
			var p gpiotest.Pin
			b, err := NewBuzzer(&p, tc.cfg, clk, log)
			if err != nil {
				t.Fatal(err)
			}
			on := gpio.High
			if tc.cfg.ActiveLow {
				on = gpio.Low
			}
			if p.Read() == on {
				t.Fatal("buzzer sounds at start")
			}
			times := map[time.Duration]bool{}
			for at := range tc.play {
				times[at] = true
			}
			for _, s := range tc.samples {
				times[s.at] = true
			}
			var order []time.Duration
			for at := range times {
				order = append(order, at)
			}
			slices.Sort(order)
			samples := tc.samples
			for _, at := range order {
				clk.Set(start.Add(at))
				if s, ok := tc.play[at]; ok {
					b.Play(s)
				}
				for len(samples) > 0 && samples[0].at == at {
					if got := p.Read() == on; got != samples[0].on || b.Playing() != samples[0].playing {
						t.Errorf("at %v: on %v playing %q, want %v %q", at, got, b.Playing(), samples[0].on, samples[0].playing)
					}
					samples = samples[1:]
				}
			}
			if err := b.Halt(); err != nil {
				t.Fatal(err)
			}
			b.Play(SoundAlarm)
			if p.Read() == on || clk.Pending() != 0 {
				t.Fatalf("after Halt: sounding %v, %d timers", p.Read() == on, clk.Pending())
			}
		})
	}
}

func TestBuzzerFaultsAndConfig(t *testing.T) {
	clk := newFake()
	log, _ := newLogger()
	p := &failPin{Pin: gpiotest.Pin{N: "BUZ"}}
	b, err := NewBuzzer(p, BuzzerConfig{}, clk, log)
	if err != nil {
		t.Fatal(err)
	}
	p.setFail(false, true) // writes of High (sound) fail
	b.Play(SoundDenied)
	if !errors.Is(b.Fault(), ErrWrite) || b.Playing() != "" || p.Read() != gpio.Low {
		t.Fatalf("failed write: fault %v playing %q level %v", b.Fault(), b.Playing(), p.Read())
	}
	p.setFail(false, false)
	b.Play(SoundKey)
	if b.Fault() != nil || p.Read() != gpio.High {
		t.Fatalf("after heal: fault %v level %v", b.Fault(), p.Read())
	}
	p.setFail(true, false)
	if err := b.Halt(); !errors.Is(err, ErrWrite) {
		t.Fatalf("Halt on a failing pin = %v", err)
	}

	var none *Buzzer
	none.Play(SoundAlarm) // no buzzer configured: nothing happens

	for name, cfg := range map[string]BuzzerConfig{
		"bad from":  {QuietFrom: "25:00", QuietTo: "07:00"},
		"bad to":    {QuietFrom: "22:00", QuietTo: "7pm"},
		"only from": {QuietFrom: "22:00"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewBuzzer(&gpiotest.Pin{}, cfg, clk, nil); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
	if _, err := NewBuzzer(nil, BuzzerConfig{}, clk, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil pin: %v", err)
	}
	if _, err := NewBuzzer(&failPin{failAll: true}, BuzzerConfig{}, clk, nil); !errors.Is(err, ErrWrite) {
		t.Fatalf("failing first write: %v", err)
	}
}
