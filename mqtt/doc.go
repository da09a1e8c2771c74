// Package mqtt connects one door to the building's MQTT broker and to Home Assistant.
//
// # What it publishes
//
// Every topic is under <prefix>/<door_id>/ ([TopicsFor]):
//
//   - availability: "online" / "offline", retained; "offline" is also the client's last will,
//     so a crash or a pulled cable shows within the broker's keep-alive.
//   - state: [State], retained: the machine state, the relay, the door contact, the lockdown and
//     the last person granted.
//   - events: every decision, door event, alarm and accepted lockdown command as an [Event], QoS
//     1, not retained, each with the door's sequence number ([Event.Seq]).
//   - alarm: the alarms only (forced_open, held_open; duress and failures from the access
//     policy through [Bridge.Alarm]), a copy of their event with the same number.
//   - diagnostic: [Diagnostic], retained: relay fault, queued and dropped events.
//   - command (subscribed) and command/result: signed remote commands and their answers.
//
// With discovery on, the Home Assistant configs of [DiscoveryMessages] are published retained
// at every connection; with discovery off they are replaced by empty retained payloads, which
// removes the entities.
//
// # Never in the way of the door
//
// Nothing here blocks the machine or the HTTP path. Transitions arrive through
// machine.Subscribe (the machine drops, never waits); door events through [Bridge.DoorEvent],
// which only appends to a bounded queue. One goroutine sends the queue in order and waits for
// each acknowledgement (at least once: a collector may see a number twice). While the broker is
// unreachable the queue keeps the newest Config.Queue events; an overflow drops the oldest,
// counts it (doorface_mqtt_events_dropped_total, Diagnostic.Dropped) and logs it, and the
// collector sees the gap in the numbers. The queue lives in memory: events queued when the
// daemon stops are lost (and counted in the stop's log line).
//
// # Sequence numbers
//
// Numbers are reserved in blocks of 256 in the data directory's [StateFile] before they are
// used, and the exact number is saved at Close; after a crash the door continues after the
// reserved block, so a number is never given to two events.
//
// # Remote commands
//
// unlock, lockdown and release arrive as an [Envelope]: the [Command] JSON and its HMAC-SHA256
// under the door's command secret ([SecretFile], 0600, created on first start). A command must
// name this door, carry a timestamp within Config.CommandSkew and a nonce not seen before; topic
// access alone authorises nothing. An unlock is machine.RemoteUnlock (a granted audit record with
// method remote and who asked, written before the relay opens). Every refused command is logged,
// counted (doorface_mqtt_commands_total{result}) and answered on command/result; at most one
// refusal per second is also written to the audit through the [Auditor] (a flood of junk on the
// topic cannot fill the audit). The lockdown is kept in the state file and set again at start.
package mqtt
