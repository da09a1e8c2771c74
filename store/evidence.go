package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PruneReport says what a retention pass deleted and what is left.
type PruneReport struct {
	Frames          int   `json:"frames"`  // frames deleted
	Bytes           int64 `json:"bytes"`   // JPEG bytes deleted
	ByAge           int   `json:"by_age"`  // of which older than MaxEvidenceAge
	BySize          int   `json:"by_size"` // of which to get under MaxEvidenceBytes
	RemainingFrames int   `json:"remaining_frames"`
	RemainingBytes  int64 `json:"remaining_bytes"`
}

// Frame returns the evidence JPEG of the attempt of session attemptID: ErrNotFound when there is
// no such attempt or it has no frame, ErrPruned when retention deleted it.
func (db *DB) Frame(attemptID string) ([]byte, error) {
	var out []byte
	err := db.view(func(tx *bolt.Tx) error {
		a, err := getAttemptTx(tx, attemptID)
		if err != nil {
			return err
		}
		if a.Evidence == "" {
			return fmt.Errorf("store: attempt %q has no evidence frame: %w", attemptID, ErrNotFound)
		}
		out, err = frameTx(tx, a.Evidence)
		return err
	})
	return out, err
}

// frameTx copies the JPEG stored under an evidence key.
func frameTx(tx *bolt.Tx, key string) ([]byte, error) {
	v := tx.Bucket(bucketFrames).Get([]byte(key))
	switch {
	case v != nil && len(v) >= 8:
		return bytes.Clone(v[8:]), nil
	case tx.Bucket(bucketPruned).Get([]byte(key)) != nil:
		return nil, fmt.Errorf("store: frame %s: %w", key, ErrPruned)
	}
	return nil, fmt.Errorf("store: frame %s: %w", key, ErrNotFound)
}

// Prune applies retention at now: it deletes every frame stored before now-MaxEvidenceAge, then
// the oldest frames until the total is at most MaxEvidenceBytes. The attempt records stay (the
// chain is untouched) and read back with EvidencePruned set. Committed with fsync.
func (db *DB) Prune(now time.Time) (PruneReport, error) {
	var rep PruneReport
	err := db.update(func(tx *bolt.Tx) error {
		var err error
		rep, err = pruneTx(tx, now, db.opts.Retention.MaxAge, db.opts.Retention.MaxBytes)
		return err
	})
	if err != nil {
		return PruneReport{}, wrapf(err, "prune evidence")
	}
	db.log.Info("evidence retention applied", "frames", rep.Frames, "bytes", rep.Bytes, "by_age", rep.ByAge,
		"by_size", rep.BySize, "remaining_frames", rep.RemainingFrames, "remaining_bytes", rep.RemainingBytes)
	return rep, nil
}

// pruneTx deletes frames stored before now-maxAge (skipped when maxAge is 0), then the oldest
// (lowest Seq) frames while the total exceeds maxBytes, marking each as pruned.
func pruneTx(tx *bolt.Tx, now time.Time, maxAge time.Duration, maxBytes int64) (PruneReport, error) {
	var rep PruneReport
	if maxAge == 0 && evidenceBytes(tx.Bucket(bucketMeta)) <= maxBytes {
		return rep, nil // size-only pass under the cap: no need to scan
	}
	frames := tx.Bucket(bucketFrames)
	type frame struct {
		key  []byte
		size int64
		old  bool
	}
	var all []frame // keys only: a few thousand at most under the byte cap
	var total int64
	cutoff := now.Add(-maxAge).UnixNano()
	if err := frames.ForEach(func(k, v []byte) error {
		size := int64(len(v) - 8)
		old := maxAge > 0 && len(v) >= 8 && int64(binary.BigEndian.Uint64(v[:8])) < cutoff
		all = append(all, frame{bytes.Clone(k), size, old})
		total += size
		return nil
	}); err != nil {
		return rep, err
	}
	prunedAt := u64(uint64(now.UnixNano()))
	drop := func(f frame) error {
		if err := frames.Delete(f.key); err != nil {
			return err
		}
		if err := tx.Bucket(bucketPruned).Put(f.key, prunedAt); err != nil {
			return err
		}
		rep.Frames++
		rep.Bytes += f.size
		total -= f.size
		return nil
	}
	kept := all[:0]
	for _, f := range all {
		if f.old {
			if err := drop(f); err != nil {
				return rep, err
			}
			rep.ByAge++
			continue
		}
		kept = append(kept, f)
	}
	for i := 0; total > maxBytes && i < len(kept); i++ { // keys sort by Seq: oldest first
		if err := drop(kept[i]); err != nil {
			return rep, err
		}
		rep.BySize++
	}
	rep.RemainingFrames = len(all) - rep.Frames
	rep.RemainingBytes = total
	if rep.Frames > 0 || evidenceBytes(tx.Bucket(bucketMeta)) != total {
		if err := setEvidenceBytes(tx.Bucket(bucketMeta), total); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// addEvidenceBytes adds n to the evidence byte counter kept in meta.
func addEvidenceBytes(meta *bolt.Bucket, n int64) error {
	var cur int64
	if v := meta.Get(keyEvidenceBytes); len(v) == 8 {
		cur = int64(binary.BigEndian.Uint64(v))
	}
	return setEvidenceBytes(meta, cur+n)
}

// setEvidenceBytes stores the evidence byte counter.
func setEvidenceBytes(meta *bolt.Bucket, n int64) error {
	return meta.Put(keyEvidenceBytes, u64(uint64(n)))
}

// evidenceBytes reads the evidence byte counter.
func evidenceBytes(meta *bolt.Bucket) int64 {
	if v := meta.Get(keyEvidenceBytes); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}
