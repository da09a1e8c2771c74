// Command doorface is the door daemon: it recognizes faces in frames posted by the door tablet, drives
// the door relay and status LED, falls back to a PIN, and keeps an exportable audit history.
//
// Run `doorface help` for the subcommands. Each command's file is thin: configuration lives in
// config/, the API's wire types and client in transport/api and transport/client.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/doorface/doorface/config"
)

const usage = `doorface — face-recognition door daemon

usage: doorface COMMAND [flags]

  serve          run the daemon, HTTPS by default (--listen :8080 --data ./data --models ./models --hw sim|gpio|auto
                 --config FILE; --insecure-http for tests and explicit local setups)
  config print   show the effective configuration, usable as a config file (tokens left out)
  enroll         --name NAME [--pin-stdin] PHOTO... | --user ID PHOTO... [--force]   add a user, or photos to one (daemon stopped)
  users          list | delete ID | pin ID (PIN on stdin) | templates ID | templates delete ID TID
                 manage users and their face templates (daemon stopped)
  gallery rebuild  [--engine mobilefacenet|dlib]   recompute every template for an engine from the kept face crops (daemon stopped)
  audit          export [--since --until --outcome --user] --format csv|jsonl --out DIR
                 | verify [--head SEQ:MAC] [--export DIR] | head
  lockout reset  clear the PIN lockout, audited (daemon stopped; else POST /v1/lockout/reset)
                 show | enable | disable | validity | mode | schedule | duress-pin ID   access policy
  schedules      list | set NAME "mon-fri 08:00-18:00"... | delete NAME   weekly schedules (daemon stopped)
  calibrate DIR  FAR/FRR table for labelled photos (identity = file name without trailing digits)
  liveness DIR   [--frames N] APCER/BPCER of the liveness check: DIR/live/<person>/*.jpg, DIR/<attack>/<person>/*.jpg
  db compact     shrink the database file (daemon stopped)
  models check   check the model files
  replay         --server URL [--fps N] [--pin-stdin] FRAME...   play the door tablet (token in $DOORFACE_DOOR_TOKEN)
  tls fingerprint  the SHA-256 of the daemon's TLS certificate, to pin in the tablet
  tokens show    the API tokens (never logged; needs access to the data directory)
  mqtt sign      unlock|lockdown|release --by NAME   print a signed remote command (mosquitto_pub -s reads it)
  version        module version, commit, Go and OpenCV versions, model checksums

Every command takes --config and the DOORFACE_* variables; "doorface COMMAND -h" lists its flags.
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
	case "gallery":
		return galleryMain(rest, stdout, stderr)
	case "schedules":
		return schedulesMain(rest, stdout, stderr)
	case "audit":
		return auditMain(rest, stdout, stderr)
	case "calibrate":
		return calibrateMain(rest, stdout, stderr)
	case "liveness":
		return livenessMain(rest, stdout, stderr)
	case "db":
		return dbMain(rest, stdout, stderr)
	case "models":
		return modelsMain(rest, stdout, stderr)
	case "replay":
		return replayMain(rest, stdout, stderr)
	case "mqtt":
		return mqttMain(rest, stdout, stderr)
	case "version":
		return versionMain(rest, stdout, stderr)
	case "lockout":
		return lockoutMain(rest, stdout, stderr)
	case "tls":
		return tlsMain(rest, stdout, stderr)
	case "tokens":
		return tokensMain(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "doorface: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// parseFlags parses a command's flags. ok is false when the command must end with code: 0 after
// help (printed to stdout, no data touched), 2 after a usage error.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	switch err := config.Parse(fs, args, stdout, stderr); {
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	case err != nil:
		return 2, false
	}
	return 0, true
}
