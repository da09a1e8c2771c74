// Package config is the daemon's configuration: one type that embeds each package's own settings
// (machine.Config, params.Config for vision, hw.BoardConfig, store.Config, transport.Config,
// mqtt.Config) and adds only what is the daemon's (addresses, paths, logs, tokens, TLS) and the
// rules that span packages. It loads defaults < config file < DOORFACE_* environment < flags.
//
// It is pure Go: it builds and tests without cgo (and cross-builds for arm64), although the vision
// package it configures needs OpenCV.
//
// Every setting has one home: its package's Config carries the yaml tag, the default and the
// validation; this package never mirrors a field.
package config

import (
	"fmt"
	"strings"

	"github.com/doorface/doorface/hw"
	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/mqtt"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/vision/params"
)

// Config is the daemon's whole configuration. Every leaf has a YAML key (the dotted path of its
// tags), an environment variable (DOORFACE_ + the key in upper case with "_" for "."), and some
// are also flags. Precedence: flags > environment > config file > defaults.
type Config struct {
	Listen    string `yaml:"listen"`
	Data      string `yaml:"data"`
	Models    string `yaml:"models"`
	HW        string `yaml:"hw"`
	LogFormat string `yaml:"log_format"`
	LogLevel  string `yaml:"log_level"`
	Tokens    Tokens `yaml:"tokens"`
	TLS       TLS    `yaml:"tls"`

	Machine machine.Config   `yaml:"machine"`
	Vision  params.Config    `yaml:"vision"`
	Store   store.Config     `yaml:",inline"` // the "pin" and "retention" sections
	Pins    hw.BoardConfig   `yaml:"pins"`
	HTTP    transport.Config `yaml:"http"`
	MQTT    mqtt.Config      `yaml:"mqtt"`
}

// Tokens holds the API bearer tokens; empty ones are generated on first start and kept in the
// data directory's tokens file, which is where they normally live.
type Tokens struct {
	Door  string `yaml:"door" secret:"true"`
	Admin string `yaml:"admin" secret:"true"`
}

// TLS is how the API is served. By default it is HTTPS with a self-signed certificate the daemon
// creates in the data directory at first start (`doorface tls fingerprint` prints what a tablet
// pins); Cert and Key name another certificate. InsecureHTTP serves plain HTTP instead: for tests
// and explicit local setups only (Android refuses cleartext by default, and tokens would cross the
// network in clear).
type TLS struct {
	Cert         string `yaml:"cert"`
	Key          string `yaml:"key"`
	InsecureHTTP bool   `yaml:"insecure_http"`
}

// Default returns the configuration with nothing set: each package's own defaults.
func Default() Config {
	return Config{
		Listen:    ":8080",
		Data:      "./data",
		Models:    "./models",
		HW:        hw.ModeAuto,
		LogFormat: "json",
		LogLevel:  "info",
		Machine:   machine.DefaultConfig(),
		Vision:    params.Default(),
		Store:     store.DefaultConfig(),
		Pins:      hw.DefaultBoardConfig(),
		HTTP:      transport.DefaultConfig(),
		MQTT:      mqtt.DefaultConfig(),
	}
}

// Error is an invalid configuration value: it names the dotted key and what is allowed.
type Error struct {
	Key, Value, Allowed string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid config %s=%s: %s", e.Key, e.Value, e.Allowed)
}

// sectionError turns a package's validation error ("<sentinel>: key=value: allowed") into an
// *Error under its section's key.
func sectionError(section string, sentinel, err error) error {
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
	keyVal, allowed, _ := strings.Cut(msg, ": ")
	key, val, _ := strings.Cut(keyVal, "=")
	if !strings.Contains(key, ".") && section != "" {
		key = section + "." + key
	}
	return &Error{Key: key, Value: val, Allowed: allowed}
}

// Validate checks every value a person can get wrong and names the first bad key: each package's
// own rules, then the rules that span packages.
func (c *Config) Validate() error {
	oneOf := func(key, v string, allowed ...string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return &Error{key, fmt.Sprintf("%q", v), "one of " + strings.Join(allowed, ", ")}
	}
	checks := []error{
		oneOf("hw", c.HW, hw.ModeSim, hw.ModeGPIO, hw.ModeAuto),
		oneOf("log_format", c.LogFormat, "json", "text"),
		oneOf("log_level", c.LogLevel, "debug", "info", "warn", "error"),
		sectionError("machine", machine.ErrInvalidConfig, c.Machine.Validate()),
		sectionError("vision", params.ErrInvalid, c.Vision.Validate()),
		sectionError("", store.ErrInvalidConfig, c.Store.Validate()),
		sectionError("pins", hw.ErrConfig, c.Pins.Validate()),
		sectionError("http", transport.ErrConfig, c.HTTP.Validate()),
		sectionError("mqtt", mqtt.ErrConfig, c.MQTT.Validate()),
	}
	// Rules across packages.
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		checks = append(checks, &Error{"tls.cert", fmt.Sprintf("%q", c.TLS.Cert), "tls.cert and tls.key are given together or not at all"})
	}
	if c.TLS.InsecureHTTP && c.TLS.Cert != "" {
		checks = append(checks, &Error{"tls.insecure_http", "true", "not together with tls.cert (choose HTTPS or plain HTTP)"})
	}
	maxOpen := c.Pins.MaxOpen
	if maxOpen == 0 {
		maxOpen = hw.DefaultMaxOpen
	}
	if maxOpen < c.Machine.UnlockDuration {
		checks = append(checks, &Error{"pins.max_open", maxOpen.String(), "at least machine.unlock_duration (" + c.Machine.UnlockDuration.String() + ")"})
	}
	if c.Vision.MaxBytes > 64<<20 {
		checks = append(checks, &Error{"vision.max_bytes", fmt.Sprint(c.Vision.MaxBytes), "at most 64 MiB (a frame is held in memory per queue slot)"})
	}
	return firstNonNil(checks)
}

func firstNonNil(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// followEngine gives the machine the calibrated threshold, margin and one-frame bounds of the selected recognition
// engine (its metric differs from the others'), unless the configuration set them: a rule across
// vision and machine, so it lives here.
func followEngine(c *Config) {
	def := Default()
	if c.Vision.Engine == def.Vision.Engine {
		return
	}
	if c.Machine.ClearDistance == def.Machine.ClearDistance && c.Machine.ClearMargin == def.Machine.ClearMargin {
		if d, m := params.DefaultClear(c.Vision.Engine); m > 0 {
			c.Machine.ClearDistance, c.Machine.ClearMargin = d, m
		}
	}
	if c.Machine.Threshold != def.Machine.Threshold || c.Machine.MinMargin != def.Machine.MinMargin {
		return
	}
	if thr, margin := params.DefaultThresholds(c.Vision.Engine); thr > 0 {
		c.Machine.Threshold, c.Machine.MinMargin = thr, margin
	}
}

// MaxBody is the largest request body the server reads for an image: the largest image plus room
// for base64 and a data: URL prefix.
func (c *Config) MaxBody() int64 { return c.Vision.MaxBytes + 64<<10 }
