package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultAuditKeyName is the audit key file's name beside the database.
const DefaultAuditKeyName = "audit.key"

// auditKeyIDLabel is MACed with the audit key and stored in meta, so Open can tell a wrong
// audit key file from the right one without storing the key.
const auditKeyIDLabel = "doorface audit key id v1"

// checkpointLabel separates checkpoint MACs from record MACs.
const checkpointLabel = "doorface audit checkpoint v2\x00"

// Head names the last record of the audit chain: its sequence number and MAC. Written down off
// the device (`doorface audit head`), it anchors the chain: a history rewritten or cut short
// after the head was taken no longer matches it, even by someone who holds the audit key.
type Head struct {
	Seq uint64 `json:"seq"`
	MAC string `json:"mac"` // hex HMAC of record Seq; 64 zeros when the history is empty
}

// String is the head as "seq:mac", the form ParseHead reads.
func (h Head) String() string { return strconv.FormatUint(h.Seq, 10) + ":" + h.MAC }

// ParseHead reads a head written by Head.String.
func ParseHead(s string) (Head, error) {
	seq, mac, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if b, herr := hex.DecodeString(mac); !ok || err != nil || herr != nil || len(b) != 32 {
		return Head{}, fmt.Errorf("store: head %q is not \"seq:64 hex digits\": %w", s, ErrInvalidHead)
	}
	return Head{Seq: n, MAC: strings.ToLower(mac)}, nil
}

// Head returns the current head of the audit chain (Seq 0 and 64 zeros when nothing was ever
// recorded). Publish it off the device to anchor the history; see VerifyAgainst and
// VerifyExport.
func (db *DB) Head() (Head, error) {
	h := Head{MAC: genesisHash}
	err := db.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyChainHead); len(v) == 40 {
			h = Head{Seq: binary.BigEndian.Uint64(v[:8]), MAC: hex.EncodeToString(v[8:])}
		}
		return nil
	})
	if err != nil {
		return Head{}, wrapf(err, "read head")
	}
	return h, nil
}

// Checkpoint seals the start of the kept history: the records up to Seq were pruned by
// retention (or never existed when Seq is 0), and the first kept record links to MAC. It is
// MACed with the audit key, so it cannot be moved forward over records someone deleted.
type Checkpoint struct {
	Seq    uint64    `json:"seq"`    // last record no longer kept; 0 when none was pruned
	MAC    string    `json:"mac"`    // its MAC (hex); 64 zeros when Seq is 0
	Pruned uint64    `json:"pruned"` // records pruned so far
	At     time.Time `json:"at"`     // when it last moved
	// Resealed notes the one-time re-sealing of a schema-1 (unkeyed) chain with the audit key,
	// including whether the old chain verified at that moment; "" for a history begun keyed.
	Resealed string `json:"resealed,omitempty"`
}

// checkpointRec is the stored form of a Checkpoint: MAC (32 bytes) || this JSON.
type checkpointRec struct {
	Seq      uint64 `json:"seq"`
	MAC      string `json:"mac"`
	Pruned   uint64 `json:"pruned"`
	At       int64  `json:"at"`
	Resealed string `json:"resealed,omitempty"`
}

// checkpointTx reads the checkpoint without checking its MAC (Verify does); the zero history's
// checkpoint when none is stored.
func (db *DB) checkpointTx(tx *bolt.Tx) (Checkpoint, error) {
	v := tx.Bucket(bucketMeta).Get(keyChainBase)
	if v == nil {
		return Checkpoint{MAC: genesisHash}, nil
	}
	cp, _, err := decodeCheckpoint(v)
	return cp, err
}

// decodeCheckpoint splits a stored checkpoint into its value and MAC.
func decodeCheckpoint(v []byte) (Checkpoint, []byte, error) {
	if len(v) < 32 {
		return Checkpoint{}, nil, fmt.Errorf("store: checkpoint of %d bytes is too short", len(v))
	}
	var r checkpointRec
	if err := json.Unmarshal(v[32:], &r); err != nil {
		return Checkpoint{}, nil, fmt.Errorf("store: checkpoint: %w", err)
	}
	return Checkpoint{Seq: r.Seq, MAC: r.MAC, Pruned: r.Pruned, At: fromNanos(r.At), Resealed: r.Resealed}, v[:32], nil
}

