package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestCLIHelpTouchesNothing: every command's help exits 0, prints to stdout, lists only its own
// flags, and creates nothing (no ./data, no PIN key), as a new user trying `-h` expects.
func TestCLIHelpTouchesNothing(t *testing.T) {
	tests := []struct {
		args    []string
		has     string // a flag the command has
		hasNot  string // a flag it must not list
		usageOK bool   // the usage line is enough (no flags of its own)
	}{
		{args: []string{"serve", "--help"}, has: "-insecure-http"},
		{args: []string{"serve", "-h"}, has: "-listen"},
		{args: []string{"config", "print", "-h"}, has: "-listen"},
		{args: []string{"enroll", "-h"}, has: "-pin-stdin", hasNot: "-listen"},
		{args: []string{"users", "list", "-h"}, has: "-data", hasNot: "-hw"},
		{args: []string{"users", "-h"}, usageOK: true},
		{args: []string{"users", "--help"}, usageOK: true},
		{args: []string{"audit", "export", "-h"}, has: "-format", hasNot: "-listen"},
		{args: []string{"audit", "verify", "-h"}, has: "-head", hasNot: "-format"},
		{args: []string{"calibrate", "-h"}, has: "-engine", hasNot: "-data"},
		{args: []string{"db", "compact", "-h"}, has: "-data", hasNot: "-models"},
		{args: []string{"db", "-h"}, usageOK: true},
		{args: []string{"models", "check", "-h"}, has: "-models", hasNot: "-data"},
		{args: []string{"lockout", "reset", "-h"}, has: "-data", hasNot: "-models"},
		{args: []string{"tls", "fingerprint", "-h"}, has: "-data"},
		{args: []string{"tokens", "show", "-h"}, has: "-data"},
		{args: []string{"replay", "-h"}, has: "-tls-fingerprint", hasNot: "-token"},
		{args: []string{"version", "-h"}, has: "-models"},
		{args: []string{"help"}, usageOK: true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Chdir(t.TempDir())
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d; stdout %q stderr %q", code, stdout.String(), stderr.String())
			}
			out := stdout.String()
			if !strings.Contains(out, "usage") {
				t.Fatalf("no usage on stdout: %q (stderr %q)", out, stderr.String())
			}
			if !tc.usageOK && !strings.Contains(out, tc.has) {
				t.Errorf("help does not list %s:\n%s", tc.has, out)
			}
			if tc.hasNot != "" && strings.Contains(out, "\n  "+tc.hasNot+" ") {
				t.Errorf("help lists %s, which this command does not use:\n%s", tc.hasNot, out)
			}
			if ents, _ := os.ReadDir("."); len(ents) != 0 {
				t.Errorf("help created %v", ents)
			}
		})
	}
}

// TestOfflineCommandsNeverCreateADatabase: offline commands pointed at a folder without a
// database say so and create nothing; a typo is a usage error that creates nothing either.
func TestOfflineCommandsNeverCreateADatabase(t *testing.T) {
	for _, args := range [][]string{
		{"users", "list"}, {"users", "delete", "0123abcd"}, {"audit", "verify"}, {"audit", "head"},
		{"audit", "export", "--format", "csv", "--out", "out"}, {"lockout", "reset"}, {"db", "compact"},
		{"tokens", "show"}, {"tls", "fingerprint"}, {"users", "lsit"}, {"audti", "verify"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Chdir(t.TempDir())
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code == 0 {
				t.Fatalf("exit 0 without a database: %q", stdout.String())
			}
			if _, err := os.Stat("data"); err == nil {
				t.Fatalf("created ./data (stderr %q)", stderr.String())
			}
		})
	}
}
