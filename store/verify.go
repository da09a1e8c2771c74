package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// VerifyReport is the result of walking the hash chain.
type VerifyReport struct {
	Records     int    `json:"records"`      // records read
	OK          bool   `json:"ok"`           // the whole chain is intact
	FirstBroken uint64 `json:"first_broken"` // seq of the first record that is altered, missing or misplaced; 0 when OK
	Problem     string `json:"problem"`      // what is wrong with it; "" when OK
	Head        string `json:"head"`         // hash of the last record (publish it to anchor the chain off the device)
}

// Verify walks the whole history in Seq order, re-hashing the raw stored bytes of every record,
// and names the first record that was edited (hash mismatch), deleted (gap in Seq or tail
// shorter than the recorded head), or moved/swapped (a record stored under another Seq or not
// linking to its predecessor). A non-nil error means the walk itself failed; a broken chain is
// reported in the VerifyReport with a nil error. It reads in short transactions.
func (db *DB) Verify() (VerifyReport, error) {
	var rep VerifyReport
	prev := genesisHash
	var expect uint64 = 1
	var from []byte
	var headSeq uint64
	var headHash string
	hasHead := false
	broken := func(seq uint64, format string, args ...any) {
		rep.FirstBroken, rep.Problem = seq, fmt.Sprintf(format, args...)
	}
	for rep.Problem == "" {
		var next []byte
		err := db.view(func(tx *bolt.Tx) error {
			if h := tx.Bucket(bucketMeta).Get(keyChainHead); len(h) == 40 {
				headSeq, headHash, hasHead = binary.BigEndian.Uint64(h[:8]), hex.EncodeToString(h[8:]), true
			}
			c := tx.Bucket(bucketAttempts).Cursor()
			var k, v []byte
			if from == nil {
				k, v = c.First()
			} else {
				k, v = c.Seek(from)
			}
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
				sum := chainHash(prev, body)
				if !bytes.Equal(sum[:], v[:32]) {
					if bodyPrevHash(body) != prev {
						broken(seq, "record %d does not link to record %d (moved, swapped or predecessor deleted)", seq, seq-1)
					} else {
						broken(seq, "record %d was altered (hash mismatch)", seq)
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
				prev = hex.EncodeToString(v[:32])
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
	if rep.Problem == "" {
		last := expect - 1
		switch {
		case !hasHead && last > 0:
			broken(1, "the chain head is missing but %d records exist", last)
		case hasHead && headSeq > last:
			broken(last+1, "record %d is missing: the head says the history ends at %d", last+1, headSeq)
		case hasHead && headSeq < last:
			broken(headSeq+1, "record %d lies beyond the recorded head %d", headSeq+1, headSeq)
		case hasHead && headHash != prev:
			broken(last, "record %d does not match the recorded head hash", last)
		}
	}
	rep.OK = rep.Problem == ""
	rep.Head = prev
	if !rep.OK {
		db.log.Error("audit chain broken", "first_broken", rep.FirstBroken, "problem", rep.Problem, "records", rep.Records)
	} else {
		db.log.Info("audit chain verified", "records", rep.Records)
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