// putCheckpointTx seals and stores cp.
func (db *DB) putCheckpointTx(tx *bolt.Tx, cp Checkpoint) error {
	enc, err := json.Marshal(checkpointRec{Seq: cp.Seq, MAC: cp.MAC, Pruned: cp.Pruned, At: toNanos(cp.At), Resealed: cp.Resealed})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(keyChainBase, append(mac(db.auditKey, append([]byte(checkpointLabel), enc...)), enc...))
}

// checkpointValid reports whether a stored checkpoint's MAC is right under key.
func checkpointValid(key, v []byte) bool {
	return len(v) >= 32 && hmac.Equal(v[:32], mac(key, append([]byte(checkpointLabel), v[32:]...)))
}

// loadAuditKey reads the audit key file, creating it on the first read-write open of a
// database whose history was never keyed (a new file, or a schema-1 file about to be
// re-sealed). A database sealed with a key whose file is missing or different is refused
// (ErrKeyFile): a new key would make the whole history fail verification. A read-only open
// without the key file works for exports; Verify then reports ErrKeyFile.
func (db *DB) loadAuditKey() error {
	path := db.opts.AuditKeyFile
	var keyID []byte
	hasHistory := false
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			keyID = bytes.Clone(m.Get(keyAuditKeyID))
			hasHistory = m.Get(keyChainBase) != nil
		}
		if b := tx.Bucket(bucketAttempts); b != nil {
			k, _ := b.Cursor().First()
			hasHistory = hasHistory || k != nil
		}
		return nil
	}); err != nil {
		return fmt.Errorf("store: read audit key id: %w", err)
	}
	key, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && db.opts.ReadOnly:
		return nil
	case errors.Is(err, fs.ErrNotExist) && keyID != nil:
		return fmt.Errorf("store: %s has an audit history sealed with the key file %s, which is missing "+
			"(restore it from backup; without it the history can be neither verified nor extended): %w",
			db.path, path, ErrKeyFile)
	case errors.Is(err, fs.ErrNotExist):
		if key, err = createKeyFile(path); err != nil {
			return fmt.Errorf("store: create audit key file %s: %v: %w", path, err, ErrKeyFile)
		}
		db.log.Info("audit key file created", "path", path)
	case err != nil:
		return fmt.Errorf("store: read audit key file %s: %v: %w", path, err, ErrKeyFile)
	}
	if len(key) != pinKeyLen {
		return fmt.Errorf("store: audit key file %s holds %d bytes, want %d: %w", path, len(key), pinKeyLen, ErrKeyFile)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 && !db.opts.ReadOnly {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("store: audit key file %s has mode %v and cannot be restricted: %v: %w", path, st.Mode().Perm(), err, ErrKeyFile)
		}
		db.log.Warn("audit key file was readable by others; mode set to 0600", "path", path)
	}
	id := mac(key, []byte(auditKeyIDLabel))
	switch {
	case keyID == nil:
		db.auditKeyIDMissing = true // recorded after the migration
	case !hmac.Equal(keyID, id) && !hasHistory && !db.opts.ReadOnly:
		db.auditKeyIDMissing = true // nothing is sealed with the old key: adopt this one
	case !hmac.Equal(keyID, id):
		return fmt.Errorf("store: audit key file %s does not belong to %s: %w", path, db.path, ErrKeyFile)
	}
	db.auditKey = key
	return nil
}

// recordAuditKeyID stores the audit key's id once the schema is current.
func (db *DB) recordAuditKeyID() error {
	if !db.auditKeyIDMissing || db.opts.ReadOnly || db.auditKey == nil {
		return nil
	}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyAuditKeyID, mac(db.auditKey, []byte(auditKeyIDLabel)))
	}); err != nil {
		return fmt.Errorf("store: record audit key id: %w", err)
	}
	db.auditKeyIDMissing = false
	return nil
}

// ReadKeyFile reads a key file (audit.key or pin.key) and checks its size; for `audit verify`
// of an export (VerifyExport), which needs the audit key but not the database.
func ReadKeyFile(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store: read key file %s: %v: %w", path, err, ErrKeyFile)
	}
	if len(key) != pinKeyLen {
		return nil, fmt.Errorf("store: key file %s holds %d bytes, want %d: %w", path, len(key), pinKeyLen, ErrKeyFile)
	}
	return key, nil
}

