package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func keepCrops(o *Options) { o.Retention.KeepFaceCrops = true }

func desc(n int, v float32) []float32 {
	d := make([]float32, n)
	for i := range d {
		d[i] = v + float32(i)/1000
	}
	return d
}

func TestTemplatesListDeleteWithCrops(t *testing.T) {
	db := openTestDB(t, keepCrops)
	ada, err := db.CreateUser("Ada", "")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := db.CreateUser("Bob", "")
	if err != nil {
		t.Fatal(err)
	}
	photo := []byte("\xff\xd8 a face crop, as JPEG bytes \xff\xd9")
	t1, err := db.AddTemplateWithCrop(ada.ID, "mobilefacenet", desc(192, 0.1), photo)
	if err != nil {
		t.Fatal(err)
	}
	if t1.Crop != t1.ID {
		t.Fatalf("crop id = %q, want the template's id %q", t1.Crop, t1.ID)
	}
	t2, err := db.AddEngineTemplate(ada.ID, "dlib", desc(128, 0.2)) // no crop
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddTemplateWithCrop(bob.ID, "mobilefacenet", desc(192, 0.3), []byte("bob's face")); err != nil {
		t.Fatal(err)
	}

	// The crop is encrypted at rest: its bytes never appear in the file.
	raw, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("a face crop")) {
		t.Fatal("the face crop is stored in the clear")
	}

	got, err := db.UserTemplates(ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{got[0].ID, got[1].ID}
	want := []string{t1.ID, t2.ID}
	slices.Sort(ids)
	slices.Sort(want)
	if len(got) != 2 || !slices.Equal(ids, want) {
		t.Fatalf("UserTemplates = %+v, want %v", got, want)
	}
	if _, err := db.UserTemplates("nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UserTemplates(unknown) err = %v, want ErrNotFound", err)
	}

	// Rebuild for dlib from the crops: Ada's crop and Bob's give one dlib template each.
	var seen []string
	rep, err := db.RebuildTemplates("dlib", func(c FaceCrop) ([]float32, error) {
		seen = append(seen, string(c.JPEG))
		if c.UserID == bob.ID {
			return nil, errors.New("no face in it")
		}
		return desc(128, 0.5), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{string(photo), "bob's face"}) && !slices.Equal(seen, []string{"bob's face", string(photo)}) {
		t.Fatalf("describe saw %q", seen)
	}
	if rep.Rebuilt != 1 || rep.Replaced != 0 || len(rep.Failed) != 1 || rep.Failed[0].UserID != bob.ID {
		t.Fatalf("rebuild report = %+v", rep)
	}
	// Again: the rebuilt template is replaced, not doubled.
	rep, err = db.RebuildTemplates("dlib", func(FaceCrop) ([]float32, error) { return desc(128, 0.6), nil })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rebuilt != 2 || rep.Replaced != 1 {
		t.Fatalf("second rebuild report = %+v, want 2 rebuilt, 1 replaced", rep)
	}
	got, _ = db.UserTemplates(ada.ID)
	if len(got) != 3 {
		t.Fatalf("Ada has %d templates after the rebuilds, want 3 (mfn + dlib without crop + dlib from crop)", len(got))
	}

	// Deleting the mfn template deletes its crop and the dlib template made from it, not the
	// dlib template enrolled without a crop.
	deleted, err := db.DeleteTemplate(ada.ID, t1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 {
		t.Fatalf("deleted %v, want the template and the one rebuilt from its crop", deleted)
	}
	got, _ = db.UserTemplates(ada.ID)
	if len(got) != 1 || got[0].ID != t2.ID {
		t.Fatalf("Ada's templates after delete = %+v, want only %s", got, t2.ID)
	}
	if _, err := db.DeleteTemplate(ada.ID, t1.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete err = %v, want ErrNotFound", err)
	}
	if _, err := db.DeleteTemplate(bob.ID, t2.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of another user's template err = %v, want ErrNotFound", err)
	}
	crops, err := db.FaceCrops()
	if err != nil {
		t.Fatal(err)
	}
	if len(crops) != 1 || crops[0].UserID != bob.ID {
		t.Fatalf("crops left = %+v, want Bob's only", crops)
	}
	// Deleting a user deletes their crops.
	if err := db.DeleteUser(bob.ID); err != nil {
		t.Fatal(err)
	}
	if crops, _ := db.FaceCrops(); len(crops) != 0 {
		t.Fatalf("crops left after deleting Bob: %d", len(crops))
	}
}

func TestCropsNotKeptWhenOff(t *testing.T) {
	db := openTestDB(t) // zero Options: crops off
	u, _ := db.CreateUser("Ada", "")
	tm, err := db.AddTemplateWithCrop(u.ID, "dlib", desc(128, 0.1), []byte("face"))
	if err != nil {
		t.Fatal(err)
	}
	if tm.Crop != "" {
		t.Fatalf("crop kept with keep_face_crops off: %q", tm.Crop)
	}
	crops, err := db.FaceCrops()
	if err != nil || len(crops) != 0 {
		t.Fatalf("FaceCrops = %v, %v; want none", crops, err)
	}
	rep, err := db.RebuildTemplates("mobilefacenet", func(FaceCrop) ([]float32, error) { t.Fatal("nothing to describe"); return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rebuilt != 0 || !slices.Equal(rep.NoCrop, []string{u.ID}) {
		t.Fatalf("rebuild report = %+v, want Ada among the users without crops", rep)
	}
}

func TestCropTamperingDetected(t *testing.T) {
	db := openTestDB(t, keepCrops)
	u, _ := db.CreateUser("Ada", "")
	v, _ := db.CreateUser("Vic", "")
	if _, err := db.AddTemplateWithCrop(u.ID, "dlib", desc(128, 0.1), []byte("ada")); err != nil {
		t.Fatal(err)
	}
	path := db.Path()
	db.Close()
	// Move Ada's sealed crop under Vic: it no longer opens.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCrops)
		k, val := b.Cursor().First()
		nk := []byte(v.ID + "/" + string(bytes.SplitN(k, []byte("/"), 2)[1]))
		return b.Put(nk, bytes.Clone(val))
	})
	db2, err := Open(path, func() Options {
		o := testOptions()
		keepCrops(&o)
		o.KeyFile = filepath.Join(filepath.Dir(path), "pin.key")
		return o
	}())
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if _, err := db2.FaceCrops(); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("FaceCrops of a moved crop err = %v, want ErrKeyFile", err)
	}
}
