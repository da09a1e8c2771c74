package machine

import (
	"fmt"
	"strings"

	"github.com/looplab/fsm"
)

// Rule is one row of the transition table: the event Name moves the machine from any state in From
// to To.
type Rule struct {
	Name string
	From []State
	To   State
}

// event names a Rule. The machine only ever fires these.
type event string

const (
	evStart             event = "frame"
	evUsableFace        event = "usable_face"
	evReceiveTimeout    event = "receive_timeout"
	evFaceMatch         event = "face_match"
	evFaceMatchNeedsPIN event = "face_match_pin_required"
	evNoFaceDecision    event = "no_face_decision"
	evFaceDenied        event = "face_denied"
	evPinOK             event = "pin_ok"
	evPinDenied         event = "pin_denied"
	evPinLockedOut      event = "pin_locked_out"
	evPinTimeout        event = "pin_timeout"
	evAuditFailed       event = "audit_failed"
	evExit              event = "exit_button"
	evRemote            event = "remote_unlock"
	evUnlockDone        event = "unlock_done"
	evUnlockFailed      event = "unlock_failed"
	evCooldownDone      event = "cooldown_done"
	evCancel            event = "cancel"
	evShutdown          event = "shutdown"
)

// rules is the transition table, in the order Rules and Mermaid present it.
var rules = []Rule{
	{string(evStart), []State{Idle}, Receiving},
	{string(evUsableFace), []State{Receiving}, Recognizing},
	{string(evReceiveTimeout), []State{Receiving}, Idle},
	{string(evFaceMatch), []State{Recognizing}, Unlocking},
	{string(evFaceMatchNeedsPIN), []State{Recognizing}, PinFallback},
	{string(evNoFaceDecision), []State{Recognizing}, PinFallback},
	{string(evFaceDenied), []State{Recognizing}, Idle},
	{string(evPinOK), []State{PinFallback}, Unlocking},
	{string(evPinDenied), []State{PinFallback}, Idle},
	{string(evPinLockedOut), []State{PinFallback}, Idle},
	{string(evPinTimeout), []State{PinFallback}, Idle},
	{string(evAuditFailed), []State{Recognizing, PinFallback}, Idle},
	{string(evExit), []State{Idle, Cooldown}, Unlocking},
	{string(evRemote), []State{Idle, Cooldown}, Unlocking},
	{string(evUnlockDone), []State{Unlocking}, Cooldown},
	{string(evUnlockFailed), []State{Unlocking}, Cooldown},
	{string(evCooldownDone), []State{Cooldown}, Idle},
	{string(evCancel), []State{Receiving, Recognizing, PinFallback}, Idle},
	{string(evShutdown), []State{Unlocking, Cooldown}, Idle},
}

// Rules returns the transition table (a copy). It is the only place transitions are declared.
func Rules() []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = Rule{Name: r.Name, From: append([]State(nil), r.From...), To: r.To}
	}
	return out
}

// Mermaid renders Rules as a Mermaid stateDiagram-v2, one edge per (From, Name) in table order. The
// result is deterministic; it is checked against testdata/states.mmd.
func Mermaid() string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	fmt.Fprintf(&b, "    [*] --> %s\n", Idle)
	for _, r := range rules {
		for _, from := range r.From {
			fmt.Fprintf(&b, "    %s --> %s: %s\n", from, r.To, r.Name)
		}
	}
	return b.String()
}

// newFSM builds the looplab/fsm machine from the table, starting in Idle. It has no callbacks: the
// machine uses it as the single authority on which transitions are legal and does its own work
// after a successful Event.
func newFSM() *fsm.FSM {
	events := make(fsm.Events, 0, len(rules))
	for _, r := range rules {
		src := make([]string, len(r.From))
		for i, s := range r.From {
			src[i] = string(s)
		}
		events = append(events, fsm.EventDesc{Name: r.Name, Src: src, Dst: string(r.To)})
	}
	return fsm.NewFSM(string(Idle), events, nil)
}
