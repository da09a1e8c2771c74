package store

import (
	"bytes"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultTemplateEngine is the engine of a template stored without one: every template written
// before templates recorded their engine was made by dlib.
const DefaultTemplateEngine = "dlib"

// Template is one face descriptor of a user, as vision computes it, and the recognition engine
// that made it (descriptors of different engines cannot be compared).
type Template struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Engine     string    `json:"engine"`
	Descriptor []float32 `json:"descriptor"`
	Created    time.Time `json:"created"`
	// Crop is the id of the face crop the template was computed from ("" when none was kept):
	// the templates of one enrolled photo under several engines share it.
	Crop string `json:"crop,omitempty"`
}

// templateRec is the stored form of a template. Engine is empty in records written before it
// existed (DefaultTemplateEngine).
type templateRec struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Engine     string    `json:"engine,omitempty"`
	Descriptor []float32 `json:"descriptor"`
	Created    int64     `json:"created"`
	Crop       string    `json:"crop,omitempty"`
}

func (r templateRec) template() Template {
	engine := r.Engine
	if engine == "" {
		engine = DefaultTemplateEngine
	}
	return Template{ID: r.ID, UserID: r.UserID, Engine: engine, Descriptor: r.Descriptor, Created: fromNanos(r.Created),
		Crop: r.Crop}
}

// templateKey is user id "/" template id, so one user's templates are one prefix range.
func templateKey(userID, id string) []byte { return []byte(userID + "/" + id) }

// AddTemplate stores a descriptor made by DefaultTemplateEngine for an existing user (see
// AddEngineTemplate).
func (db *DB) AddTemplate(userID string, desc []float32) (Template, error) {
	return db.AddEngineTemplate(userID, DefaultTemplateEngine, desc)
}

// AddEngineTemplate stores a descriptor made by engine for an existing user (ErrNotFound
// otherwise). The descriptor is copied.
func (db *DB) AddEngineTemplate(userID, engine string, desc []float32) (Template, error) {
	return db.AddTemplateWithCrop(userID, engine, desc, nil)
}

// checkDescriptor refuses an empty descriptor or one with a non-finite value.
func checkDescriptor(desc []float32) error {
	if len(desc) == 0 {
		return fmt.Errorf("store: add template: empty descriptor: %w", ErrInvalidTemplate)
	}
	for _, f := range desc {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("store: add template: non-finite value: %w", ErrInvalidTemplate)
		}
	}
	return nil
}

// AddTemplateWithCrop is AddEngineTemplate that also keeps crop, the JPEG of the face the
// descriptor was computed from, encrypted (see crops.go), when Retention.KeepFaceCrops is set
// and crop is not empty; the template's Crop then names it. The template and its crop are
// written in one transaction.
func (db *DB) AddTemplateWithCrop(userID, engine string, desc []float32, crop []byte) (Template, error) {
	if engine == "" {
		return Template{}, fmt.Errorf("store: add template: no engine: %w", ErrInvalidTemplate)
	}
	if err := checkDescriptor(desc); err != nil {
		return Template{}, err
	}
	id, err := newID()
	if err != nil {
		return Template{}, err
	}
	rec := templateRec{ID: id, UserID: userID, Engine: engine, Descriptor: append([]float32(nil), desc...),
		Created: toNanos(db.opts.Clock.Now())}
	var sealed []byte
	if len(crop) > 0 && db.opts.Retention.KeepFaceCrops {
		if sealed, err = db.sealCrop(templateKey(userID, id), crop); err != nil {
			return Template{}, err
		}
		rec.Crop = id
	}
	err = db.update(func(tx *bolt.Tx) error {
		if _, err := getUserRec(tx, userID); err != nil {
			return err
		}
		if sealed != nil {
			b, err := tx.CreateBucketIfNotExists(bucketCrops)
			if err != nil {
				return err
			}
			if err := b.Put(templateKey(userID, id), sealed); err != nil {
				return err
			}
		}
		return putJSON(tx.Bucket(bucketTemplates), templateKey(userID, id), rec)
	})
	if err != nil {
		return Template{}, wrapf(err, "add template")
	}
	db.log.Info("template added", "user", userID, "template", id, "engine", engine, "dims", len(desc), "crop", rec.Crop != "")
	return rec.template(), nil
}

