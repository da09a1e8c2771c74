package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// VerifyReport is the result of walking the audit chain.
type VerifyReport struct {
	Records     int    `json:"records"`      // records read
	OK          bool   `json:"ok"`           // the whole chain, its indexes and evidence are intact
	FirstBroken uint64 `json:"first_broken"` // seq of the first record that is altered, missing or misplaced; 0 when OK
	Problem     string `json:"problem"`      // what is wrong with it; "" when OK
	Head        string `json:"head"`         // MAC of the last record (publish HeadValue off the device)
	HeadSeq     uint64 `json:"head_seq"`     // seq of the last record
	// Checkpoint is the sealed start of the kept history: records pruned by retention, and the
	// note of a one-time re-seal of an unkeyed schema-1 chain.
	Checkpoint Checkpoint `json:"checkpoint"`
	// Anchored says the chain was also checked against an exported head (VerifyAgainst) whose
	// record is still kept.
	Anchored bool `json:"anchored"`
}

// HeadValue is the verified head as a Head.
func (r VerifyReport) HeadValue() Head { return Head{Seq: r.HeadSeq, MAC: r.Head} }

// Verify walks the whole kept history in Seq order from the sealed checkpoint, checking every
// record's HMAC under the audit key and its link to its predecessor, and names the first
// record that was edited (MAC mismatch; without the key nobody can re-seal an edit), deleted (a
// gap in Seq, or a tail shorter than the recorded head), moved or swapped (stored under another
// Seq, or not linking to its predecessor). It also checks that each record's evidence frame is
// the one sealed into it (sha256) or was pruned by retention, and that the attempts_by_id and
// attempts_by_time indexes and the frames hold exactly the entries of the records, no more.
//
// Cutting the tail and rewriting the head, or re-sealing a rewritten history, needs the audit
// key and is caught only against a head exported earlier: see VerifyAgainst and VerifyExport.
// A non-nil error means the walk itself failed (ErrKeyFile: a read-only open without the audit
// key file); a broken chain is reported in the VerifyReport with a nil error. It reads in short
// transactions.
func (db *DB) Verify() (VerifyReport, error) { return db.verify(nil) }

// VerifyAgainst is Verify, and also checks that the history still holds the record named by a
// head exported earlier (`audit head`) with the same MAC: a history cut below it (even with the
// head rewritten) or rewritten up to it (even by someone with the key) is reported. A head whose
// record retention has pruned since is not checked (Anchored stays false).
func (db *DB) VerifyAgainst(h Head) (VerifyReport, error) { return db.verify(&h) }

