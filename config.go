package main

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the daemon's whole configuration. Every field has a YAML key (the dotted path of its tags),
// an environment variable (DOORFACE_ + the path in upper case with "_" for "."), and the four serve
// flags override their keys. Precedence: flags > environment > config file > defaults.
type Config struct {
	Listen    string     `yaml:"listen"`
	Data      string     `yaml:"data"`
	Models    string     `yaml:"models"`
	HW        string     `yaml:"hw"`
	LogFormat string     `yaml:"log_format"`
	LogLevel  string     `yaml:"log_level"`
	Tokens    TokensCfg  `yaml:"tokens"`
	TLS       TLSCfg     `yaml:"tls"`
	Machine   MachineCfg `yaml:"machine"`
	Vision    VisionCfg  `yaml:"vision"`
	PIN       PINCfg     `yaml:"pin"`
	Retention RetainCfg  `yaml:"retention"`
	Pins      PinsCfg    `yaml:"pins"`
	HTTP      HTTPCfg    `yaml:"http"`
}

// TokensCfg holds the API bearer tokens; empty ones are generated on first start.
type TokensCfg struct {
	Door  string `yaml:"door" secret:"true"`
	Admin string `yaml:"admin" secret:"true"`
}

// TLSCfg names a certificate and key; both empty means plain HTTP.
type TLSCfg struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// MachineCfg is the session state machine's timing and decision rule.
type MachineCfg struct {
	ReceiveTimeout    time.Duration `yaml:"receive_timeout"`
	K                 int           `yaml:"k"`
	N                 int           `yaml:"n"`
	Threshold         float64       `yaml:"threshold"`
	MinMargin         float64       `yaml:"min_margin"`
	MaxFrames         int           `yaml:"max_frames"`
	RecognizeTimeout  time.Duration `yaml:"recognize_timeout"`
	PinTimeout        time.Duration `yaml:"pin_timeout"`
	MaxPinTries       int           `yaml:"max_pin_tries"`
	LockoutAfter      int           `yaml:"lockout_after"`
	LockoutBase       time.Duration `yaml:"lockout_base"`
	UnlockDuration    time.Duration `yaml:"unlock_duration"`
	Cooldown          time.Duration `yaml:"cooldown"`
	RequireFaceAndPIN bool          `yaml:"require_face_and_pin"`
	EvidenceOnUnknown bool          `yaml:"evidence_on_unknown"`
}

// VisionCfg is the image limits, quality gate and recognizer pool.
type VisionCfg struct {
	Engine        string  `yaml:"engine"`
	MaxBytes      int64   `yaml:"max_bytes"`
	MaxWidth      int     `yaml:"max_width"`
	MaxHeight     int     `yaml:"max_height"`
	MultiFace     string  `yaml:"multi_face"`
	MinFaceSize   int     `yaml:"min_face_size"`
	MinBrightness float64 `yaml:"min_brightness"`
	MaxBrightness float64 `yaml:"max_brightness"`
	MinSharpness  float64 `yaml:"min_sharpness"`
	Workers       int     `yaml:"workers"`
	Detector      string  `yaml:"detector"`
	DetectWidth   int     `yaml:"detect_width"`
}

// PINCfg is the PIN policy.
type PINCfg struct {
	MinLength int `yaml:"min_length"`
}

// RetainCfg bounds the evidence frames kept.
type RetainCfg struct {
	MaxAge   time.Duration `yaml:"max_age"`
	MaxBytes int64         `yaml:"max_bytes"`
}

// PinsCfg names the GPIO lines (periph names such as GPIO17) of the relay, LED and inputs.
type PinsCfg struct {
	Relay          string        `yaml:"relay"`
	RelayActiveLow bool          `yaml:"relay_active_low"`
	MaxOpen        time.Duration `yaml:"max_open"`
	LED            string        `yaml:"led"`
	LEDRed         string        `yaml:"led_red"`
	LEDGreen       string        `yaml:"led_green"`
	LEDBlue        string        `yaml:"led_blue"`
	Door           string        `yaml:"door"`
	DoorOpenHigh   bool          `yaml:"door_open_high"`
	HeldOpen       time.Duration `yaml:"held_open"`
	Exit           string        `yaml:"exit"`
	ExitPressedLow bool          `yaml:"exit_pressed_low"`
	Debounce       time.Duration `yaml:"debounce"`
}

