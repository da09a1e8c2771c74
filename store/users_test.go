package store

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestUserRoundTrip(t *testing.T) {
	db := openTestDB(t)
	u, err := db.CreateUser("Ada Lovelace", "48213957")
	if err != nil {
		t.Fatal(err)
	}
	want := User{ID: u.ID, Name: "Ada Lovelace", Created: t0, Enabled: true, HasPIN: true}
	if !reflect.DeepEqual(u, want) {
		t.Fatalf("CreateUser = %+v, want %+v", u, want)
	}
	got, err := db.GetUser(u.ID)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("GetUser = %+v, %v; want %+v", got, err, want)
	}

	from, until := t0.Add(time.Hour), t0.Add(48*time.Hour)
	if err := db.SetValidity(u.ID, from, until); err != nil {
		t.Fatal(err)
	}
	if err := db.SetEnabled(u.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPIN(u.ID, ""); err != nil {
		t.Fatal(err)
	}
	want.ValidFrom, want.ValidUntil, want.Enabled, want.HasPIN = from, until, false, false
	got, err = db.GetUser(u.ID)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after changes GetUser = %+v, %v; want %+v", got, err, want)
	}

	v, err := db.CreateUser("Grace", "")
	if err != nil {
		t.Fatal(err)
	}
	list, err := db.ListUsers()
	if err != nil || len(list) != 2 {
		t.Fatalf("ListUsers = %v, %v", list, err)
	}
	if err := db.DeleteUser(v.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetUser(v.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetUser(deleted) err = %v, want ErrNotFound", err)
	}
	for name, err := range map[string]error{
		"DeleteUser":  db.DeleteUser("nope"),
		"SetEnabled":  db.SetEnabled("nope", true),
		"SetPIN":      db.SetPIN("nope", "11112222"),
		"SetValidity": db.SetValidity("nope", time.Time{}, time.Time{}),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s(unknown) err = %v, want ErrNotFound", name, err)
		}
	}
	if err := db.SetValidity(u.ID, until, from); !errors.Is(err, ErrInvalidValidity) {
		t.Errorf("SetValidity(reversed) err = %v, want ErrInvalidValidity", err)
	}
}

func TestCreateUserRefusals(t *testing.T) {
	db := openTestDB(t)
	if _, err := db.CreateUser("First", "55501234"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, pin string
		want            error
	}{
		{"empty name", "  ", "", ErrInvalidName},
		{"control char in name", "a\nb", "", ErrInvalidName},
		{"PIN too short", "Bob", "1234", ErrPINPolicy},
		{"PIN with letters", "Bob", "12a45", ErrPINPolicy},
		{"PIN too long", "Bob", "1234567890123", ErrPINPolicy},
		{"duplicate PIN", "Bob", "55501234", ErrPINInUse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := db.CreateUser(tc.user, tc.pin); !errors.Is(err, tc.want) {
				t.Fatalf("CreateUser(%q) err = %v, want %v", tc.user, err, tc.want)
			}
		})
	}
	users, _ := db.ListUsers()
	if len(users) != 1 {
		t.Fatalf("refused creations left %d users", len(users))
	}
	b, err := db.CreateUser("Bob", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetPIN(b.ID, "55501234"); !errors.Is(err, ErrPINInUse) {
		t.Fatalf("SetPIN(taken) err = %v, want ErrPINInUse", err)
	}
	if err := db.SetPIN(b.ID, "99"); !errors.Is(err, ErrPINPolicy) {
		t.Fatalf("SetPIN(short) err = %v, want ErrPINPolicy", err)
	}
}

func TestPinMinLenOption(t *testing.T) {
	db := openTestDB(t, func(o *Options) { o.PIN.MinLength = 8 })
	if _, err := db.CreateUser("A", "1234567"); !errors.Is(err, ErrPINPolicy) {
		t.Fatalf("7 digits with PinMinLen 8: err = %v", err)
	}
	if _, err := db.CreateUser("A", "12345678"); err != nil {
		t.Fatalf("8 digits: %v", err)
	}
}