func (db *DB) verify(anchor *Head) (VerifyReport, error) {
	var rep VerifyReport
	if db.auditKey == nil {
		return rep, fmt.Errorf("store: verify: the audit key file %s is needed to verify the history: %w",
			db.opts.AuditKeyFile, ErrKeyFile)
	}
	broken := func(seq uint64, format string, args ...any) {
		rep.FirstBroken, rep.Problem = seq, fmt.Sprintf(format, args...)
	}
	var headSeq uint64
	var headHash string
	hasHead := false
	var cp Checkpoint
	err := db.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if h := meta.Get(keyChainHead); len(h) == 40 {
			headSeq, headHash, hasHead = binary.BigEndian.Uint64(h[:8]), hex.EncodeToString(h[8:]), true
		}
		cp = Checkpoint{MAC: genesisHash}
		if v := meta.Get(keyChainBase); v != nil {
			var err error
			if cp, _, err = decodeCheckpoint(v); err != nil || !checkpointValid(db.auditKey, v) {
				cp = Checkpoint{MAC: genesisHash}
				broken(1, "the checkpoint of pruned records is not sealed with the audit key (forged or altered)")
			}
		}
		return nil
	})
	if err != nil {
		return rep, wrapf(err, "verify")
	}
	rep.Checkpoint = cp
	prev := cp.MAC
	expect := cp.Seq + 1
	from := u64(expect)
	var anchorMAC string
	framesKept, framesPruned := 0, 0
	for rep.Problem == "" {
		var next []byte
		err := db.view(func(tx *bolt.Tx) error {
			byID, byTime := tx.Bucket(bucketByID), tx.Bucket(bucketByTime)
			frames, pruned := tx.Bucket(bucketFrames), tx.Bucket(bucketPruned)
			c := tx.Bucket(bucketAttempts).Cursor()
			k, v := c.Seek(from)
			for n := 0; k != nil; k, v = c.Next() {
				if n == scanChunk {
					next = bytes.Clone(k)
					return nil
				}
				n++
				if len(k) != 8 {
					broken(expect, "unexpected key %x in the history", k)
					return nil
				}
				seq := binary.BigEndian.Uint64(k)
				if seq != expect {
					broken(expect, "record %d is missing (next stored record is %d)", expect, seq)
					return nil
				}
				rep.Records++
				if len(v) < 32 {
					broken(seq, "record %d is truncated (%d bytes)", seq, len(v))
					return nil
				}
				body := v[32:]
				sum := chainMAC(db.auditKey, prev, body)
				if !bytes.Equal(sum[:], v[:32]) {
					if bodyPrevHash(body) != prev {
						broken(seq, "record %d does not link to record %d (moved, swapped or predecessor deleted)", seq, seq-1)
					} else {
						broken(seq, "record %d was altered (MAC mismatch)", seq)
					}
					return nil
				}
				var b attemptBody
				if err := json.Unmarshal(body, &b); err != nil {
					broken(seq, "record %d does not decode: %v", seq, err)
					return nil
				}
				if b.Seq != seq {
					broken(seq, "record stored as %d claims to be %d (moved or swapped)", seq, b.Seq)
					return nil
				}
				if b.PrevHash != prev {
					broken(seq, "record %d does not link to record %d (moved, swapped or predecessor deleted)", seq, seq-1)
					return nil
				}
				if !bytes.Equal(byID.Get([]byte(b.ID)), k) {
					broken(seq, "the session index entry of record %d (session %q) is missing or points elsewhere", seq, b.ID)
					return nil
				}
				if byTime.Get(timeKey(b.Start, seq)) == nil {
					broken(seq, "the time index entry of record %d is missing", seq)
					return nil
				}
				if b.Evidence != "" {
					if b.Evidence != evidenceKey(seq) {
						broken(seq, "record %d names evidence %q, not its own", seq, b.Evidence)
						return nil
					}
					switch f := frames.Get([]byte(b.Evidence)); {
					case len(f) >= 8 && sha256Hex(f[8:]) != b.EvidenceSHA:
						broken(seq, "the evidence frame of record %d was replaced (sha256 mismatch)", seq)
						return nil
					case len(f) >= 8:
						framesKept++
					case pruned.Get([]byte(b.Evidence)) != nil:
						framesPruned++
					default:
						broken(seq, "the evidence frame of record %d is missing (deleted outside retention)", seq)
						return nil
					}
				}
				prev = hex.EncodeToString(v[:32])
				if anchor != nil && seq == anchor.Seq {
					anchorMAC = prev
				}
				expect++
			}
			return nil
		})
		if err != nil {
			return rep, wrapf(err, "verify")
		}
		if next == nil {
			break
		}
		from = next
	}
	last := expect - 1
	if rep.Problem == "" {
		switch {
		case !hasHead && last > 0:
			broken(1, "the chain head is missing but %d records exist", last)
		case hasHead && headSeq > last:
			broken(last+1, "record %d is missing: the head says the history ends at %d", last+1, headSeq)
		case hasHead && headSeq < last:
			broken(headSeq+1, "record %d lies beyond the recorded head %d", headSeq+1, headSeq)
		case hasHead && headHash != prev:
			broken(last, "record %d does not match the recorded head MAC", last)
		}
	}
	if rep.Problem == "" {
		if err := db.view(func(tx *bolt.Tx) error {
			for _, c := range []struct {
				bucket []byte
				name   string
				want   int
			}{
				{bucketAttempts, "history", rep.Records},
				{bucketByID, "session index", rep.Records},
				{bucketByTime, "time index", rep.Records},
				{bucketFrames, "evidence frames", framesKept},
				{bucketPruned, "pruned-frame notes", framesPruned},
			} {
				if n := tx.Bucket(c.bucket).Stats().KeyN; n != c.want {
					broken(last, "the %s holds %d entries for %d (entries forged or left behind)", c.name, n, c.want)
					return nil
				}
			}
			return nil
		}); err != nil {
			return rep, wrapf(err, "verify")
		}
	}
	if rep.Problem == "" && anchor != nil {
		switch {
		case anchor.Seq > last:
			broken(last+1, "the history ends at record %d but the exported head is record %d: records were cut", last, anchor.Seq)
		case anchor.Seq == cp.Seq && anchor.Seq > 0:
			rep.Anchored = anchor.MAC == cp.MAC
			if !rep.Anchored {
				broken(cp.Seq, "the exported head %s does not match the checkpoint (history rewritten)", anchor)
			}
		case anchor.Seq > cp.Seq:
			rep.Anchored = anchorMAC == anchor.MAC
			if !rep.Anchored {
				broken(anchor.Seq, "record %d does not match the exported head (history rewritten since)", anchor.Seq)
			}
		case anchor.Seq == 0:
			rep.Anchored = true
		}
	}
	rep.OK = rep.Problem == ""
	rep.Head, rep.HeadSeq = prev, last
	if !rep.OK {
		db.log.Error("audit chain broken", "first_broken", rep.FirstBroken, "problem", rep.Problem, "records", rep.Records)
	} else {
		db.log.Info("audit chain verified", "records", rep.Records, "head_seq", rep.HeadSeq, "anchored", rep.Anchored)
	}
	return rep, nil
}

// bodyPrevHash extracts prev_hash from a body, "" when it does not decode.
func bodyPrevHash(body []byte) string {
	var b struct {
		PrevHash string `json:"prev_hash"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	return b.PrevHash
}
