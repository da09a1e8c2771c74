package store

import (
	"bytes"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Template is one face descriptor of a user, as vision computes it.
type Template struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Descriptor []float32 `json:"descriptor"`
	Created    time.Time `json:"created"`
}

// templateRec is the stored form of a template.
type templateRec struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Descriptor []float32 `json:"descriptor"`
	Created    int64     `json:"created"`
}

func (r templateRec) template() Template {
	return Template{ID: r.ID, UserID: r.UserID, Descriptor: r.Descriptor, Created: fromNanos(r.Created)}
}

// templateKey is user id "/" template id, so one user's templates are one prefix range.
func templateKey(userID, id string) []byte { return []byte(userID + "/" + id) }

// AddTemplate stores a descriptor for an existing user (ErrNotFound otherwise). The descriptor
// is copied.
func (db *DB) AddTemplate(userID string, desc []float32) (Template, error) {
	if len(desc) == 0 {
		return Template{}, fmt.Errorf("store: add template: empty descriptor: %w", ErrInvalidTemplate)
	}
	for _, f := range desc {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return Template{}, fmt.Errorf("store: add template: non-finite value: %w", ErrInvalidTemplate)
		}
	}
	id, err := newID()
	if err != nil {
		return Template{}, err
	}
	rec := templateRec{ID: id, UserID: userID, Descriptor: append([]float32(nil), desc...),
		Created: toNanos(db.opts.Clock.Now())}
	err = db.update(func(tx *bolt.Tx) error {
		if _, err := getUserRec(tx, userID); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketTemplates), templateKey(userID, id), rec)
	})
	if err != nil {
		return Template{}, wrapf(err, "add template")
	}
	db.log.Info("template added", "user", userID, "template", id, "dims", len(desc))
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

// deleteTemplatesOf deletes every template of a user and says how many.
func deleteTemplatesOf(tx *bolt.Tx, userID string) (int, error) {
	b := tx.Bucket(bucketTemplates)
	prefix := []byte(userID + "/")
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
	return len(keys), nil
}
