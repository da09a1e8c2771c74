package main

import (
	"flag"
	"io"
	"time"

	"github.com/doorface/doorface/hw"
	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/vision"
)

// defaultConfig is the configuration with nothing set. The values come from each package's own
// defaults, so there is one source for each number.
func defaultConfig() Config {
	m := machine.DefaultConfig()
	v := vision.DefaultConfig()
	b := hw.DefaultBoardConfig()
	return Config{
		Listen:    ":8080",
		Data:      "./data",
		Models:    "./models",
		HW:        "auto",
		LogFormat: "json",
		LogLevel:  "info",
		Machine: MachineCfg{
			ReceiveTimeout:    m.ReceiveTimeout,
			K:                 m.K,
			N:                 m.N,
			Threshold:         v.Threshold, // calibrated in vision (see vision/CALIBRATION.md)
			MinMargin:         v.MinMargin,
			MaxFrames:         m.MaxFrames,
			RecognizeTimeout:  m.RecognizeTimeout,
			PinTimeout:        m.PinTimeout,
			MaxPinTries:       m.MaxPinTries,
			LockoutAfter:      m.LockoutAfter,
			LockoutBase:       m.LockoutBase,
			UnlockDuration:    m.UnlockDuration,
			Cooldown:          m.Cooldown,
			RequireFaceAndPIN: m.RequireFaceAndPIN,
			EvidenceOnUnknown: m.EvidenceOnUnknown,
		},
		Vision: VisionCfg{
			Engine:        v.Engine,
			MaxBytes:      v.MaxBytes,
			MaxWidth:      v.MaxWidth,
			MaxHeight:     v.MaxHeight,
			MultiFace:     v.MultiFace,
			MinFaceSize:   v.MinFaceSize,
			MinBrightness: v.MinBrightness,
			MaxBrightness: v.MaxBrightness,
			MinSharpness:  v.MinSharpness,
			Workers:       v.Workers,
			Detector:      v.Detector,
			DetectWidth:   v.DetectWidth,
		},
		PIN:       PINCfg{MinLength: store.DefaultPinMinLen},
		Retention: RetainCfg{MaxAge: store.DefaultMaxEvidenceAge, MaxBytes: store.DefaultMaxEvidenceBytes},
		Pins: PinsCfg{
			Relay:          b.Relay,
			RelayActiveLow: b.RelayActiveLow,
			MaxOpen:        b.MaxOpen,
			LED:            b.LED,
			LEDRed:         b.LEDRed,
			LEDGreen:       b.LEDGreen,
			LEDBlue:        b.LEDBlue,
			Door:           b.Door,
			DoorOpenHigh:   b.DoorOpenHigh,
			HeldOpen:       b.HeldOpen,
			Exit:           b.Exit,
			ExitPressedLow: b.ExitPressedLow,
			Debounce:       b.Debounce,
		},
		HTTP: HTTPCfg{QueueSize: 4, Heartbeat: 15 * time.Second, MaxJSON: 64 << 10},
	}
}

// loadConfig builds the effective configuration of `serve` (and of the subcommands that share its
// flags): defaults, then the config file, then DOORFACE_* variables, then flags.
//
// extra, when not nil, adds the subcommand's own flags before parsing.
func loadConfig(name string, args []string, environ []string, stderr io.Writer, extra ...func(*flag.FlagSet)) (Config, *flag.FlagSet, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	for _, e := range extra {
		e(fs)
	}
	listen := fs.String("listen", "", "address to listen on (default :8080)")
	data := fs.String("data", "", "data directory (default ./data)")
	models := fs.String("models", "", "models directory (default ./models)")
	hw := fs.String("hw", "", "hardware: sim, gpio or auto (default auto)")
	file := fs.String("config", "", "YAML config file")
	logFormat := fs.String("log-format", "", "json or text (default json)")
	if err := fs.Parse(args); err != nil {
		return c, fs, err
	}
	if *file != "" {
		if err := loadConfigFile(&c, *file); err != nil {
			return c, fs, err
		}
	}
	if err := loadEnv(&c, environ); err != nil {
		return c, fs, err
	}
	followEngine(&c)
	for _, o := range []struct {
		v   string
		dst *string
	}{{*listen, &c.Listen}, {*data, &c.Data}, {*models, &c.Models}, {*hw, &c.HW}, {*logFormat, &c.LogFormat}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	return c, fs, c.validate()
}

// followEngine gives the machine the calibrated threshold and margin of the selected engine
// (vision.DefaultThresholds) when the configuration left them at the default engine's values.
func followEngine(c *Config) {
	def := defaultConfig()
	if c.Vision.Engine == def.Vision.Engine || c.Machine.Threshold != def.Machine.Threshold || c.Machine.MinMargin != def.Machine.MinMargin {
		return
	}
	if thr, margin := vision.DefaultThresholds(c.Vision.Engine); thr > 0 {
		c.Machine.Threshold, c.Machine.MinMargin = thr, margin
	}
}
