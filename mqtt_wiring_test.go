package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/mqtt"
	"github.com/doorface/doorface/store"
)

func TestMQTTSignCommand(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout (0) or stderr
	}{
		{"unlock", []string{"mqtt", "sign", "unlock", "--by", "alice", "--data", data}, 0, `"sig"`},
		{"no by", []string{"mqtt", "sign", "unlock", "--data", data}, 2, "--by is required"},
		{"unknown command", []string{"mqtt", "sign", "open", "--by", "a", "--data", data}, 2, "unknown command"},
		{"no sign", []string{"mqtt"}, 2, "usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != tc.code {
				t.Fatalf("code %d, want %d; stderr %s", code, tc.code, errb.String())
			}
			got := errb.String()
			if tc.code == 0 {
				got = out.String()
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("output %q lacks %q", got, tc.want)
			}
			if tc.code != 0 {
				return
			}
			secret, created, err := mqtt.LoadOrCreateSecret(data)
			if err != nil || created {
				t.Fatalf("secret: created=%v %v", created, err)
			}
			c, err := mqtt.NewVerifier(secret, mqtt.DefaultDoorID, time.Minute, nil).Verify(bytes.TrimSpace(out.Bytes()))
			if err != nil || c.Cmd != "unlock" || c.By != "alice" {
				t.Fatalf("the printed envelope does not verify: %+v %v", c, err)
			}
		})
	}
}

func TestRefusalsAreAudited(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "doorface.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := (refusals{db}).RecordRefusal(mqtt.Refusal{At: at, Cmd: "unlock", By: "mallory", Reason: "replay: nonce already seen"}); err != nil {
		t.Fatal(err)
	}
	var got []store.Attempt
	if err := db.Attempts(store.Filter{}, func(a store.Attempt) error { got = append(got, a); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Outcome != "denied" || got[0].Method != "remote" || !strings.Contains(got[0].Reason, "replay") || !strings.Contains(got[0].Reason, "mallory") {
		t.Fatalf("audit = %+v, want one denied remote record naming the reason and who claimed it", got)
	}
}