// HTTPCfg tunes the API server.
type HTTPCfg struct {
	QueueSize int           `yaml:"queue_size"`
	Heartbeat time.Duration `yaml:"heartbeat"`
	MaxJSON   int64         `yaml:"max_json"`
}

// envAliases are the documented short names some keys also answer to.
var envAliases = map[string]string{
	"DOORFACE_DOOR_TOKEN":  "tokens.door",
	"DOORFACE_ADMIN_TOKEN": "tokens.admin",
}

// configError is an invalid configuration value: it names the key and what is allowed.
type configError struct {
	Key, Value, Allowed string
}

func (e *configError) Error() string {
	return fmt.Sprintf("invalid config %s=%q: %s", e.Key, e.Value, e.Allowed)
}

// field is one leaf of Config with its dotted key.
type field struct {
	key    string
	v      reflect.Value
	secret bool
}

func fields(c *Config) []field {
	var out []field
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			key := sf.Tag.Get("yaml")
			if prefix != "" {
				key = prefix + "." + key
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Duration(0)) {
				walk(key, fv)
				continue
			}
			out = append(out, field{key: key, v: fv, secret: sf.Tag.Get("secret") == "true"})
		}
	}
	walk("", reflect.ValueOf(c).Elem())
	return out
}

// envName is the environment variable of a dotted key.
func envName(key string) string {
	return "DOORFACE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// setString parses s into the field according to its type.
func setString(f field, s string) error {
	switch f.v.Interface().(type) {
	case string:
		f.v.SetString(s)
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return &configError{f.key, s, "a duration such as 500ms, 5s or 2m"}
		}
		f.v.SetInt(int64(d))
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return &configError{f.key, s, "true or false"}
		}
		f.v.SetBool(b)
	case int, int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return &configError{f.key, s, "a whole number"}
		}
		f.v.SetInt(n)
	case float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return &configError{f.key, s, "a number"}
		}
		f.v.SetFloat(x)
	default:
		return fmt.Errorf("config %s: unsupported type %s", f.key, f.v.Type())
	}
	return nil
}

// loadConfigFile merges a YAML file into c. Unknown keys are errors, so a typo never goes unnoticed.
func loadConfigFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	flat := map[string]string{}
	var flatten func(prefix string, m map[string]any) error
	flatten = func(prefix string, m map[string]any) error {
		for k, v := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			switch x := v.(type) {
			case map[string]any:
				if err := flatten(key, x); err != nil {
					return err
				}
			case nil:
			default:
				flat[key] = fmt.Sprint(x)
			}
		}
		return nil
	}
	if err := flatten("", raw); err != nil {
		return err
	}
	byKey := map[string]field{}
	for _, f := range fields(c) {
		byKey[f.key] = f
	}
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := byKey[k]
		if !ok {
			return &configError{Key: k, Value: flat[k], Allowed: "unknown key (see `doorface config print` for every key)"}
		}
		if err := setString(f, flat[k]); err != nil {
			return err
		}
	}
	return nil
}