// Templates returns every template of every user, grouped by user, to build the gallery.
func (db *DB) Templates() ([]Template, error) {
	var out []Template
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTemplates).ForEach(func(k, v []byte) error {
			var rec templateRec
			if err := jsonUnmarshal(v, &rec); err != nil {
				return fmt.Errorf("store: template %q: %w", k, err)
			}
			out = append(out, rec.template())
			return nil
		})
	})
	return out, err
}

// UserTemplates returns the templates of one user (ErrNotFound when there is no such user),
// ordered by id.
func (db *DB) UserTemplates(userID string) ([]Template, error) {
	var out []Template
	err := db.view(func(tx *bolt.Tx) error {
		if _, err := getUserRec(tx, userID); err != nil {
			return err
		}
		var err error
		out, err = templatesOf(tx, userID)
		return err
	})
	return out, err
}

// templatesOf reads the templates of a user inside tx.
func templatesOf(tx *bolt.Tx, userID string) ([]Template, error) {
	var out []Template
	prefix := []byte(userID + "/")
	c := tx.Bucket(bucketTemplates).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var rec templateRec
		if err := jsonUnmarshal(v, &rec); err != nil {
			return nil, fmt.Errorf("store: template %q: %w", k, err)
		}
		out = append(out, rec.template())
	}
	return out, nil
}

// DeleteTemplate deletes template id of user userID (ErrNotFound when either does not exist).
// A template made from a kept face crop goes together with that crop and every other template
// made from it (the same photo under another engine): the photo is what the person asked to
// remove. It returns the ids of the templates deleted.
func (db *DB) DeleteTemplate(userID, id string) ([]string, error) {
	var deleted []string
	err := db.update(func(tx *bolt.Tx) error {
		if _, err := getUserRec(tx, userID); err != nil {
			return err
		}
		v := tx.Bucket(bucketTemplates).Get(templateKey(userID, id))
		if v == nil {
			return fmt.Errorf("store: template %q of user %q: %w", id, userID, ErrNotFound)
		}
		var rec templateRec
		if err := jsonUnmarshal(v, &rec); err != nil {
			return fmt.Errorf("store: template %q: %w", id, err)
		}
		victims := []string{id}
		if rec.Crop != "" {
			all, err := templatesOf(tx, userID)
			if err != nil {
				return err
			}
			for _, t := range all {
				if t.Crop == rec.Crop && t.ID != id {
					victims = append(victims, t.ID)
				}
			}
			if b := tx.Bucket(bucketCrops); b != nil {
				if err := b.Delete(templateKey(userID, rec.Crop)); err != nil {
					return err
				}
			}
		}
		for _, tid := range victims {
			if err := tx.Bucket(bucketTemplates).Delete(templateKey(userID, tid)); err != nil {
				return err
			}
		}
		deleted = victims
		return nil
	})
	if err != nil {
		return nil, wrapf(err, "delete template")
	}
	db.log.Info("template deleted", "user", userID, "template", id, "templates_deleted", len(deleted))
	return deleted, nil
}

// deleteTemplatesOf deletes every template and face crop of a user and says how many templates.
func deleteTemplatesOf(tx *bolt.Tx, userID string) (int, error) {
	prefix := []byte(userID + "/")
	n := 0
	for _, name := range [][]byte{bucketTemplates, bucketCrops} {
		b := tx.Bucket(name)
		if b == nil {
			continue
		}
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return 0, err
			}
		}
		if bytes.Equal(name, bucketTemplates) {
			n = len(keys)
		}
	}
	return n, nil
}
