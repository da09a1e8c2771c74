package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/doorface/doorface/hw"
	"github.com/doorface/doorface/mqtt"
	"github.com/doorface/doorface/store"
)

// newMQTT builds the MQTT bridge when the mqtt section is enabled (d.mqtt stays nil otherwise).
// A new command secret is announced once on stdout, like the API tokens.
func (d *daemon) newMQTT(reg prometheus.Registerer, log *slog.Logger, stdout io.Writer) error {
	if !d.cfg.MQTT.Enabled {
		return nil
	}
	b, created, err := mqtt.New(mqtt.Options{
		Config: d.cfg.MQTT, DataDir: d.cfg.Data, Door: d.machine, Board: board{d.board},
		Audit: refusals{d.db}, Metrics: reg, Logger: log, Version: moduleVersion(),
	})
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stdout, "doorface: generated the MQTT command secret (stored in %s; remote commands are signed with it)\n",
			filepath.Join(d.cfg.Data, mqtt.SecretFile))
	}
	d.mqtt = b
	return nil
}

// startMQTT starts the bridge (it connects in the background and never delays the door).
func (d *daemon) startMQTT(ctx context.Context) {
	if d.mqtt != nil {
		d.mqtt.Start(ctx)
	}
}

// closeMQTT publishes "offline" and disconnects (bounded).
func (d *daemon) closeMQTT() {
	if d.mqtt != nil {
		d.mqtt.Close()
	}
}

// mqttDoorEvent hands one board event to the bridge (it only queues).
func (d *daemon) mqttDoorEvent(e hw.Event) {
	if d.mqtt != nil {
		d.mqtt.DoorEvent(string(e.Kind), e.At)
	}
}

// refusals writes refused remote commands to the audit chain: a denied record with method
// remote, a fresh id and the reason (the bridge limits them to one per second).
type refusals struct{ db *store.DB }

func (r refusals) RecordRefusal(f mqtt.Refusal) error {
	var id [16]byte
	_, _ = rand.Read(id[:])
	reason := "remote command refused: " + f.Reason
	if f.Cmd != "" || f.By != "" {
		reason += fmt.Sprintf(" (cmd %q, by %q as claimed)", f.Cmd, f.By)
	}
	_, err := r.db.RecordAttempt(store.Attempt{
		ID: hex.EncodeToString(id[:]), Start: f.At, End: f.At, Outcome: "denied", Method: "remote",
		BestDistance: -1, BestMargin: -1, Durations: map[string]float64{}, Reason: reason,
	}, nil)
	return err
}

// moduleVersion is the module version and short commit, for the Home Assistant device block.
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}

// mqttMain is `doorface mqtt sign CMD --by NAME`: it prints a command envelope signed with the
// data directory's command secret, for the door named by mqtt.door_id, to publish on the
// door's command topic (valid for mqtt.command_skew from now, once).
func mqttMain(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "sign" {
		fmt.Fprintln(stderr, "usage: doorface mqtt sign unlock|lockdown|release --by NAME [--data DIR] [--config FILE]")
		return 2
	}
	cmd := args[1]
	fs, cf := commandFlags("mqtt sign", "mqtt sign unlock|lockdown|release --by NAME", "data")
	by := fs.String("by", "", "who asks (written to the door's audit)")
	c, code, ok := loadCommand(fs, cf, args[2:], stdout, stderr)
	if !ok {
		return code
	}
	if *by == "" {
		fmt.Fprintln(stderr, "doorface mqtt sign: --by is required")
		return 2
	}
	switch cmd {
	case mqtt.CmdUnlock, mqtt.CmdLockdown, mqtt.CmdRelease:
	default:
		fmt.Fprintf(stderr, "doorface mqtt sign: unknown command %q (unlock, lockdown or release)\n", cmd)
		return 2
	}
	secret, _, err := mqtt.LoadOrCreateSecret(c.Data)
	if err != nil {
		fmt.Fprintf(stderr, "doorface mqtt sign: %v\n", err)
		return 1
	}
	env, err := mqtt.Sign(secret, mqtt.Command{Cmd: cmd, Door: c.MQTT.DoorID, By: *by, TS: time.Now().Unix(), Nonce: mqtt.NewNonce()})
	if err != nil {
		fmt.Fprintf(stderr, "doorface mqtt sign: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, string(env))
	return 0
}
