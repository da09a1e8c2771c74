package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
			c, _, err := loadConfig("serve", tc.args, tc.env, io.Discard)
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, "c.yaml", tc.file))
			}
			_, _, err := loadConfig("serve", args, tc.env, io.Discard)
			var ce *configError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a configError", err)
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Fatalf("error %q does not name %q", err, tc.wantKey)
			}
		})
	}
}

func TestConfigPrintMasksSecretsAndRoundTrips(t *testing.T) {
	c, _, err := loadConfig("serve", nil, []string{"DOORFACE_DOOR_TOKEN=supersecret-door", "DOORFACE_MACHINE_COOLDOWN=7s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := printConfig(&buf, c); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "supersecret") || !strings.Contains(out, "********") {
		t.Fatalf("secret not masked:\n%s", out)
	}
	// The printed config (with the token removed) loads back to the same values.
	noSecret := strings.ReplaceAll(out, `'********'`, `""`)
	noSecret = strings.ReplaceAll(noSecret, `"********"`, `""`)
	noSecret = strings.ReplaceAll(noSecret, `********`, `""`)
	back, _, err := loadConfig("serve", []string{"--config", writeFile(t, "p.yaml", noSecret)}, nil, io.Discard)
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, out)
	}
	if back.Machine.Cooldown != 7*time.Second || back.Listen != c.Listen || back.Vision.Workers != c.Vision.Workers {
		t.Fatalf("round trip lost values: %+v", back)
	}
}
