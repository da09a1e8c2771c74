package mqtt

import (
	"errors"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/doorface/doorface/machine"
)

// refusalAuditEvery bounds the audit records of refused commands: at most one per interval (the
// rest are logged and counted), so a flood of junk on the command topic cannot fill the audit.
const refusalAuditEvery = time.Second

// onCommand handles one message of the command topic (paho runs it on its own goroutine).
func (b *Bridge) onCommand(_ paho.Client, msg paho.Message) {
	res := b.handle(msg.Payload())
	res.At = b.now()
	select {
	case b.resultSlots <- struct{}{}: // a flood of commands cannot pile up waiting publishes
		go func() {
			defer func() { <-b.resultSlots }()
			b.publish(b.topics.Result, false, mustJSON(res))
		}()
	default:
		b.log.Warn("command result not published: too many in flight", "cmd", res.Cmd, "error", res.Error)
	}
}

// handle verifies and runs one command and returns its result.
func (b *Bridge) handle(payload []byte) Result {
	c, err := b.verifier.Verify(payload)
	if err != nil {
		code := refusalCode(err)
		b.metrics.commands.WithLabelValues(metricCmd(c.Cmd), code).Inc()
		b.refuse(c, code, err)
		return Result{Nonce: c.Nonce, Cmd: c.Cmd, Error: code}
	}
	log := b.log.With("cmd", c.Cmd, "by", c.By, "nonce", c.Nonce)
	switch c.Cmd {
	case CmdUnlock:
		err = b.door.RemoteUnlock(c.By + " via mqtt")
		if errors.Is(err, machine.ErrLockdown) {
			b.metrics.commands.WithLabelValues(c.Cmd, "lockdown").Inc()
			b.refuse(c, "lockdown", err)
			return Result{Nonce: c.Nonce, Cmd: c.Cmd, Error: "lockdown"}
		}
	case CmdLockdown, CmdRelease:
		on := c.Cmd == CmdLockdown
		if _, err = b.door.SetLockdown(on, c.By+" via mqtt"); err == nil {
			b.mu.Lock()
			b.lockdown, b.lockdownBy = on, ""
			if on {
				b.lockdownBy = c.By
			}
			b.mu.Unlock()
			if serr := b.save(); serr != nil {
				log.Error("save lockdown", "err", serr)
			}
			b.enqueue(Event{Type: TypeCommand, EventType: c.Cmd, At: b.now(), By: c.By}, b.topics.Events)
		}
	}
	if err != nil {
		log.Error("remote command failed", "err", err)
		b.metrics.commands.WithLabelValues(c.Cmd, "failed").Inc()
		return Result{Nonce: c.Nonce, Cmd: c.Cmd, Error: "failed"}
	}
	log.Warn("remote command done")
	b.metrics.commands.WithLabelValues(c.Cmd, "ok").Inc()
	b.kick()
	return Result{Nonce: c.Nonce, Cmd: c.Cmd, OK: true}
}

// refuse logs a refused command and records it in the audit (at most one record per
// refusalAuditEvery; every refusal is counted and logged).
func (b *Bridge) refuse(c Command, code string, err error) {
	now := b.now()
	b.mu.Lock()
	audit := b.audit != nil && now.Sub(b.lastAudit) >= refusalAuditEvery
	if audit {
		b.lastAudit = now
	}
	b.mu.Unlock()
	b.log.Warn("remote command refused", "reason", code, "cmd", c.Cmd, "by", c.By, "nonce", c.Nonce, "err", err, "audited", audit)
	if !audit {
		return
	}
	if aerr := b.audit.RecordRefusal(Refusal{At: now, Cmd: c.Cmd, By: c.By, Reason: code + ": " + err.Error()}); aerr != nil {
		b.log.Error("audit refused command", "err", aerr)
	}
}

// refusalCode is the short reason of a Verify error.
func refusalCode(err error) string {
	switch {
	case errors.Is(err, ErrUnsigned):
		return "unsigned"
	case errors.Is(err, ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrReplay):
		return "replay"
	}
	return "bad_command"
}

// metricCmd keeps the cmd label to the known commands.
func metricCmd(cmd string) string {
	switch cmd {
	case CmdUnlock, CmdLockdown, CmdRelease:
		return cmd
	}
	return "other"
}
