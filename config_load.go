package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"time"
)

// defaultConfig is the configuration with nothing set.
func defaultConfig() Config {
	return Config{
		Listen:    ":8080",
		Data:      "./data",
		Models:    "./models",
		HW:        "auto",
		LogFormat: "json",
		LogLevel:  "info",
		Machine: MachineCfg{
			ReceiveTimeout:   5 * time.Second,
			K:                2,
			N:                3,
			Threshold:        0.5,
			MinMargin:        0.04,
			MaxFrames:        10,
			RecognizeTimeout: 4 * time.Second,
			PinTimeout:       20 * time.Second,
			MaxPinTries:      3,
			LockoutAfter:     5,
			LockoutBase:      60 * time.Second,
			UnlockDuration:   3 * time.Second,
			Cooldown:         2 * time.Second,
		},
		Vision: VisionCfg{
			MaxBytes:      8 << 20,
			MaxWidth:      4096,
			MaxHeight:     4096,
			MultiFace:     "largest",
			MinFaceSize:   60,
			MinBrightness: 40,
			MaxBrightness: 220,
			MinSharpness:  20,
			Workers:       runtime.NumCPU(),
			Detector:      "hog",
			DetectWidth:   640,
		},
		PIN:       PINCfg{MinLength: 5},
		Retention: RetainCfg{MaxAge: 30 * 24 * time.Hour, MaxBytes: 512 << 20},
		Pins: PinsCfg{
			Relay:    "GPIO17",
			MaxOpen:  10 * time.Second,
			LED:      "GPIO27",
			HeldOpen: 30 * time.Second,
			Debounce: 50 * time.Millisecond,
		},
		HTTP: HTTPCfg{QueueSize: 4, Heartbeat: 15 * time.Second, MaxJSON: 64 << 10},
	}
}

// loadConfig builds the effective configuration of `serve` (and of the subcommands that share its
// flags): defaults, then the config file, then DOORFACE_* variables, then flags.
func loadConfig(name string, args []string, environ []string, stderr io.Writer) (Config, *flag.FlagSet, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
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
	for _, o := range []struct {
		v   string
		dst *string
	}{{*listen, &c.Listen}, {*data, &c.Data}, {*models, &c.Models}, {*hw, &c.HW}, {*logFormat, &c.LogFormat}} {
		if o.v != "" {
			*o.dst = o.v
		}
	}
	if err := c.validate(); err != nil {
		return c, fs, fmt.Errorf("%w", err)
	}
	return c, fs, nil
}
