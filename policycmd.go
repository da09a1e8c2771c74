package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/doorface/doorface/store"
)

// stdin is where commands read secrets (a duress PIN): never from argv, which other users of
// the machine can read in the process list. Tests replace it.
var stdin io.Reader = os.Stdin

// policySubcommands are the `doorface users` subcommands of the access policy.
var policySubcommands = []string{"show", "enable", "disable", "validity", "mode", "schedule", "duress-pin"}

const usersPolicyUsage = `users show ID | enable ID | disable ID | validity ID [--from T] [--until T]
       | mode ID face|face_or_pin|face_and_pin|pin_only | schedule ID NAME|none
       | duress-pin ID [--remove]   (the duress PIN is read from stdin)`

// usersPolicyMain runs one access-policy subcommand of `doorface users` on the offline database.
func usersPolicyMain(sub string, args []string, stdout, stderr io.Writer) int {
	fs, cf := commandFlags("users "+sub, usersPolicyUsage, "data")
	var from, until *string
	var remove *bool
	switch sub {
	case "validity":
		from = fs.String("from", "", "first valid instant (RFC 3339 or YYYY-MM-DD); empty = no start")
		until = fs.String("until", "", "end of validity, exclusive (RFC 3339 or YYYY-MM-DD); empty = no end")
	case "duress-pin":
		remove = fs.Bool("remove", false, "remove the duress PIN instead of reading a new one")
	}
	c, code, ok := loadCommand(fs, cf, args, stdout, stderr)
	if !ok {
		return code
	}
	want := map[string]int{"mode": 2, "schedule": 2}[sub]
	if want == 0 {
		want = 1
	}
	if fs.NArg() != want {
		fmt.Fprintln(stderr, "usage: doorface "+usersPolicyUsage)
		return 2
	}
	id := fs.Arg(0)
	db, err := openDB(c, sub == "show", false)
	if err != nil {
		return fail(stderr, "users "+sub, err)
	}
	defer db.Close()
	u, err := db.GetUser(id)
	if err != nil {
		return fail(stderr, "users "+sub, err)
	}
	p := store.UserPolicy{Enabled: u.Enabled, ValidFrom: u.ValidFrom, ValidUntil: u.ValidUntil, Mode: u.Mode, Schedule: u.Schedule}
	switch sub {
	case "show":
		printPolicy(stdout, u)
		return 0
	case "enable", "disable":
		p.Enabled = sub == "enable"
	case "validity":
		if p.ValidFrom, err = parseTimeFlag(*from); err == nil {
			p.ValidUntil, err = parseTimeFlag(*until)
		}
		if err != nil {
			return fail(stderr, "users validity", err)
		}
	case "mode":
		p.Mode = fs.Arg(1)
	case "schedule":
		p.Schedule = fs.Arg(1)
		if p.Schedule == "none" {
			p.Schedule = ""
		}
	case "duress-pin":
		pin := ""
		if !*remove {
			if pin, err = readSecret(stdin); err != nil {
				return fail(stderr, "users duress-pin", err)
			}
		}
		if err := db.SetDuressPIN(id, pin); err != nil {
			return fail(stderr, "users duress-pin", err)
		}
		fmt.Fprintf(stdout, "duress PIN of user %s %s\n", id, map[bool]string{true: "removed", false: "set"}[*remove])
		return 0
	}
	if err := db.SetPolicy(id, p); err != nil {
		return fail(stderr, "users "+sub, err)
	}
	if u, err = db.GetUser(id); err != nil {
		return fail(stderr, "users "+sub, err)
	}
	printPolicy(stdout, u)
	return 0
}

