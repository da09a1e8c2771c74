package machine_test

import (
	"fmt"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/machine"
)

type exampleLock struct{}

func (exampleLock) Unlock(d time.Duration) error { fmt.Println("relay open for", d); return nil }
func (exampleLock) Lock() error                  { fmt.Println("relay locked"); return nil }

type exampleSink struct{}

func (exampleSink) BeginAttempt(string, time.Time) error { return nil }
func (exampleSink) EndUnlock(string) error               { return nil }
func (exampleSink) DiscardAttempt(string) error          { return nil }
func (exampleSink) RecordAttempt(a machine.Attempt) error {
	fmt.Println("recorded", a.Outcome, a.Method, a.User, "after", a.Frames, "frames")
	return nil
}

type exampleDir struct{}

func (exampleDir) LookupPIN(string) (machine.PINOwner, bool, error) {
	return machine.PINOwner{}, false, nil
}
func (exampleDir) User(id string) (machine.Identity, bool, error) {
	return machine.Identity{ID: id, Name: "Alice", Policy: machine.Policy{Enabled: true}}, id == "alice", nil
}

type exampleLockouts struct{}

func (exampleLockouts) LoadLockout() (machine.Lockout, error) { return machine.Lockout{}, nil }
func (exampleLockouts) SaveLockout(machine.Lockout) error     { return nil }
func (exampleLockouts) ResetLockout(machine.Lockout, string, time.Time) error {
	return nil
}

// Distinct live frames matching the same enrolled user open the door: two matches decide the
// face, and the liveness rule waits for five scored frames whose mean P(real) is at least 0.9.
func Example() {
	clk := clock.NewFake(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC))
	m, err := machine.New(machine.DefaultConfig(), machine.Deps{
		Clock: clk, Lock: exampleLock{}, Sink: exampleSink{}, Directory: exampleDir{}, Lockouts: exampleLockouts{},
	})
	if err != nil {
		panic(err)
	}
	session := "" // the first frame starts a session; the client then sends its id
	for i := 0; i < 5; i++ {
		t, err := m.Admit(session)
		if err != nil {
			panic(err)
		}
		session = t.Session
		frame := machine.FrameResult{Quality: "ok", Match: &machine.Candidate{User: "alice", Distance: 0.31, Margin: 0.12},
			Liveness: 0.97, Scored: true, Print: []byte{byte(10 * i)}} // each frame a distinct capture
		st, _ := m.Submit(t, frame)
		fmt.Println(st.State)
	}
	clk.Advance(5 * time.Second)
	fmt.Println(m.Snapshot().State)
	// Output:
	// relay locked
	// Recognizing
	// Recognizing
	// Recognizing
	// Recognizing
	// recorded granted face alice after 5 frames
	// relay open for 3s
	// Unlocking
	// relay locked
	// Idle
}
