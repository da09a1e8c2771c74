package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// bucketCrops holds the enrolled faces' crops: user id "/" crop id -> nonce (12 bytes) ||
// AES-256-GCM(crop key, JPEG) with the key as additional data, so a crop cannot be moved to
// another user or template unseen. It is created by the first crop (files of schema 2 written
// before crops existed have none).
var bucketCrops = []byte("crops")

// cropKeyLabel derives the crop key from the PIN key: the crops are protected exactly like the
// PINs (a copied database file alone shows no face), with no second key file to back up.
const cropKeyLabel = "doorface face crop key v1"

// cropAEAD is the cipher of the face crops; ErrKeyFile when no PIN key is loaded.
func (db *DB) cropAEAD() (cipher.AEAD, error) {
	if db.key == nil {
		return nil, fmt.Errorf("store: no PIN key loaded (read-only open without %s), face crops are sealed with it: %w", db.opts.KeyFile, ErrKeyFile)
	}
	block, err := aes.NewCipher(mac(db.key, []byte(cropKeyLabel)))
	if err != nil {
		return nil, fmt.Errorf("store: crop cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealCrop encrypts a crop stored under key.
func (db *DB) sealCrop(key, crop []byte) ([]byte, error) {
	aead, err := db.cropAEAD()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("store: crop nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, crop, key), nil
}

// openCrop decrypts a crop stored under key (v may live in bbolt's mmap; the result does not).
func openCrop(aead cipher.AEAD, key, v []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(v) < n {
		return nil, fmt.Errorf("store: face crop %q: too short: %w", key, ErrCorrupt)
	}
	out, err := aead.Open(nil, v[:n], v[n:], key)
	if err != nil {
		return nil, fmt.Errorf("store: face crop %q: does not decrypt with this PIN key (%v): %w", key, err, ErrKeyFile)
	}
	return out, nil
}

// FaceCrop is one kept face crop: the JPEG a user's template was computed from.
type FaceCrop struct {
	UserID, ID string
	JPEG       []byte
}

// FaceCrops returns every kept face crop, decrypted, ordered by user.
func (db *DB) FaceCrops() ([]FaceCrop, error) {
	aead, err := db.cropAEAD()
	if err != nil {
		return nil, err
	}
	var out []FaceCrop
	err = db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCrops)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			user, id, ok := bytes.Cut(k, []byte("/"))
			if !ok {
				return fmt.Errorf("store: face crop key %q: %w", k, ErrCorrupt)
			}
			jpg, err := openCrop(aead, k, v)
			if err != nil {
				return err
			}
			out = append(out, FaceCrop{UserID: string(user), ID: string(id), JPEG: jpg})
			return nil
		})
	})
	return out, err
}

// RebuildFailure is a crop Rebuild could not make a template from.
type RebuildFailure struct {
	UserID, Crop string
	Err          error
}

// RebuildReport says what RebuildTemplates did.
type RebuildReport struct {
	// Rebuilt is the number of templates of the engine written from crops, Replaced how many
	// templates of the engine they replaced.
	Rebuilt, Replaced int
	// Failed are the crops describe refused; their old template of the engine, if any, is kept.
	Failed []RebuildFailure
	// NoCrop lists the users who have templates but none from a kept crop: they must enroll
	// again to be recognised by the engine (unless they already have templates of it).
	NoCrop []string
}

// RebuildTemplates recomputes, with describe, the template of engine for every kept face crop,
// replacing the engine's template previously made from that crop (a template of the engine
// with no crop is kept as it is). describe runs outside any transaction; the templates are
// then written in one transaction, so a failure leaves the gallery as it was.
func (db *DB) RebuildTemplates(engine string, describe func(FaceCrop) ([]float32, error)) (RebuildReport, error) {
	var rep RebuildReport
	if engine == "" {
		return rep, fmt.Errorf("store: rebuild: no engine: %w", ErrInvalidTemplate)
	}
	crops, err := db.FaceCrops()
	if err != nil {
		return rep, err
	}
	made := map[string][]float32{} // templateKey(user, crop) -> descriptor
	for _, c := range crops {
		d, err := describe(c)
		if err == nil {
			err = checkDescriptor(d)
		}
		if err != nil {
			rep.Failed = append(rep.Failed, RebuildFailure{UserID: c.UserID, Crop: c.ID, Err: err})
			continue
		}
		made[string(templateKey(c.UserID, c.ID))] = d
	}
	now := toNanos(db.opts.Clock.Now())
	err = db.update(func(tx *bolt.Tx) error {
		rep.Rebuilt, rep.Replaced, rep.NoCrop = 0, 0, nil
		tb := tx.Bucket(bucketTemplates)
		var replace [][]byte
		withCrop := map[string]bool{}
		users := map[string]bool{}
		if err := tb.ForEach(func(k, v []byte) error {
			var rec templateRec
			if err := jsonUnmarshal(v, &rec); err != nil {
				return fmt.Errorf("store: template %q: %w", k, err)
			}
			users[rec.UserID] = true
			if rec.Crop == "" {
				return nil
			}
			withCrop[rec.UserID] = true
			if rec.template().Engine == engine && made[string(templateKey(rec.UserID, rec.Crop))] != nil {
				replace = append(replace, bytes.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range replace {
			if err := tb.Delete(k); err != nil {
				return err
			}
		}
		rep.Replaced = len(replace)
		for _, c := range crops {
			d := made[string(templateKey(c.UserID, c.ID))]
			if d == nil {
				continue
			}
			if _, err := getUserRec(tx, c.UserID); err != nil {
				continue // deleted meanwhile
			}
			id, err := newID()
			if err != nil {
				return err
			}
			rec := templateRec{ID: id, UserID: c.UserID, Engine: engine, Descriptor: d, Created: now, Crop: c.ID}
			if err := putJSON(tb, templateKey(c.UserID, id), rec); err != nil {
				return err
			}
			rep.Rebuilt++
		}
		for u := range users {
			if !withCrop[u] {
				rep.NoCrop = append(rep.NoCrop, u)
			}
		}
		slices.Sort(rep.NoCrop)
		return nil
	})
	if err != nil {
		return RebuildReport{}, wrapf(err, "rebuild templates")
	}
	db.log.Info("templates rebuilt from face crops", "engine", engine, "rebuilt", rep.Rebuilt,
		"replaced", rep.Replaced, "failed", len(rep.Failed), "users_without_crops", len(rep.NoCrop))
	return rep, nil
}