// loadEnv applies DOORFACE_* variables from environ.
func loadEnv(c *Config, environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "DOORFACE_") {
			env[k] = v
		}
	}
	for _, f := range fields(c) {
		if v, ok := env[envName(f.key)]; ok {
			if err := setString(f, v); err != nil {
				return err
			}
		}
	}
	for alias, key := range envAliases {
		if v, ok := env[alias]; ok {
			for _, f := range fields(c) {
				if f.key == key {
					if err := setString(f, v); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// validate checks every value a person can get wrong and names the first bad key.
func (c *Config) validate() error {
	oneOf := func(key, v string, allowed ...string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return &configError{key, v, "one of " + strings.Join(allowed, ", ")}
	}
	positive := func(key string, d time.Duration) error {
		if d <= 0 {
			return &configError{key, d.String(), "a positive duration"}
		}
		return nil
	}
	atLeast := func(key string, n, min int64) error {
		if n < min {
			return &configError{key, strconv.FormatInt(n, 10), fmt.Sprintf("a whole number >= %d", min)}
		}
		return nil
	}
	checks := []error{
		oneOf("hw", c.HW, "sim", "gpio", "auto"),
		oneOf("log_format", c.LogFormat, "json", "text"),
		oneOf("log_level", c.LogLevel, "debug", "info", "warn", "error"),
		oneOf("vision.multi_face", c.Vision.MultiFace, "reject", "largest"),
		oneOf("vision.detector", c.Vision.Detector, "hog", "cnn"),
		oneOf("vision.engine", c.Vision.Engine, "mobilefacenet", "dlib"),
		positive("machine.receive_timeout", c.Machine.ReceiveTimeout),
		positive("machine.recognize_timeout", c.Machine.RecognizeTimeout),
		positive("machine.pin_timeout", c.Machine.PinTimeout),
		positive("machine.lockout_base", c.Machine.LockoutBase),
		positive("machine.unlock_duration", c.Machine.UnlockDuration),
		positive("machine.cooldown", c.Machine.Cooldown),
		positive("pins.max_open", c.Pins.MaxOpen),
		positive("retention.max_age", c.Retention.MaxAge),
		positive("http.heartbeat", c.HTTP.Heartbeat),
		atLeast("machine.k", int64(c.Machine.K), 1),
		atLeast("machine.n", int64(c.Machine.N), int64(max(c.Machine.K, 1))),
		atLeast("machine.max_frames", int64(c.Machine.MaxFrames), int64(c.Machine.N)),
		atLeast("machine.max_pin_tries", int64(c.Machine.MaxPinTries), 1),
		atLeast("machine.lockout_after", int64(c.Machine.LockoutAfter), 1),
		atLeast("pin.min_length", int64(c.PIN.MinLength), 4),
		atLeast("vision.workers", int64(c.Vision.Workers), 1),
		atLeast("vision.max_bytes", c.Vision.MaxBytes, 1024),
		atLeast("vision.max_width", int64(c.Vision.MaxWidth), 64),
		atLeast("vision.max_height", int64(c.Vision.MaxHeight), 64),
		atLeast("http.queue_size", int64(c.HTTP.QueueSize), 1),
		atLeast("retention.max_bytes", c.Retention.MaxBytes, 0),
	}
	if c.Machine.Threshold <= 0 || c.Machine.Threshold >= 2 {
		checks = append(checks, &configError{"machine.threshold", fmt.Sprint(c.Machine.Threshold), "a distance between 0 and 2 (see `doorface calibrate`)"})
	}
	if c.Machine.MinMargin < 0 {
		checks = append(checks, &configError{"machine.min_margin", fmt.Sprint(c.Machine.MinMargin), "a distance >= 0"})
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		checks = append(checks, &configError{"tls.cert", c.TLS.Cert, "tls.cert and tls.key are given together or not at all"})
	}
	if c.Pins.Relay == "" {
		checks = append(checks, &configError{"pins.relay", "", "a GPIO line name such as GPIO17"})
	}
	if c.Pins.MaxOpen < c.Machine.UnlockDuration {
		checks = append(checks, &configError{"pins.max_open", c.Pins.MaxOpen.String(), "at least machine.unlock_duration (" + c.Machine.UnlockDuration.String() + ")"})
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

// printConfig writes the effective configuration as YAML (usable as a config file) with secrets masked.
func printConfig(w io.Writer, c Config) error {
	root := map[string]any{}
	for _, f := range fields(&c) {
		var v any = f.v.Interface()
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		if f.secret && f.v.String() != "" {
			v = "********"
		}
		parts := strings.Split(f.key, ".")
		m := root
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	out, err := yaml.Marshal(root)
	if err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	_, err = w.Write(out)
	return err
}
