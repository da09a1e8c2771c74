package store

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv switches the test binary into the crash-test child: it names the database.
const crashChildEnv = "DOORFACE_STORE_CRASH_CHILD"

// TestMain runs the crash-test child when the environment says so, the tests otherwise.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path, os.Getenv(crashChildEnv+"_ROUND")))
	}
	os.Exit(m.Run())
}

// crashChild writes attempts as fast as it can and prints "committed <seq> <id>" after each
// RecordAttempt returns, until it is killed.
func crashChild(path, round string) int {
	db, err := Open(path, Options{Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 2
	}
	evidence := bytes.Repeat([]byte("JPEG"), 4096)
	for i := 0; ; i++ {
		id := fmt.Sprintf("r%s-%d", round, i)
		now := time.Now()
		if err := db.BeginAttempt(id, now); err != nil {
			fmt.Fprintln(os.Stderr, "child begin:", err)
			return 3
		}
		var ev []byte
		if i%4 == 0 {
			ev = evidence
		}
		a, err := db.RecordAttempt(sampleAttempt(id, now), ev)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child record:", err)
			return 4
		}
		fmt.Fprintf(os.Stdout, "committed %d %s\n", a.Seq, id) // unbuffered: one write(2) per line
	}
}

func TestCrashSafety(t *testing.T) {
	const rounds = 20
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "data", "doorface.db")
	committed := map[string]uint64{} // every id any child reported committed, with its seq
	kills, startupKills := 0, 0
	start := time.Now()
	for r := 0; r < rounds; r++ {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashChildEnv+"_ROUND="+strconv.Itoa(r))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill either during start-up (open, check, migration) or after a random number of
		// commits, a random moment later: inside the next transaction or its fsync.
		target := 1 + rng.IntN(60)
		if rng.IntN(5) == 0 {
			target = 0
		}
		var mu sync.Mutex
		var lines []string
		reached := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(out)
			n := 0
			for sc.Scan() {
				mu.Lock()
				lines = append(lines, sc.Text())
				mu.Unlock()
				if n++; n == target {
					close(reached)
				}
			}
		}()
		if target == 0 {
			startupKills++
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		} else {
			select {
			case <-reached:
			case <-done:
				t.Fatalf("round %d: child exited early: %s", r, stderr.String())
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("round %d: kill: %v", r, err)
		}
		<-done
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child was not killed (%v): %s", r, err, stderr.String())
		}
		kills++
		mu.Lock()
		for _, l := range lines {
			var seq uint64
			var id string
			if _, err := fmt.Sscanf(l, "committed %d %s", &seq, &id); err != nil {
				t.Fatalf("round %d: bad line %q", r, l)
			}
			committed[id] = seq
		}
		mu.Unlock()

		// Reopen: the consistency check runs in Open.
		db, err := Open(path, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", r, err)
		}
		if _, err := db.RecoverInterrupted(time.Now()); err != nil {
			t.Fatalf("round %d: recover: %v", r, err)
		}
		rep, err := db.Verify()
		if err != nil || !rep.OK {
			t.Fatalf("round %d: Verify = %+v, %v", r, rep, err)
		}
		for id, seq := range committed {
			a, err := db.GetAttempt(id)
			if err != nil || a.Seq != seq || a.Outcome != "denied" {
				t.Fatalf("round %d: committed %s (seq %d) read back as %+v, %v", r, id, seq, a, err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	checkFile(t, path)
	db, err := Open(path, Options{Logger: quietLogger(), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rep, _ := db.Verify()
	interrupted := 0
	_ = db.Attempts(Filter{Outcome: OutcomeInterrupted}, func(Attempt) error { interrupted++; return nil })
	t.Logf("%d kills (%d during start-up), %d committed attempts all present, %d records, %d interrupted sessions recovered, %s",
		kills, startupKills, len(committed), rep.Records, interrupted, time.Since(start).Round(time.Millisecond))
	if len(committed) == 0 {
		t.Fatal("no child ever committed: the test tested nothing")
	}
}
