package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// PruneReport says what a retention pass deleted and what is left.
type PruneReport struct {
	Frames          int   `json:"frames"`  // frames deleted
	Bytes           int64 `json:"bytes"`   // JPEG bytes deleted
	ByAge           int   `json:"by_age"`  // frames deleted for being older than retention.max_age
	BySize          int   `json:"by_size"` // always 0: recent evidence is never evicted for size (issue 15)
	Records         int   `json:"records"` // audit records pruned (by age or MaxRecords), with their frames
	RemainingFrames int   `json:"remaining_frames"`
	RemainingBytes  int64 `json:"remaining_bytes"`
}

// add merges another pass's deletions into r (the Remaining fields are the latest).
func (r *PruneReport) add(o PruneReport) {
	r.Frames += o.Frames
	r.Bytes += o.Bytes
	r.ByAge += o.ByAge
	r.Records += o.Records
	if o.RemainingFrames != 0 || o.RemainingBytes != 0 {
		r.RemainingFrames, r.RemainingBytes = o.RemainingFrames, o.RemainingBytes
	}
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

// Prune applies retention at now, in one transaction committed with fsync:
//
//   - evidence frames stored before now-retention.max_age are deleted; their records stay (the
//     chain is untouched) and read back with EvidencePruned set. Frames younger than that are
//     never deleted to make room: a full evidence store refuses new frames instead.
//   - audit records that ended before now-MaxRecordAge are pruned, oldest first, except the
//     newest KeepRecords records; so are the oldest records beyond MaxRecords. Pruned records
//     leave with their index entries and frames, behind a checkpoint sealed with the audit key
//     (the last pruned record's sequence number and MAC), so Verify still proves the kept
//     history complete. Pruning stops at a record whose MAC or link does not verify, so
//     retention never seals over tampering.
func (db *DB) Prune(now time.Time) (PruneReport, error) {
	var rep PruneReport
	err := db.update(func(tx *bolt.Tx) error {
		rep = PruneReport{}
		r, err := pruneTx(tx, now, db.opts.Retention.MaxAge)
		if err != nil {
			return err
		}
		rep.add(r)
		if db.auditKey == nil {
			return nil
		}
		cp, err := db.checkpointTx(tx)
		if err != nil {
			return err
		}
		h := tx.Bucket(bucketMeta).Get(keyChainHead)
		if len(h) != 40 {
			return nil
		}
		last := binary.BigEndian.Uint64(h[:8])
		upTo := cp.Seq
		if last > cp.Seq+uint64(db.opts.Retention.MaxRecords) {
			upTo = last - uint64(db.opts.Retention.MaxRecords)
		}
		cutoff := now.Add(-db.opts.Retention.MaxRecordAge).UnixNano()
		attempts := tx.Bucket(bucketAttempts)
		for s := upTo + 1; last-s >= uint64(db.opts.Retention.KeepRecords); s++ {
			v := attempts.Get(u64(s))
			if len(v) < 32 {
				break
			}
			var b struct {
				End int64 `json:"end"`
			}
			if json.Unmarshal(v[32:], &b) != nil || b.End >= cutoff {
				break
			}
			upTo = s
		}
		if upTo > cp.Seq {
			r, err := db.pruneRecordsTx(tx, cp, upTo, now)
			if err != nil {
				return err
			}
			rep.add(r)
		}
		return nil
	})
	if err != nil {
		return PruneReport{}, wrapf(err, "prune evidence")
	}
	db.log.Info("retention applied", "frames", rep.Frames, "bytes", rep.Bytes, "by_age", rep.ByAge,
		"records", rep.Records, "remaining_frames", rep.RemainingFrames, "remaining_bytes", rep.RemainingBytes)
	return rep, nil
}

// pruneTx deletes the frames stored before now-maxAge, marking each as pruned, and recounts the
// kept evidence bytes.
func pruneTx(tx *bolt.Tx, now time.Time, maxAge time.Duration) (PruneReport, error) {
	var rep PruneReport
	frames := tx.Bucket(bucketFrames)
	var old [][]byte
	var total int64
	cutoff := now.Add(-maxAge).UnixNano()
	if err := frames.ForEach(func(k, v []byte) error {
		size := int64(len(v) - 8)
		if len(v) >= 8 && int64(binary.BigEndian.Uint64(v[:8])) < cutoff {
			old = append(old, bytes.Clone(k))
			rep.Bytes += size
		} else {
			total += size
			rep.RemainingFrames++
		}
		return nil
	}); err != nil {
		return rep, err
	}
	prunedAt := u64(uint64(now.UnixNano()))
	for _, k := range old {
		if err := frames.Delete(k); err != nil {
			return rep, err
		}
		if err := tx.Bucket(bucketPruned).Put(k, prunedAt); err != nil {
			return rep, err
		}
	}
	rep.Frames, rep.ByAge, rep.RemainingBytes = len(old), len(old), total
	if meta := tx.Bucket(bucketMeta); evidenceBytes(meta) != total {
		if err := setEvidenceBytes(meta, total); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// pruneRecordsTx prunes the records cp.Seq+1..upTo with their index entries and frames, checking
// each one's MAC and link first, and moves the sealed checkpoint to the last one pruned.
func (db *DB) pruneRecordsTx(tx *bolt.Tx, cp Checkpoint, upTo uint64, now time.Time) (PruneReport, error) {
	var rep PruneReport
	attempts := tx.Bucket(bucketAttempts)
	meta := tx.Bucket(bucketMeta)
	frames, pruned := tx.Bucket(bucketFrames), tx.Bucket(bucketPruned)
	prev := cp.MAC
	for s := cp.Seq + 1; s <= upTo; s++ {
		v := attempts.Get(u64(s))
		if len(v) < 32 {
			db.log.Error("retention stopped at a missing record; run audit verify", "seq", s)
			break
		}
		var b attemptBody
		sum := chainMAC(db.auditKey, prev, v[32:])
		if json.Unmarshal(v[32:], &b) != nil || !bytes.Equal(sum[:], v[:32]) || b.PrevHash != prev || b.Seq != s {
			db.log.Error("retention stopped at a record that does not verify; run audit verify", "seq", s)
			break
		}
		if id := tx.Bucket(bucketByID); bytes.Equal(id.Get([]byte(b.ID)), u64(s)) {
			if err := id.Delete([]byte(b.ID)); err != nil {
				return rep, err
			}
		}
		if err := tx.Bucket(bucketByTime).Delete(timeKey(b.Start, s)); err != nil {
			return rep, err
		}
		if b.Evidence != "" {
			if f := frames.Get([]byte(b.Evidence)); len(f) >= 8 {
				rep.Frames++
				rep.Bytes += int64(len(f) - 8)
				if err := addEvidenceBytes(meta, -int64(len(f)-8)); err != nil {
					return rep, err
				}
				if err := frames.Delete([]byte(b.Evidence)); err != nil {
					return rep, err
				}
			}
			if err := pruned.Delete([]byte(b.Evidence)); err != nil {
				return rep, err
			}
		}
		if err := attempts.Delete(u64(s)); err != nil {
			return rep, err
		}
		prev = hex.EncodeToString(v[:32])
		cp.Seq = s
		cp.Pruned++
		rep.Records++
	}
	if rep.Records == 0 {
		return rep, nil
	}
	cp.MAC, cp.At = prev, now
	return rep, db.putCheckpointTx(tx, cp)
}

// HistoryUsage says how full the audit history and the evidence store are, for a metric and an
// alarm before the caps are reached (Fill of 0.9 or more: the oldest history is about to go).
type HistoryUsage struct {
	Records          uint64 `json:"records"`            // records kept
	MaxRecords       int    `json:"max_records"`        // Options.MaxRecords
	PrunedRecords    uint64 `json:"pruned_records"`     // records pruned by retention so far
	EvidenceBytes    int64  `json:"evidence_bytes"`     // JPEG bytes kept
	MaxEvidenceBytes int64  `json:"max_evidence_bytes"` // Config.Retention.MaxBytes
	EvidenceDropped  uint64 `json:"evidence_dropped"`   // new frames not kept because the evidence store was full
}

// Fill is the fuller of the two stores as a fraction of its cap (records/MaxRecords,
// evidence bytes/retention.max_bytes), 0 to 1 (or above, after the caps were lowered).
func (u HistoryUsage) Fill() float64 {
	return max(float64(u.Records)/float64(max(u.MaxRecords, 1)), float64(u.EvidenceBytes)/float64(max(u.MaxEvidenceBytes, 1)))
}

// HistoryUsage reports how full the history and the evidence store are.
func (db *DB) HistoryUsage() (HistoryUsage, error) {
	u := HistoryUsage{MaxRecords: db.opts.Retention.MaxRecords, MaxEvidenceBytes: db.opts.Retention.MaxBytes}
	err := db.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		cp, err := db.checkpointTx(tx)
		if err != nil {
			return err
		}
		if h := meta.Get(keyChainHead); len(h) == 40 {
			u.Records = binary.BigEndian.Uint64(h[:8]) - cp.Seq
		}
		u.PrunedRecords = cp.Pruned
		u.EvidenceBytes = evidenceBytes(meta)
		u.EvidenceDropped = counter(meta, keyEvidenceDropped)
		return nil
	})
	if err != nil {
		return HistoryUsage{}, wrapf(err, "history usage")
	}
	return u, nil
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
