package mqtt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	cmd := func(mod func(*Command)) Command {
		c := Command{Cmd: CmdUnlock, Door: "front", By: "alice", TS: now.Unix(), Nonce: "00112233445566778899aabbccddeeff"}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	signed := func(c Command) []byte {
		b, err := Sign(secret, c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		want    error
	}{
		{"valid", signed(cmd(nil)), nil},
		{"plain UNLOCK from a lock card", []byte("UNLOCK"), ErrUnsigned},
		{"JSON without sig", []byte(`{"command":"{\"cmd\":\"unlock\"}"}`), ErrUnsigned},
		{"other secret", func() []byte { b, _ := Sign([]byte("another secret, 32 bytes long!!!"), cmd(nil)); return b }(), ErrBadSignature},
		{"sig not hex", []byte(`{"command":"{}","sig":"zz"}`), ErrBadSignature},
		{"31 s old", signed(cmd(func(c *Command) { c.TS -= 31 })), ErrStale},
		{"31 s ahead", signed(cmd(func(c *Command) { c.TS += 31 })), ErrStale},
		{"29 s old", signed(cmd(func(c *Command) { c.TS -= 29; c.Nonce = NewNonce() })), nil},
		{"other door", signed(cmd(func(c *Command) { c.Door = "back" })), ErrBadCommand},
		{"unknown cmd", signed(cmd(func(c *Command) { c.Cmd = "open_all" })), ErrBadCommand},
		{"short nonce", signed(cmd(func(c *Command) { c.Nonce = "1" })), ErrBadCommand},
		{"nobody asks", signed(cmd(func(c *Command) { c.By = "" })), ErrBadCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := NewVerifier(secret, "front", 30*time.Second, func() time.Time { return now })
			c, err := v.Verify(tc.payload)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Verify = %+v, %v; want %v", c, err, tc.want)
			}
			if tc.want == nil {
				if _, err := v.Verify(tc.payload); !errors.Is(err, ErrReplay) {
					t.Fatalf("the same envelope again = %v, want ErrReplay", err)
				}
			}
		})
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	s1, created, err := LoadOrCreateSecret(dir)
	if err != nil || !created || len(s1) != 32 {
		t.Fatalf("first = %x %v %v", s1, created, err)
	}
	st, err := os.Stat(filepath.Join(dir, SecretFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v %v, want 0600", st.Mode(), err)
	}
	s2, created, err := LoadOrCreateSecret(dir)
	if err != nil || created || string(s1) != string(s2) {
		t.Fatalf("second load = %x %v %v, want the same secret", s2, created, err)
	}
	if err := os.Chmod(filepath.Join(dir, SecretFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateSecret(dir); !errors.Is(err, ErrSecret) {
		t.Fatalf("world-readable secret = %v, want ErrSecret", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Enabled, ok.Broker = true, "tcp://127.0.0.1:1883"
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		key  string // "" = valid
	}{
		{"defaults, disabled", func(c *Config) { *c = DefaultConfig() }, ""},
		{"enabled", func(c *Config) {}, ""},
		{"no broker", func(c *Config) { c.Broker = "" }, "broker="},
		{"credentials in URL", func(c *Config) { c.Broker = "tcp://u:p@host:1883" }, "broker="},
		{"bad scheme", func(c *Config) { c.Broker = "http://host" }, "broker="},
		{"wildcard door", func(c *Config) { c.DoorID = "front/#" }, "door_id="},
		{"prefix with slash at end", func(c *Config) { c.Prefix = "site/" }, "prefix="},
		{"nested prefix", func(c *Config) { c.Prefix = "site/b1" }, ""},
		{"queue 0", func(c *Config) { c.Queue = 0 }, "queue="},
		{"cert without key", func(c *Config) { c.CertFile = "c.pem" }, "cert_file="},
		{"skew 0", func(c *Config) { c.CommandSkew = 0 }, "command_skew="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			switch {
			case tc.key == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tc.key != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.key)):
				t.Fatalf("Validate = %v, want ErrConfig naming %s", err, tc.key)
			}
		})
	}
}
