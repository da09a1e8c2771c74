// Command doorface is the door daemon: it recognizes faces in frames posted by the door tablet, drives
// the door relay and status LED, falls back to a PIN, and keeps an exportable audit history.
//
// Run `doorface help` for the subcommands.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `doorface — face-recognition door daemon

usage: doorface COMMAND [flags]

  serve          run the daemon (--listen :8080 --data ./data --models ./models --hw sim|gpio|auto --config FILE)
  config print   show the effective configuration (secrets masked)
  enroll         --name NAME [--pin PIN] PHOTO...   add a user from photos (daemon stopped)
  users          list | delete ID | pin ID PIN       manage users (daemon stopped)
  audit          export [--since --until --outcome --user] --format csv|jsonl --out DIR | verify
  calibrate DIR  FAR/FRR table for labelled photos (identity = file name without trailing digits)
  db compact     shrink the database file (daemon stopped)
  models check   check the three model files
  replay         --server URL --token T [--fps N] [--pin PIN] FRAME...   play the door tablet

Every command that reads the configuration takes --config, --data and --models, and DOORFACE_* variables.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serveMain(rest, stdout, stderr)
	case "config":
		return configMain(rest, stdout, stderr)
	case "enroll":
		return enrollMain(rest, stdout, stderr)
	case "users":
		return usersMain(rest, stdout, stderr)
	case "audit":
		return auditMain(rest, stdout, stderr)
	case "calibrate":
		return calibrateMain(rest, stdout, stderr)
	case "db":
		return dbMain(rest, stdout, stderr)
	case "models":
		return modelsMain(rest, stdout, stderr)
	case "replay":
		return replayMain(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "doorface: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}