// printPolicy shows a user's access policy, never a PIN.
func printPolicy(w io.Writer, u store.User) {
	opt := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	mode := u.Mode
	if mode == "" {
		mode = store.ModeFaceOrPIN
	}
	sched := u.Schedule
	if sched == "" {
		sched = "any time"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "user\t%s (%s)\nenabled\t%v\nvalid from\t%s\nvalid until\t%s\nmode\t%s\nschedule\t%s\nPIN\t%v\nduress PIN\t%v\n",
		u.ID, u.Name, u.Enabled, opt(u.ValidFrom), opt(u.ValidUntil), mode, sched, u.HasPIN, u.HasDuressPIN)
	tw.Flush()
}

const schedulesUsage = `schedules list | set NAME WINDOW... | delete NAME
  WINDOW is "DAYS HH:MM-HH:MM", DAYS a comma list of mon..sun or ranges: "mon-fri 08:00-18:00"`

// schedulesMain manages the named weekly schedules on the offline database.
func schedulesMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || !slices.Contains([]string{"list", "set", "delete"}, args[0]) {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, "usage: doorface "+schedulesUsage)
			return 0
		}
		fmt.Fprintln(stderr, "usage: doorface "+schedulesUsage)
		return 2
	}
	sub := args[0]
	fs, cf := commandFlags("schedules "+sub, schedulesUsage, "data")
	c, code, ok := loadCommand(fs, cf, args[1:], stdout, stderr)
	if !ok {
		return code
	}
	if (sub == "list" && fs.NArg() != 0) || (sub == "delete" && fs.NArg() != 1) || (sub == "set" && fs.NArg() < 1) {
		fmt.Fprintln(stderr, "usage: doorface "+schedulesUsage)
		return 2
	}
	db, err := openDB(c, sub == "list", false)
	if err != nil {
		return fail(stderr, "schedules", err)
	}
	defer db.Close()
	switch sub {
	case "list":
		ss, err := db.ListSchedules()
		if err != nil {
			return fail(stderr, "schedules list", err)
		}
		for _, s := range ss {
			fmt.Fprintf(stdout, "%s\t%s\n", s.Name, formatWindows(s.Windows))
		}
	case "set":
		s := store.Schedule{Name: fs.Arg(0)}
		for _, a := range fs.Args()[1:] {
			w, err := parseWindowArg(a)
			if err != nil {
				return fail(stderr, "schedules set", err)
			}
			s.Windows = append(s.Windows, w)
		}
		if err := db.PutSchedule(s); err != nil {
			return fail(stderr, "schedules set", err)
		}
		fmt.Fprintf(stdout, "schedule %s: %s\n", s.Name, formatWindows(s.Windows))
	case "delete":
		if err := db.DeleteSchedule(fs.Arg(0)); err != nil {
			return fail(stderr, "schedules delete", err)
		}
		fmt.Fprintf(stdout, "schedule %s deleted\n", fs.Arg(0))
	}
	return 0
}

// parseWindowArg parses "mon-fri 08:00-18:00" (days as a comma list); the store checks it.
func parseWindowArg(s string) (store.Window, error) {
	days, times, ok := strings.Cut(strings.TrimSpace(s), " ")
	from, until, ok2 := strings.Cut(strings.TrimSpace(times), "-")
	if !ok || !ok2 {
		return store.Window{}, fmt.Errorf("window %q: want \"DAYS HH:MM-HH:MM\" such as \"mon-fri 08:00-18:00\": %w", s, store.ErrInvalidSchedule)
	}
	w := store.Window{Days: strings.Split(days, ","), From: from, Until: until}
	if _, _, _, err := w.Parse(); err != nil {
		return store.Window{}, err
	}
	return w, nil
}

// formatWindows writes windows back in parseWindowArg's form, separated by "; ".
func formatWindows(ws []store.Window) string {
	parts := make([]string, 0, len(ws))
	for _, w := range ws {
		parts = append(parts, strings.Join(w.Days, ",")+" "+w.From+"-"+w.Until)
	}
	if len(parts) == 0 {
		return "(no windows: never)"
	}
	return strings.Join(parts, "; ")
}
