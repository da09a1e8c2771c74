package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/doorface/doorface/store"
)

// A PIN typed at the door finds its user with one HMAC and one lookup; every attempt joins
// the hash chain that Verify walks.
func Example() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "doorface.db"), store.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	ada, _ := db.CreateUser("Ada", "48213957")
	now := time.Now()
	u, ok, _ := db.LookupPIN("48213957", now)
	fmt.Println(u.Name, ok, u.ID == ada.ID)
	_, ok, _ = db.LookupPIN("00000000", now)
	fmt.Println(ok)

	_ = db.BeginAttempt("session-1", now)
	a, _ := db.RecordAttempt(store.Attempt{ID: "session-1", Start: now, Outcome: "granted", Method: "pin", User: ada.ID}, nil)
	rep, _ := db.Verify()
	fmt.Println(a.Seq, rep.OK, rep.Records)
	// Output:
	// Ada true true
	// false
	// 1 true 1
}
