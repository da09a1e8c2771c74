package transport

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// TokenFile is the name of the file under the data directory that keeps generated tokens.
const TokenFile = "tokens.json"

// minTokenLen is the shortest token New accepts: tokens are secrets, not passwords to remember.
const minTokenLen = 16

// tokenMatches reports whether the SHA-256 of a presented bearer token equals the SHA-256 of a
// configured one, in time that does not depend on where they differ.
//
// Why crypto/subtle and not == or bytes.Equal: those return at the first differing byte, so
// the answer time tells a client on the network how many leading bytes of its guess are right,
// and a token can be recovered byte by byte (the timing side channel behind accepted forged
// logins on door controllers). subtle.ConstantTimeCompare reads every byte of both values.
// Why hashes and not the tokens themselves: ConstantTimeCompare returns at once when the lengths
// differ, which would reveal the token's length; the digests always have sha256.Size bytes, and
// the client does not choose the digest bytes it is compared on. Callers compare against every
// role's token, never stopping at the first match, so which role matched does not show either.
func tokenMatches(presented, configured [sha256.Size]byte) bool {
	return subtle.ConstantTimeCompare(presented[:], configured[:]) == 1
}

// Tokens are the bearer tokens of the two roles: Door (the tablet) and Admin (the installer).
type Tokens struct {
	Door  string `json:"door"`
	Admin string `json:"admin"`
}

// validate checks that both tokens are long enough and distinct.
func (t Tokens) validate() error {
	switch {
	case len(t.Door) < minTokenLen:
		return fmt.Errorf("door token shorter than %d characters: %w", minTokenLen, ErrBadTokens)
	case len(t.Admin) < minTokenLen:
		return fmt.Errorf("admin token shorter than %d characters: %w", minTokenLen, ErrBadTokens)
	case t.Door == t.Admin:
		return fmt.Errorf("door and admin tokens are equal: %w", ErrBadTokens)
	}
	return nil
}

// LoadOrCreateTokens returns the tokens to use. A non-empty field of given (from config or the
// environment) wins. Otherwise the tokens are read from dataDir/tokens.json; when that file does
// not exist, two random 32-byte tokens are generated and written there with mode 0600, and created
// is true so the caller prints them once. A token file readable by group or others is refused.
func LoadOrCreateTokens(dataDir string, given Tokens) (Tokens, bool, error) {
	if given.Door != "" && given.Admin != "" {
		if err := given.validate(); err != nil {
			return Tokens{}, false, err
		}
		return given, false, nil
	}
	path := filepath.Join(dataDir, TokenFile)
	file, err := readTokenFile(path)
	created := false
	if errors.Is(err, fs.ErrNotExist) {
		file, err = createTokenFile(dataDir, path)
		created = err == nil
	}
	if err != nil {
		return Tokens{}, false, err
	}
	if given.Door != "" {
		file.Door = given.Door
	}
	if given.Admin != "" {
		file.Admin = given.Admin
	}
	if err := file.validate(); err != nil {
		return Tokens{}, false, err
	}
	return file, created, nil
}

// readTokenFile reads and checks an existing token file.
func readTokenFile(path string) (Tokens, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Tokens{}, err
		}
		return Tokens{}, fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return Tokens{}, fmt.Errorf("%w: %s has mode %#o, readable by others; run chmod 600 %s",
			ErrTokenFile, path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Tokens{}, fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	var t Tokens
	if err := json.Unmarshal(b, &t); err != nil {
		return Tokens{}, fmt.Errorf("%w: %s is not valid JSON: %w", ErrTokenFile, path, err)
	}
	if t.Door == "" || t.Admin == "" {
		return Tokens{}, fmt.Errorf("%w: %s lacks the door or admin token (delete it to generate new ones)",
			ErrTokenFile, path)
	}
	return t, nil
}

// createTokenFile generates tokens and writes them durably to path with mode 0600. It never
// replaces an existing file (a concurrent first start loses cleanly).
func createTokenFile(dataDir, path string) (Tokens, error) {
	t := Tokens{Door: randomToken(), Admin: randomToken()}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return Tokens{}, fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return Tokens{}, fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	tmp, err := os.CreateTemp(dataDir, ".tokens-*.tmp")
	if err != nil {
		return Tokens{}, fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(append(b, '\n'))
	if werr == nil {
		werr = tmp.Chmod(0o600)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return Tokens{}, fmt.Errorf("%w: %w", ErrTokenFile, werr)
	}
	// Link (not rename) so an existing file is never replaced.
	if err := os.Link(tmp.Name(), path); err != nil {
		return Tokens{}, fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	if d, err := os.Open(dataDir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return t, nil
}

// randomToken returns 32 random bytes, base64url without padding (43 characters).
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+): it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b[:])
}
