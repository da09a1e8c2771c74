package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/vision/params"
)

// load parses args as serve does (every configuration flag) and loads with env.
func load(args, env []string) (Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := AddFlags(fs, "listen", "data", "models", "hw", "log_format")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	return f.Load(env)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "c.yaml", "listen: ':7000'\nmachine:\n  unlock_duration: 4s\n  k: 3\n  n: 5\nvision:\n  workers: 3\n")
	tests := []struct {
		name  string
		args  []string
		env   []string
		check func(c Config) string
	}{
		{"defaults", nil, nil, func(c Config) string {
			if c.Listen != ":8080" || c.Machine.UnlockDuration != 3*time.Second || c.Machine.K != 2 {
				return "defaults not applied"
			}
			return ""
		}},
		{"file over defaults", []string{"--config", file}, nil, func(c Config) string {
			if c.Listen != ":7000" || c.Machine.UnlockDuration != 4*time.Second || c.Machine.K != 3 || c.Vision.Workers != 3 {
				return "file not applied"
			}
			return ""
		}},
		{"env over file", []string{"--config", file}, []string{"DOORFACE_MACHINE_UNLOCK_DURATION=5s", "DOORFACE_LISTEN=:7001"}, func(c Config) string {
			if c.Machine.UnlockDuration != 5*time.Second || c.Listen != ":7001" || c.Machine.K != 3 {
				return "env did not win over file"
			}
			return ""
		}},
		{"flag over env", []string{"--config", file, "--listen", ":7002"}, []string{"DOORFACE_LISTEN=:7001"}, func(c Config) string {
			if c.Listen != ":7002" {
				return "flag did not win over env"
			}
			return ""
		}},
		{"token aliases", nil, []string{"DOORFACE_DOOR_TOKEN=d0", "DOORFACE_ADMIN_TOKEN=a0"}, func(c Config) string {
			if c.Tokens.Door != "d0" || c.Tokens.Admin != "a0" {
				return "token aliases ignored"
			}
			return ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c); msg != "" {
				t.Fatalf("%s: %+v", msg, c)
			}
		})
	}
}

func TestConfigInvalidNamesKey(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     []string
		file    string
		wantKey string
	}{
		{"bad hw flag", []string{"--hw", "fpga"}, nil, "", "hw="},
		{"bad duration env", nil, []string{"DOORFACE_MACHINE_COOLDOWN=soon"}, "", "machine.cooldown="},
		{"k greater than n", nil, []string{"DOORFACE_MACHINE_K=4"}, "", "machine.n="},
		{"unknown file key", nil, nil, "machine:\n  unlok_duration: 3s\n", "machine.unlok_duration="},
		{"threshold out of range", nil, nil, "machine:\n  threshold: 7\n", "machine.threshold="},
		{"watchdog shorter than unlock", nil, []string{"DOORFACE_PINS_MAX_OPEN=1s"}, "", "pins.max_open="},
		{"tls half given", nil, []string{"DOORFACE_TLS_CERT=/x.pem"}, "", "tls.cert="},
		{"short pin policy", nil, []string{"DOORFACE_PIN_MIN_LENGTH=2"}, "", "pin.min_length="},
		{"mqtt on without a broker", nil, []string{"DOORFACE_MQTT_ENABLED=true"}, "", "mqtt.broker="},
		{"mqtt door id with a wildcard", nil, []string{"DOORFACE_MQTT_DOOR_ID=a+b"}, "", "mqtt.door_id="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, "c.yaml", tc.file))
			}
			_, err := load(args, tc.env)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Fatalf("error %q does not name %q", err, tc.wantKey)
			}
		})
	}
}

func TestConfigPrintOmitsSecretsAndRoundTrips(t *testing.T) {
	c, err := load(nil, []string{"DOORFACE_DOOR_TOKEN=supersecret-door", "DOORFACE_MACHINE_COOLDOWN=7s"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Print(&buf, c); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "supersecret") || !strings.Contains(out, "tokens.json") {
		t.Fatalf("token printed, or no word on where tokens live:\n%s", out)
	}
	// The printed config loads back, as it is, to the same values.
	back, err := load([]string{"--config", writeFile(t, "p.yaml", out)}, nil)
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, out)
	}
	if back.Machine.Cooldown != 7*time.Second || back.Listen != c.Listen || back.Vision.Workers != c.Vision.Workers {
		t.Fatalf("round trip lost values: %+v", back)
	}
	if back.Tokens.Door != "" {
		t.Fatalf("a token came back from the printed file: %q", back.Tokens.Door)
	}
}

// TestConfigFileWithTokenMustBePrivate: a file holding a token is refused when other users can read
// it, like the tokens file; without a token the mode does not matter.
func TestConfigFileWithTokenMustBePrivate(t *testing.T) {
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr bool
	}{
		{"token, 0600", "tokens:\n  door: door-token-123456789\n", 0o600, false},
		{"token, 0644", "tokens:\n  door: door-token-123456789\n", 0o644, true},
		{"no token, 0644", "listen: ':7000'\n", 0o644, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "c.yaml", tc.content)
			if err := os.Chmod(p, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := load([]string{"--config", p}, nil)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, errSecretFile) {
				t.Fatalf("err = %v, want errSecretFile", err)
			}
		})
	}
}

// TestEveryKeyHasOneHome: every key is set from its environment variable (so no setting is
// mirrored or lost between the packages' Config types and this one), and keys are unique.
func TestEveryKeyHasOneHome(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys() {
		if seen[k] {
			t.Fatalf("key %s twice", k)
		}
		seen[k] = true
	}
	for _, want := range []string{"machine.threshold", "machine.min_margin", "vision.workers", "pin.min_length",
		"retention.max_age", "pins.relay", "http.queue_size", "tokens.door", "mqtt.broker", "mqtt.door_id", "mqtt.password"} {
		if !seen[want] {
			t.Errorf("key %s missing; keys: %v", want, Keys())
		}
	}
	if seen["vision.threshold"] {
		t.Error("the threshold has a second home under vision")
	}
}

// TestConfigEngine: vision.engine selects the engine, the machine's threshold and margin follow
// it unless set, and an unknown engine is refused.
func TestConfigEngine(t *testing.T) {
	c, err := load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if thr, margin := params.DefaultThresholds(params.DefaultEngine); c.Vision.Engine != params.DefaultEngine ||
		c.Machine.Threshold != thr || c.Machine.MinMargin != margin {
		t.Errorf("defaults: engine %q threshold %g margin %g", c.Vision.Engine, c.Machine.Threshold, c.Machine.MinMargin)
	}
	c, err = load([]string{"--config", writeFile(t, "c.yaml", "vision:\n  engine: dlib\n")}, nil)
	if thr, margin := params.DefaultThresholds(params.EngineDlib); err != nil || c.Vision.Engine != params.EngineDlib ||
		c.Machine.Threshold != thr || c.Machine.MinMargin != margin {
		t.Errorf("dlib: engine %q threshold %g margin %g, %v", c.Vision.Engine, c.Machine.Threshold, c.Machine.MinMargin, err)
	}
	c, err = load([]string{"--config", writeFile(t, "c2.yaml", "vision:\n  engine: dlib\nmachine:\n  threshold: 0.45\n")}, nil)
	if err != nil || c.Machine.Threshold != 0.45 {
		t.Errorf("an explicit threshold: %g, %v", c.Machine.Threshold, err)
	}
	_, err = load([]string{"--config", writeFile(t, "c3.yaml", "vision:\n  engine: arcface\n")}, nil)
	var ce *Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "vision.engine=") {
		t.Errorf("vision.engine arcface: %v", err)
	}
}