// migrate1to2 re-seals a schema-1 chain (sha256 links anyone could recompute) with the audit
// key: it first checks the old chain as schema 1's Verify did, then rewrites every stored record
// in Seq order with the sha256 of its evidence frame (when still kept) and a MAC linking it to
// the previous stored record, and notes the re-seal, with the old chain's state, in the
// checkpoint (reported by Verify for good). A break in the old chain is not repaired: the note
// names it, and a missing record stays missing.
func migrate1to2(db *DB, tx *bolt.Tx, now time.Time) error {
	if db.auditKey == nil {
		return fmt.Errorf("no audit key to re-seal the history with: %w", ErrKeyFile)
	}
	meta := tx.Bucket(bucketMeta)
	attempts := tx.Bucket(bucketAttempts)
	frames := tx.Bucket(bucketFrames)
	type rec struct {
		seq  uint64
		body attemptBody
	}
	var recs []rec
	oldPrev, expect, oldProblem := genesisHash, uint64(1), ""
	if err := attempts.ForEach(func(k, v []byte) error {
		if len(k) != 8 || len(v) < 32 {
			if oldProblem == "" {
				oldProblem = fmt.Sprintf("malformed record under key %x", k)
			}
			return nil
		}
		seq := binary.BigEndian.Uint64(k)
		var b attemptBody
		if err := json.Unmarshal(v[32:], &b); err != nil {
			return fmt.Errorf("record %d does not decode: %w", seq, err)
		}
		if oldProblem == "" {
			sum := legacyChainHash(oldPrev, v[32:])
			switch {
			case seq != expect:
				oldProblem = fmt.Sprintf("record %d was missing", expect)
			case !bytes.Equal(sum[:], v[:32]) || b.PrevHash != oldPrev || b.Seq != seq:
				oldProblem = fmt.Sprintf("record %d was altered or misplaced", seq)
			}
			oldPrev = hex.EncodeToString(v[:32])
			expect = seq + 1
		}
		recs = append(recs, rec{seq, b})
		return nil
	}); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	if h := meta.Get(keyChainHead); oldProblem == "" && (len(h) != 40 ||
		binary.BigEndian.Uint64(h[:8]) != recs[len(recs)-1].seq || hex.EncodeToString(h[8:]) != oldPrev) {
		oldProblem = "the last record did not match the recorded head (history cut or extended)"
	}
	prev := genesisHash
	for _, r := range recs {
		b := r.body
		b.PrevHash = prev
		if b.Evidence != "" {
			if v := frames.Get([]byte(b.Evidence)); len(v) >= 8 {
				b.EvidenceSHA = sha256Hex(v[8:])
			}
		}
		enc, err := json.Marshal(b)
		if err != nil {
			return err
		}
		sum := chainMAC(db.auditKey, prev, enc)
		if err := attempts.Put(u64(r.seq), append(sum[:], enc...)); err != nil {
			return err
		}
		prev = hex.EncodeToString(sum[:])
		if err := meta.Put(keyChainHead, append(u64(r.seq), sum[:]...)); err != nil {
			return err
		}
	}
	state := "the old chain verified intact, old head " + oldPrev
	if oldProblem != "" {
		state = "the old chain was BROKEN: " + oldProblem
	}
	note := fmt.Sprintf("%d schema-1 records re-sealed with the audit key at %s; %s", len(recs),
		now.UTC().Format(time.RFC3339), state)
	if err := db.putCheckpointTx(tx, Checkpoint{MAC: genesisHash, At: now, Resealed: note}); err != nil {
		return err
	}
	db.log.Warn("audit history re-sealed with the audit key", "records", len(recs), "old_chain_problem", oldProblem)
	return nil
}

// sha256Hex is the hex sha256 of b.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// addCounter adds n to an 8-byte counter kept in meta.
func addCounter(meta *bolt.Bucket, key []byte, n uint64) error {
	return meta.Put(key, u64(counter(meta, key)+n))
}

// counter reads an 8-byte counter kept in meta.
func counter(meta *bolt.Bucket, key []byte) uint64 {
	if v := meta.Get(key); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}
