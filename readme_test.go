package main

import (
	"os"
	"strings"
	"testing"

	"github.com/doorface/doorface/machine"
)

// TestReadmeShowsStateDiagram keeps the README's diagram identical to the one rendered from the
// machine's transition table (which machine's own golden test pins down).
func TestReadmeShowsStateDiagram(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := "```mermaid\n" + strings.TrimRight(machine.Mermaid(), "\n") + "\n```"
	if !strings.Contains(string(readme), want) {
		t.Fatalf("README.md does not show the current state diagram; paste this:\n%s", want)
	}
}
