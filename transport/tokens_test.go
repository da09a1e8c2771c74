package transport

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateTokens(t *testing.T) {
	long := func(c byte) string {
		b := make([]byte, 24)
		for i := range b {
			b[i] = c
		}
		return string(b)
	}
	t.Run("created once with mode 0600 then read back", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		tok, created, err := LoadOrCreateTokens(dir, Tokens{})
		if err != nil || !created {
			t.Fatalf("first start: created=%v err=%v", created, err)
		}
		if len(tok.Door) != 43 || len(tok.Admin) != 43 || tok.Door == tok.Admin {
			t.Fatalf("tokens %d/%d chars, equal=%v", len(tok.Door), len(tok.Admin), tok.Door == tok.Admin)
		}
		fi, err := os.Stat(filepath.Join(dir, TokenFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("token file: %v %v", fi.Mode(), err)
		}
		again, created, err := LoadOrCreateTokens(dir, Tokens{})
		if err != nil || created || again != tok {
			t.Fatalf("second start: created=%v err=%v same=%v", created, err, again == tok)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			t.Fatalf("data dir holds %d entries, want only %s", len(entries), TokenFile)
		}
	})
	t.Run("given tokens win and touch no file", func(t *testing.T) {
		dir := t.TempDir()
		given := Tokens{Door: long('d'), Admin: long('a')}
		tok, created, err := LoadOrCreateTokens(dir, given)
		if err != nil || created || tok != given {
			t.Fatalf("got %v created=%v err=%v", tok, created, err)
		}
		if _, err := os.Stat(filepath.Join(dir, TokenFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("token file written although both tokens were given: %v", err)
		}
	})
	t.Run("one given token overrides the file's", func(t *testing.T) {
		dir := t.TempDir()
		first, _, err := LoadOrCreateTokens(dir, Tokens{})
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := LoadOrCreateTokens(dir, Tokens{Admin: long('a')})
		if err != nil || tok.Door != first.Door || tok.Admin != long('a') {
			t.Fatalf("got %+v err=%v", tok, err)
		}
	})
	t.Run("file readable by others is refused", func(t *testing.T) {
		dir := t.TempDir()
		if _, _, err := LoadOrCreateTokens(dir, Tokens{}); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, TokenFile), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreateTokens(dir, Tokens{}); !errors.Is(err, ErrTokenFile) {
			t.Fatalf("err = %v, want ErrTokenFile", err)
		}
	})
	t.Run("malformed file is refused", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, TokenFile), []byte(`{"door":"x"`), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreateTokens(dir, Tokens{}); !errors.Is(err, ErrTokenFile) {
			t.Fatalf("err = %v, want ErrTokenFile", err)
		}
	})
	t.Run("short or equal given tokens are refused", func(t *testing.T) {
		for _, tok := range []Tokens{{Door: "short", Admin: long('a')}, {Door: long('x'), Admin: long('x')}} {
			if _, _, err := LoadOrCreateTokens(t.TempDir(), tok); !errors.Is(err, ErrBadTokens) {
				t.Fatalf("%+v: err = %v, want ErrBadTokens", tok, err)
			}
		}
	})
}

// TestTokenMatches pins the behaviour of the constant-time comparison behind every bearer token
// check (no timing test: the property is that crypto/subtle does the comparing, see the doc
// comment of tokenMatches).
func TestTokenMatches(t *testing.T) {
	const door, admin = "door-token-0123456789abcdef", "admin-token-0123456789abcdef"
	flip := func(tok string, i int) string {
		b := []byte(tok)
		b[i] ^= 1
		return string(b)
	}
	for _, tc := range []struct {
		name      string
		presented string
		want      bool
	}{
		{"the same token", door, true},
		{"first byte differs", flip(door, 0), false},
		{"last byte differs", flip(door, len(door)-1), false},
		{"a prefix of the token", door[:len(door)-1], false},
		{"the token with a suffix", door + "x", false},
		{"empty", "", false},
		{"the other role's token", admin, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tokenMatches(sha256.Sum256([]byte(tc.presented)), sha256.Sum256([]byte(door))); got != tc.want {
				t.Fatalf("tokenMatches(%q) = %v, want %v", tc.presented, got, tc.want)
			}
		})
	}

	// roleOf, which uses it for both roles.
	s := &Server{doorHash: sha256.Sum256([]byte(door)), admHash: sha256.Sum256([]byte(admin))}
	for _, tc := range []struct {
		header string
		want   Role
	}{
		{"Bearer " + door, RoleDoor},
		{"bearer " + admin, RoleAdmin},
		{"Bearer  " + door + " ", RoleDoor},
		{"Bearer " + flip(admin, 3), ""},
		{"Basic " + door, ""},
		{door, ""},
		{"Bearer ", ""},
		{"", ""},
	} {
		if got := s.roleOf(tc.header); got != tc.want {
			t.Errorf("roleOf(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}
