package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/config"
	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/store"
)

// TestDaemonWiresDoorInputs runs the daemon in-process on the simulated board, so the test can play
// the hardware side: the exit button opens the door for the unlock time and is audited like any
// other opening, and the door contact reaches /v1/state and the event stream.
func TestDaemonWiresDoorInputs(t *testing.T) {
	models := testkit.Models(t)
	cfg := config.Default()
	cfg.Data, cfg.Models, cfg.HW, cfg.Listen = t.TempDir(), models, "sim", testkit.FreePort(t)
	cfg.Vision.Workers = 1
	cfg.Machine.UnlockDuration = 800 * time.Millisecond
	cfg.Tokens.Door, cfg.Tokens.Admin = "door-token-wiring-0123", "admin-token-wiring-0123"
	cfg.TLS.InsecureHTTP = true // plain HTTP on loopback; TestServeTLS covers HTTPS
	logs := &testkit.LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	d, stop := runInProcess(t, cfg, log)
	b := d.board
	admin := testkit.NewAPI(t, "http://"+cfg.Listen, cfg.Tokens.Admin)
	waitFor(t, "the API", func() bool {
		resp, err := http.Get("http://" + cfg.Listen + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	// The exit button opens the door for the unlock time, then it locks again. The press waits
	// for the button's first debounced level: a press at start reads as a stuck button.
	waitFor(t, "the exit button's first level", b.Exit.Settled)
	b.Sim.PressExit()
	waitFor(t, "the relay to open", b.Relay.Unlocked)
	opened := time.Now()
	waitFor(t, "the relay to lock again", func() bool { return !b.Relay.Unlocked() })
	if held := time.Since(opened); held < 600*time.Millisecond || held > 3*time.Second {
		t.Errorf("exit button held the door open %v, want the unlock time (800ms)", held)
	}
	var exits []store.Attempt
	if err := d.db.Attempts(store.Filter{}, func(a store.Attempt) error {
		exits = append(exits, a)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(exits) != 1 || exits[0].Outcome != "granted" || exits[0].Method != "exit_button" {
		t.Fatalf("audit after one exit press = %+v, want one granted exit_button record", exits)
	}

	// The door contact is reported.
	b.Sim.SetDoor(true)
	waitFor(t, "the door to read open", func() bool {
		var s struct{ Door string }
		admin.JSON(http.MethodGet, "/v1/state", nil, http.StatusOK, &s)
		return s.Door == "open"
	})
	// The status light is reported as people at the door see it: one colour per LED.
	if st := admin.State(); len(st.Light) != 1 || !strings.HasPrefix(st.Light[0], "#") {
		t.Fatalf("state light = %q, want one #rrggbb colour for the mono LED", st.Light)
	}

	if code := stop(); code != 0 {
		t.Fatalf("run returned %d", code)
	}
	if b.Relay.Unlocked() {
		t.Fatal("relay unlocked after shutdown")
	}
	for _, secret := range []string{cfg.Tokens.Door, cfg.Tokens.Admin} {
		if bytes.Contains([]byte(logs.String()), []byte(secret)) {
			t.Fatalf("a token appears in the log")
		}
	}
	var line map[string]any
	if err := json.Unmarshal(bytes.SplitN([]byte(logs.String()), []byte("\n"), 2)[0], &line); err != nil {
		t.Fatalf("log is not JSON lines: %v", err)
	}
}
