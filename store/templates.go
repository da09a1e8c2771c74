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
}

// templateRec is the stored form of a template. Engine is empty in records written before it
// existed (DefaultTemplateEngine).
type templateRec struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Engine     string    `json:"engine,omitempty"`
	Descriptor []float32 `json:"descriptor"`
	Created    int64     `json:"created"`
}

func (r templateRec) template() Template {
	engine := r.Engine
	if engine == "" {
		engine = DefaultTemplateEngine
	}
	return Template{ID: r.ID, UserID: r.UserID, Engine: engine, Descriptor: r.Descriptor, Created: fromNanos(r.Created)}
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
	if engine == "" {
		return Template{}, fmt.Errorf("store: add template: no engine: %w", ErrInvalidTemplate)
	}
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
	rec := templateRec{ID: id, UserID: userID, Engine: engine, Descriptor: append([]float32(nil), desc...),
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
	db.log.Info("template added", "user", userID, "template", id, "engine", engine, "dims", len(desc))
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