func TestLookupPIN(t *testing.T) {
	db := openTestDB(t)
	ada, _ := db.CreateUser("Ada", "48213957")
	bob, _ := db.CreateUser("Bob", "90517364")
	off, _ := db.CreateUser("Off", "31415926")
	_ = db.SetEnabled(off.ID, false)
	tmp, _ := db.CreateUser("Temp", "27182818")
	_ = db.SetValidity(tmp.ID, t0.Add(time.Hour), t0.Add(2*time.Hour))

	for _, tc := range []struct {
		name   string
		pin    string
		at     time.Time
		wantID string
	}{
		{"ada", "48213957", t0, ada.ID},
		{"bob", "90517364", t0, bob.ID},
		{"wrong PIN", "48213958", t0, ""},
		{"policy-breaking PIN", "12", t0, ""},
		{"disabled user", "31415926", t0, ""},
		{"before validity", "27182818", t0, ""},
		{"inside validity", "27182818", t0.Add(90 * time.Minute), tmp.ID},
		{"at end of validity (exclusive)", "27182818", t0.Add(2 * time.Hour), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, ok, err := db.LookupPIN(tc.pin, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tc.wantID != "") || u.ID != tc.wantID {
				t.Fatalf("LookupPIN = %q, %v; want %q", u.ID, ok, tc.wantID)
			}
		})
	}

	// A changed PIN: the old one no longer opens, the new one does, and the old is free again.
	if err := db.SetPIN(ada.ID, "11223344"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.LookupPIN("48213957", t0); ok {
		t.Fatal("old PIN still matches")
	}
	if u, ok, _ := db.LookupPIN("11223344", t0); !ok || u.ID != ada.ID {
		t.Fatal("new PIN does not match")
	}
	if err := db.SetPIN(bob.ID, "48213957"); err != nil {
		t.Fatalf("reusing a released PIN: %v", err)
	}
	// Deleting a user frees their PIN.
	if err := db.DeleteUser(bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.LookupPIN("48213957", t0); ok {
		t.Fatal("deleted user's PIN still matches")
	}

	if u, ok, err := db.ActiveUser(ada.ID, t0); err != nil || !ok || u.Name != "Ada" {
		t.Fatalf("ActiveUser(ada) = %+v, %v, %v", u, ok, err)
	}
	for _, id := range []string{off.ID, bob.ID, "nope"} {
		if _, ok, err := db.ActiveUser(id, t0); err != nil || ok {
			t.Fatalf("ActiveUser(%s) = %v, %v; want false", id, ok, err)
		}
	}
}

func TestTemplates(t *testing.T) {
	db := openTestDB(t)
	ada, _ := db.CreateUser("Ada", "")
	bob, _ := db.CreateUser("Bob", "")
	desc := make([]float32, 128)
	for i := range desc {
		desc[i] = float32(i)/128 - 0.3
	}
	t1, err := db.AddTemplate(ada.ID, desc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddTemplate(ada.ID, desc[:64]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddTemplate(bob.ID, desc); err != nil {
		t.Fatal(err)
	}
	desc[0] = 42 // the store must have copied it
	if _, err := db.AddTemplate("nope", desc); !errors.Is(err, ErrNotFound) {
		t.Fatalf("AddTemplate(unknown user) err = %v", err)
	}
	if _, err := db.AddTemplate(ada.ID, nil); !errors.Is(err, ErrInvalidTemplate) {
		t.Fatalf("AddTemplate(empty) err = %v", err)
	}
	all, err := db.Templates()
	if err != nil || len(all) != 3 {
		t.Fatalf("Templates = %d, %v", len(all), err)
	}
	var found bool
	for _, tp := range all {
		if tp.ID == t1.ID {
			found = true
			desc[0] = float32(0)/128 - 0.3
			if !reflect.DeepEqual(tp, Template{ID: t1.ID, UserID: ada.ID, Engine: DefaultTemplateEngine, Descriptor: desc, Created: t0}) {
				t.Fatalf("template round trip = %+v", tp)
			}
		}
	}
	if !found {
		t.Fatal("template not found")
	}
	// A template records the engine that made it; an old record without one reads as dlib.
	mt, err := db.AddEngineTemplate(bob.ID, "mobilefacenet", make([]float32, 192))
	if err != nil || mt.Engine != "mobilefacenet" {
		t.Fatalf("AddEngineTemplate = %+v, %v", mt, err)
	}
	if _, err := db.AddEngineTemplate(bob.ID, "", desc); !errors.Is(err, ErrInvalidTemplate) {
		t.Fatalf("AddEngineTemplate(no engine) err = %v", err)
	}
	engines := map[string]int{}
	all, _ = db.Templates()
	for _, tp := range all {
		engines[tp.Engine]++
	}
	if engines["mobilefacenet"] != 1 || engines[DefaultTemplateEngine] != 3 {
		t.Fatalf("engines of stored templates = %v", engines)
	}
	// Deleting a user deletes their templates and keeps their attempts.
	if _, err := db.RecordAttempt(Attempt{ID: "s1", Start: t0, End: t0, Outcome: "granted", User: ada.ID}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteUser(ada.ID); err != nil {
		t.Fatal(err)
	}
	all, _ = db.Templates()
	if len(all) != 2 || all[0].UserID != bob.ID || all[1].UserID != bob.ID {
		t.Fatalf("after delete Templates = %+v", all)
	}
	if a, err := db.GetAttempt("s1"); err != nil || a.User != ada.ID {
		t.Fatalf("attempt of deleted user = %+v, %v", a, err)
	}
}

// TestDuplicateNamesRefused: a second user with the same name (ignoring case and outer spaces) is
// refused, so two people can always be told apart in the audit and at the door.
func TestDuplicateNamesRefused(t *testing.T) {
	db := openTestDB(t)
	if _, err := db.CreateUser("Min-jun Kim", ""); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Min-jun Kim", "min-jun kim", " Min-jun Kim "} {
		if _, err := db.CreateUser(name, ""); !errors.Is(err, ErrNameInUse) {
			t.Fatalf("CreateUser(%q) = %v, want ErrNameInUse", name, err)
		}
	}
	if _, err := db.CreateUser("Min-jun Kim 2", ""); err != nil {
		t.Fatalf("another name: %v", err)
	}
}
