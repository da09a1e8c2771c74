package mqtt

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// SecretFile is the command secret's file name in the data directory (mode 0600, 64 hex digits).
const SecretFile = "mqtt-command.key"

// The commands a door accepts on <prefix>/<door_id>/command.
const (
	CmdUnlock   = "unlock"   // open the door once: a granted audit record, method remote
	CmdLockdown = "lockdown" // refuse frames, PINs and remote unlocks until release; the exit button still opens
	CmdRelease  = "release"  // end a lockdown
)

// Command is one remote command, the signed part of an Envelope.
type Command struct {
	Cmd   string `json:"cmd"`   // unlock, lockdown or release
	Door  string `json:"door"`  // the door id it is meant for: a command for another door is refused
	By    string `json:"by"`    // who asks (a person or system; goes to the audit record)
	TS    int64  `json:"ts"`    // Unix seconds when it was signed
	Nonce string `json:"nonce"` // 16 to 64 characters, never reused
}

// Envelope is the payload published on the command topic: the command's exact JSON bytes as a
// string, and the hex HMAC-SHA256 of those bytes under the door's command secret. Signing the
// bytes as sent avoids any canonical-JSON question.
type Envelope struct {
	Command string `json:"command"`
	Sig     string `json:"sig"`
}

// Sign builds the envelope of c under secret.
func Sign(secret []byte, c Command) ([]byte, error) {
	inner, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("mqtt: sign: %w", err)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(inner)
	return json.Marshal(Envelope{Command: string(inner), Sig: hex.EncodeToString(mac.Sum(nil))})
}

// NewNonce returns a fresh random nonce for a Command.
func NewNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Verifier checks command envelopes: signature, door, timestamp within Skew of Now, and a nonce
// not seen within the window (nonces are remembered for twice the skew, at most maxNonces).
type Verifier struct {
	secret []byte
	door   string
	skew   time.Duration
	now    func() time.Time

	// mu guards seen.
	mu   sync.Mutex
	seen map[string]time.Time // nonce -> when it stops mattering
}

// maxNonces bounds the replay cache; only correctly signed commands reach it.
const maxNonces = 10000

// NewVerifier returns a Verifier for door. now may be nil (time.Now).
func NewVerifier(secret []byte, door string, skew time.Duration, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{secret: secret, door: door, skew: skew, now: now, seen: map[string]time.Time{}}
}

// Verify returns the command in payload if it is authentic, fresh and new; otherwise an error
// wrapping ErrUnsigned, ErrBadSignature, ErrBadCommand, ErrStale or ErrReplay. When the signature
// was valid the returned Command is filled even on error (so a refusal can name who asked).
func (v *Verifier) Verify(payload []byte) (Command, error) {
	var env Envelope
	if err := json.Unmarshal(payload, &env); err != nil || env.Command == "" {
		return Command{}, fmt.Errorf("%w: the payload is not a signed envelope", ErrUnsigned)
	}
	if env.Sig == "" {
		return Command{}, fmt.Errorf("%w: no sig", ErrUnsigned)
	}
	sig, err := hex.DecodeString(env.Sig)
	if err != nil {
		return Command{}, fmt.Errorf("%w: sig is not hex", ErrBadSignature)
	}
	mac := hmac.New(sha256.New, v.secret)
	mac.Write([]byte(env.Command))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return Command{}, ErrBadSignature
	}
	var c Command
	if err := json.Unmarshal([]byte(env.Command), &c); err != nil {
		return Command{}, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	switch {
	case c.Cmd != CmdUnlock && c.Cmd != CmdLockdown && c.Cmd != CmdRelease:
		return c, fmt.Errorf("%w: cmd %q (unlock, lockdown or release)", ErrBadCommand, c.Cmd)
	case c.Door != v.door:
		return c, fmt.Errorf("%w: door %q is not this door (%q)", ErrBadCommand, c.Door, v.door)
	case len(c.Nonce) < 16 || len(c.Nonce) > 64:
		return c, fmt.Errorf("%w: nonce of %d characters (16 to 64)", ErrBadCommand, len(c.Nonce))
	case c.By == "" || len(c.By) > 64 || strings.ContainsAny(c.By, "\n\r"):
		return c, fmt.Errorf("%w: by must name who asks (1 to 64 characters, one line)", ErrBadCommand)
	}
	now := v.now()
	at := time.Unix(c.TS, 0)
	if d := now.Sub(at); d > v.skew || d < -v.skew {
		return c, fmt.Errorf("%w: signed %s from the door's clock (allowed %s)", ErrStale, d.Round(time.Second), v.skew)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for n, until := range v.seen {
		if now.After(until) {
			delete(v.seen, n)
		}
	}
	if _, ok := v.seen[c.Nonce]; ok {
		return c, ErrReplay
	}
	if len(v.seen) >= maxNonces {
		return c, fmt.Errorf("%w: too many recent commands to remember their nonces", ErrReplay)
	}
	v.seen[c.Nonce] = at.Add(2 * v.skew)
	return c, nil
}

// LoadOrCreateSecret reads the command secret from dir/SecretFile, creating it (32 random bytes,
// hex, mode 0600) when it does not exist. A secret file readable by others is refused.
func LoadOrCreateSecret(dir string) (secret []byte, created bool, err error) {
	path := filepath.Join(dir, SecretFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrSecret, err)
		}
		if err := writeFileAtomic(path, []byte(hex.EncodeToString(raw)+"\n"), 0o600); err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrSecret, err)
		}
		return raw, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrSecret, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrSecret, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("%w: %s has mode %04o; chmod 600 it", ErrSecret, path, st.Mode().Perm())
	}
	secret, err = hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) < 16 {
		return nil, false, fmt.Errorf("%w: %s does not hold at least 32 hex digits", ErrSecret, path)
	}
	return secret, false, nil
}

// writeFileAtomic writes data to path through a synced temporary file and a rename.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
