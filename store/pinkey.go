package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// pinKeyLen is the size of the HMAC key in the key file.
const pinKeyLen = 32

// keyIDLabel is MACed with the key and stored in meta, so Open can tell a wrong key file from
// the right one without storing the key.
const keyIDLabel = "doorface pin key id v1"

// loadKey reads the PIN key file, creating it on the first read-write open of a database that
// never had one. A database that has a key id but whose key file is missing or different is
// refused (ErrKeyFile): silently making a new key would turn every enrolled PIN invalid.
func (db *DB) loadKey() error {
	path := db.opts.KeyFile
	var keyID []byte
	hasPINs := false
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			if v := m.Get(keyPinKeyID); v != nil {
				keyID = append([]byte(nil), v...)
			}
		}
		if p := tx.Bucket(bucketPins); p != nil {
			k, _ := p.Cursor().First()
			hasPINs = k != nil
		}
		return nil
	}); err != nil {
		return fmt.Errorf("store: read key id: %w", err)
	}

	key, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && db.opts.ReadOnly:
		// Exports and verification need no key; PIN operations will report ErrKeyFile.
		return nil
	case errors.Is(err, fs.ErrNotExist) && hasPINs:
		return fmt.Errorf("store: %s has enrolled PINs but its key file %s is missing (restore it from backup; "+
			"without it no PIN can be checked): %w", db.path, path, ErrKeyFile)
	case errors.Is(err, fs.ErrNotExist):
		if key, err = createKeyFile(path); err != nil {
			return fmt.Errorf("store: create key file %s: %v: %w", path, err, ErrKeyFile)
		}
		db.log.Info("PIN key file created", "path", path)
		keyID = nil // no PIN depends on an earlier key: adopt the new one
	case err != nil:
		return fmt.Errorf("store: read key file %s: %v: %w", path, err, ErrKeyFile)
	}
	if len(key) != pinKeyLen {
		return fmt.Errorf("store: key file %s holds %d bytes, want %d: %w", path, len(key), pinKeyLen, ErrKeyFile)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 && !db.opts.ReadOnly {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("store: key file %s has mode %v and cannot be restricted: %v: %w", path, st.Mode().Perm(), err, ErrKeyFile)
		}
		db.log.Warn("PIN key file was readable by others; mode set to 0600", "path", path)
	}
	id := mac(key, []byte(keyIDLabel))
	switch {
	case keyID == nil && db.opts.ReadOnly:
		// Nothing to compare with; a read-only open never records anything.
	case keyID == nil:
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyPinKeyID, id)
		}); err != nil {
			return fmt.Errorf("store: record key id: %w", err)
		}
	case !hmac.Equal(keyID, id) && !hasPINs && !db.opts.ReadOnly:
		// No PIN depends on the old key: adopt this one.
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyPinKeyID, id)
		}); err != nil {
			return fmt.Errorf("store: record key id: %w", err)
		}
	case !hmac.Equal(keyID, id):
		return fmt.Errorf("store: key file %s does not belong to %s: %w", path, db.path, ErrKeyFile)
	}
	db.key = key
	return nil
}

// createKeyFile writes 32 random bytes to path with mode 0600 (temp file, fsync, rename,
// directory fsync) so a crash never leaves a half-written key.
func createKeyFile(path string) ([]byte, error) {
	key := make([]byte, pinKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".pin.key-*")
	if err != nil {
		return nil, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp, path); err != nil { // fails if a key appeared meanwhile: never overwrite a key
		return nil, err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return key, nil
}

// mac is HMAC-SHA256(key, msg).
func mac(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// pinMAC is the index key of a PIN; ErrKeyFile when no key is loaded.
func (db *DB) pinMAC(pin string) ([]byte, error) {
	if db.key == nil {
		return nil, fmt.Errorf("store: no PIN key loaded (read-only open without %s): %w", db.opts.KeyFile, ErrKeyFile)
	}
	return mac(db.key, []byte("pin:"+pin)), nil
}
