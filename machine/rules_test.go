package machine

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/states.mmd from Rules()")

const goldenMermaid = "testdata/states.mmd"

func TestMermaidGolden(t *testing.T) {
	got := Mermaid()
	if *update {
		if err := os.WriteFile(goldenMermaid, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenMermaid)
	if err != nil {
		t.Fatalf("%v (run go test ./machine -run TestMermaidGolden -update)", err)
	}
	if got != string(want) {
		t.Fatalf("Mermaid() differs from %s (run with -update and review the diff):\n%s", goldenMermaid, got)
	}
}

// TestReadmeShowsDiagram keeps the README's picture identical to the golden file.
func TestReadmeShowsDiagram(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := "```mermaid\n" + Mermaid() + "```\n"
	if !strings.Contains(string(readme), block) {
		t.Fatalf("README.md does not contain the current diagram; paste %s into its mermaid block", filepath.Join("machine", goldenMermaid))
	}
}

// TestRulesAreTheFSM checks that the looplab/fsm machine allows exactly the table's transitions.
func TestRulesAreTheFSM(t *testing.T) {
	allowed := map[[2]string]string{} // (event, from) -> to
	names := map[string]bool{}
	for _, r := range Rules() {
		if names[r.Name] {
			t.Errorf("rule %s declared twice", r.Name)
		}
		names[r.Name] = true
		for _, from := range r.From {
			if from == r.To {
				t.Errorf("rule %s is a self-transition on %s", r.Name, from)
			}
			allowed[[2]string{r.Name, string(from)}] = string(r.To)
		}
	}
	for name := range names {
		for _, from := range States() {
			t.Run(name+"/"+string(from), func(t *testing.T) {
				f := newFSM()
				f.SetState(string(from))
				err := f.Event(context.Background(), name)
				to, ok := allowed[[2]string{name, string(from)}]
				switch {
				case ok && err != nil:
					t.Fatalf("table allows it, fsm refused: %v", err)
				case ok && f.Current() != to:
					t.Fatalf("fsm went to %s, table says %s", f.Current(), to)
				case !ok && err == nil:
					t.Fatalf("fsm allowed a transition to %s that the table does not declare", f.Current())
				}
			})
		}
	}
}

func TestEveryStateIsReachableAndLeavable(t *testing.T) {
	in, out := map[State]bool{Idle: true}, map[State]bool{}
	for _, r := range Rules() {
		in[r.To] = true
		for _, f := range r.From {
			out[f] = true
		}
	}
	for _, s := range States() {
		if !in[s] || !out[s] {
			t.Errorf("state %s: reachable=%v leavable=%v", s, in[s], out[s])
		}
	}
}

func TestRulesReturnsACopy(t *testing.T) {
	r := Rules()
	r[0].From[0] = Cooldown
	r[0].Name = "changed"
	if Rules()[0].From[0] != Idle || Rules()[0].Name == "changed" {
		t.Fatal("Rules() exposes the table")
	}
}
