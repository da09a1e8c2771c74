package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OutcomeInterrupted is the outcome RecoverInterrupted gives a session that was still open when
// the daemon stopped (crash, power cut, kill).
const OutcomeInterrupted = "interrupted"

// OutcomeGranted is the outcome of a session that opened the door. RecordAttempt of a granted
// record also sets the durable "door unlocked" marker, cleared by EndUnlock.
const OutcomeGranted = "granted"

// MethodDoor is the Method of the door-event record RecoverInterrupted writes when the daemon
// stopped while a granted session had the door unlocked. It is not an attempt: the session
// keeps its own single (granted) record, and this one has the id UnlockInterruptedID(session).
const MethodDoor = "door"

// UnlockInterruptedID is the id of the door-event record for a granted session whose unlocking
// was interrupted by a stop of the daemon: the session id with "-unlock" appended.
func UnlockInterruptedID(session string) string { return session + "-unlock" }

// genesisHash is the PrevHash of the first record of the chain.
var genesisHash = strings.Repeat("0", 64)

// Attempt is one session's record: the persisted and exported schema (JSON names snake_case).
// Seq, PrevHash, Hash, Evidence, EvidenceSHA256 and EvidenceDropped are assigned by
// RecordAttempt; EvidencePruned is derived when reading (pruning a frame never rewrites a record,
// so the chain stays intact). Hash is the record's MAC: HMAC-SHA256 under the audit key of
// PrevHash (hex) followed by the canonical body.
type Attempt struct {
	Seq            uint64             `json:"seq"`
	ID             string             `json:"id"` // session id
	Start          time.Time          `json:"start"`
	End            time.Time          `json:"end"`
	Outcome        string             `json:"outcome"`
	Method         string             `json:"method"`
	User           string             `json:"user"`
	Name           string             `json:"name"`
	BestUser       string             `json:"best_user"`
	BestDistance   float64            `json:"best_distance"`
	BestMargin     float64            `json:"best_margin"`
	Frames         int                `json:"frames"`
	PinTries       int                `json:"pin_tries"`
	Durations      map[string]float64 `json:"durations"` // seconds per state
	Reason         string             `json:"reason"`
	Evidence       string             `json:"evidence"` // evidence key = file name in exports; "" if none
	EvidencePruned bool               `json:"evidence_pruned"`
	PrevHash       string             `json:"prev_hash"` // hex MAC of the previous record
	Hash           string             `json:"hash"`      // hex HMAC-SHA256(audit key, PrevHash || body)
	// EvidenceSHA256 is the hex sha256 of the evidence JPEG, sealed into the record: a swapped
	// frame no longer matches. "" when there is no evidence.
	EvidenceSHA256 string `json:"evidence_sha256"`
	// EvidenceDropped says the session had an evidence frame that was not kept because the
	// evidence store was full of frames younger than retention.max_age (recent evidence is never
	// evicted to make room).
	EvidenceDropped bool `json:"evidence_dropped"`
	// Policy describes the access policy that applied to the decided user ("mode=face_or_pin
	// schedule=office-hours"), "" when nobody was identified.
	Policy string `json:"policy"`
	// Duress says the user entered their duress PIN (a silent alarm was raised).
	Duress bool `json:"duress"`
	// Mismatch is the user the face matched when the PIN entered belonged to another.
	Mismatch string `json:"mismatch"`
	// OpenForS is, in a door-event record (forced_open, held_open, door_closed), how long the
	// door had been open, in seconds.
	OpenForS float64 `json:"open_for_s"`
	// Liveness is the session's liveness evidence, nil when liveness was off and nothing was
	// scored or repeated.
	Liveness *Liveness `json:"liveness,omitempty"`
}

// Liveness is what a record keeps of its session's liveness check (machine.LivenessEvidence).
type Liveness struct {
	// Mode is the machine's liveness setting: enforce, log or off.
	Mode string `json:"mode"`
	// Result is passed, failed or undecided; "" when no face decision asked for it.
	Result string `json:"result,omitempty"`
	// Scores are the P(real) of the session's scored distinct frames, in order; Mean their
	// mean (-1 when none).
	Scores []float64 `json:"scores,omitempty"`
	Mean   float64   `json:"mean"`
	// Repeats counts the frames that repeated an earlier frame of the session.
	Repeats int `json:"repeats,omitempty"`
}

// sealed returns a copy of l fit for the MACed body (finite numbers), nil for nil.
func (l *Liveness) sealed() *Liveness {
	if l == nil {
		return nil
	}
	c := *l
	c.Mean = finite(c.Mean)
	c.Scores = make([]float64, len(l.Scores))
	for i, v := range l.Scores {
		c.Scores[i] = finite(v)
	}
	if len(c.Scores) == 0 {
		c.Scores = nil
	}
	return &c
}

// attemptBody is the canonical, MACed encoding of a record: encoding/json writes struct fields
// in this order and map keys sorted, times are integer Unix nanoseconds, so the bytes are a
// function of the record alone. The stored value is the MAC (32 bytes) followed by these bytes.
// Schema 1 bodies lacked the last two fields; the migration to schema 2 re-sealed them.
type attemptBody struct {
	Seq          uint64             `json:"seq"`
	ID           string             `json:"id"`
	Start        int64              `json:"start"`
	End          int64              `json:"end"`
	Outcome      string             `json:"outcome"`
	Method       string             `json:"method"`
	User         string             `json:"user"`
	Name         string             `json:"name"`
	BestUser     string             `json:"best_user"`
	BestDistance float64            `json:"best_distance"`
	BestMargin   float64            `json:"best_margin"`
	Frames       int                `json:"frames"`
	PinTries     int                `json:"pin_tries"`
	Durations    map[string]float64 `json:"durations"`
	Reason       string             `json:"reason"`
	Evidence     string             `json:"evidence"`
	PrevHash     string             `json:"prev_hash"`
	EvidenceSHA  string             `json:"evidence_sha256"`
	EvDropped    bool               `json:"evidence_dropped"`
	// Access policy fields (issue 17), omitted when empty so older records keep their bytes.
	Policy   string  `json:"policy,omitempty"`
	Duress   bool    `json:"duress,omitempty"`
	Mismatch string  `json:"mismatch,omitempty"`
	OpenForS float64 `json:"open_for_s,omitempty"`
	// Liveness evidence (issue 19), omitted when nil so older records keep their bytes.
	Liveness *Liveness `json:"liveness,omitempty"`
}

// legacyChainHash is schema 1's unkeyed link, sha256(prevHash || body), prevHash as its hex
// text; only the migration to schema 2 still computes it.
func legacyChainHash(prevHash string, body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(prevHash))
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// chainMAC is HMAC-SHA256(key, recordLabel || prevHash || body), prevHash as its hex text.
func chainMAC(key []byte, prevHash string, body []byte) [32]byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(recordLabel))
	h.Write([]byte(prevHash))
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// recordLabel separates record MACs from the other MACs made with the audit key.
const recordLabel = "doorface audit record v2\x00"

// finite replaces NaN and infinities (which JSON cannot hold) by -1, "unknown".
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return -1
	}
	return f
}

// timeKey is the attempts_by_time key: start nanos with the sign bit flipped (so negative
// times sort first), then seq, both big-endian.
func timeKey(start int64, seq uint64) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(start)^(1<<63))
	return binary.BigEndian.AppendUint64(k, seq)
}

// evidenceKey names the evidence frame of record seq, in the database and as an export file.
func evidenceKey(seq uint64) string { return fmt.Sprintf("evidence-%010d.jpg", seq) }

// BeginAttempt durably marks session id as in progress (fsync'd). If the daemon dies before
// RecordAttempt, RecoverInterrupted turns the marker into an "interrupted" record.
func (db *DB) BeginAttempt(id string, start time.Time) error {
	if id == "" {
		return fmt.Errorf("store: begin attempt: empty session id: %w", ErrInvalidAttempt)
	}
	if start.IsZero() {
		start = db.opts.Clock.Now()
	}
	err := db.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketByID).Get([]byte(id)) != nil {
			return fmt.Errorf("store: begin attempt: %w", ErrDuplicateAttempt)
		}
		return tx.Bucket(bucketInProgress).Put([]byte(id), u64(uint64(start.UnixNano())))
	})
	if err != nil {
		db.log.Error("begin attempt failed", "session", id, "err", err)
		return wrapf(err, "begin attempt")
	}
	db.log.Debug("attempt begun", "session", id)
	return nil
}

// DiscardAttempt drops the "session in progress" marker of a session that ends without a record
// (the machine records no attempt for a session in which no face was ever seen and no PIN was
// entered). A session that has no marker is not an error.
func (db *DB) DiscardAttempt(id string) error {
	err := db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketInProgress).Delete([]byte(id))
	})
	if err != nil {
		db.log.Error("discard attempt failed", "session", id, "err", err)
		return wrapf(err, "discard attempt")
	}
	return nil
}

// EndUnlock clears the "door unlocked" marker that RecordAttempt set for the granted session id,
// durably (fsync'd). Call it once the relay is locked again. A marker of another session, or no
// marker, is left as it is and is not an error.
func (db *DB) EndUnlock(id string) error {
	err := db.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if string(meta.Get(keyUnlocking)) != id {
			return nil
		}
		return meta.Delete(keyUnlocking)
	})
	if err != nil {
		db.log.Error("end unlock failed", "session", id, "err", err)
		return wrapf(err, "end unlock")
	}
	return nil
}

// RecordAttempt appends a to the chain, with its evidence frame if any, and clears the
// in-progress marker of a.ID, in one transaction that is fsync'd before it returns. It assigns
// Seq, PrevHash, Hash, Evidence, EvidenceSHA256 and EvidenceDropped (fields of a with those
// names are ignored) and returns the stored record. A zero End is set to now, a zero Start to
// End.
//
// Evidence: when the frame would take the kept evidence over retention.max_bytes, frames older than
// retention.max_age are pruned first; if that is not enough, the new frame is not kept
// (EvidenceDropped, counted in HistoryUsage.EvidenceDropped): recent evidence is never evicted
// to make room. History: when the history then holds more than MaxRecords records, the oldest
// are pruned in the same transaction behind a sealed checkpoint (see Prune).
func (db *DB) RecordAttempt(a Attempt, evidence []byte) (Attempt, error) {
	if a.ID == "" {
		return Attempt{}, fmt.Errorf("store: record attempt: empty session id: %w", ErrInvalidAttempt)
	}
	if a.End.IsZero() {
		a.End = db.opts.Clock.Now()
	}
	if a.Start.IsZero() {
		a.Start = a.End
	}
	var stored Attempt
	var pruned PruneReport
	err := db.update(func(tx *bolt.Tx) error {
		var err error
		pruned = PruneReport{}
		if stored, err = db.appendTx(tx, a, evidence, &pruned); err != nil {
			return err
		}
		if a.Outcome == OutcomeGranted {
			// The door is about to open: keep a marker until EndUnlock, so a crash while it is
			// open shows in the audit.
			if err := tx.Bucket(bucketMeta).Put(keyUnlocking, []byte(a.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.log.Error("record attempt failed", "session", a.ID, "err", err)
		return Attempt{}, wrapf(err, "record attempt")
	}
	db.log.Info("attempt recorded", "session", stored.ID, "seq", stored.Seq, "outcome", stored.Outcome,
		"method", stored.Method, "user", stored.User, "evidence_bytes", len(evidence))
	if pruned.Frames > 0 || pruned.Records > 0 {
		db.log.Info("retention applied while recording", "frames", pruned.Frames, "bytes", pruned.Bytes,
			"records", pruned.Records)
	}
	if stored.EvidenceDropped {
		db.log.Warn("evidence store full of recent frames; new frame not kept", "session", stored.ID,
			"seq", stored.Seq, "frame_bytes", len(evidence), "max_evidence_bytes", db.opts.Retention.MaxBytes)
	}
	return stored, nil
}

// appendTx is the body of RecordAttempt inside a write transaction: it applies the evidence
// policy, appends and seals the record, updates the indexes and the head, and enforces
// MaxRecords. What retention removed is added to rep (nil: not reported).
func (db *DB) appendTx(tx *bolt.Tx, a Attempt, evidence []byte, rep *PruneReport) (Attempt, error) {
	if db.auditKey == nil {
		return Attempt{}, fmt.Errorf("store: record attempt: no audit key loaded: %w", ErrKeyFile)
	}
	if rep == nil {
		rep = &PruneReport{}
	}
	byID := tx.Bucket(bucketByID)
	if byID.Get([]byte(a.ID)) != nil {
		return Attempt{}, fmt.Errorf("store: record attempt %q: %w", a.ID, ErrDuplicateAttempt)
	}
	meta := tx.Bucket(bucketMeta)
	prev := genesisHash
	var lastSeq uint64
	if h := meta.Get(keyChainHead); len(h) == 40 {
		lastSeq = binary.BigEndian.Uint64(h[:8])
		prev = hex.EncodeToString(h[8:])
	}
	attempts := tx.Bucket(bucketAttempts)
	seq := lastSeq + 1
	body := attemptBody{
		Seq: seq, ID: a.ID, Start: a.Start.UnixNano(), End: a.End.UnixNano(),
		Outcome: a.Outcome, Method: a.Method, User: a.User, Name: a.Name, BestUser: a.BestUser,
		BestDistance: finite(a.BestDistance), BestMargin: finite(a.BestMargin),
		Frames: a.Frames, PinTries: a.PinTries, Durations: map[string]float64{}, Reason: a.Reason,
		PrevHash: prev, Policy: a.Policy, Duress: a.Duress, Mismatch: a.Mismatch, OpenForS: finite(a.OpenForS),
		Liveness: a.Liveness.sealed(),
	}
	for k, v := range a.Durations {
		body.Durations[k] = finite(v)
	}
	if len(evidence) > 0 {
		size := int64(len(evidence))
		if evidenceBytes(meta)+size > db.opts.Retention.MaxBytes {
			// Make room only from frames past their retention age, never from recent ones.
			r, err := pruneTx(tx, db.opts.Clock.Now(), db.opts.Retention.MaxAge)
			if err != nil {
				return Attempt{}, err
			}
			rep.add(r)
		}
		if evidenceBytes(meta)+size > db.opts.Retention.MaxBytes {
			body.EvDropped = true
			if err := addCounter(meta, keyEvidenceDropped, 1); err != nil {
				return Attempt{}, err
			}
		} else {
			sum := sha256.Sum256(evidence)
			body.Evidence = evidenceKey(seq)
			body.EvidenceSHA = hex.EncodeToString(sum[:])
			v := make([]byte, 8, 8+len(evidence))
			binary.BigEndian.PutUint64(v, uint64(body.End))
			v = append(v, evidence...)
			if err := tx.Bucket(bucketFrames).Put([]byte(body.Evidence), v); err != nil {
				return Attempt{}, err
			}
			if err := addEvidenceBytes(meta, size); err != nil {
				return Attempt{}, err
			}
		}
	}
	enc, err := json.Marshal(body)
	if err != nil {
		return Attempt{}, err
	}
	sum := chainMAC(db.auditKey, prev, enc)
	val := append(sum[:], enc...)
	seqKey := u64(seq)
	if err := attempts.Put(seqKey, val); err != nil {
		return Attempt{}, err
	}
	if err := tx.Bucket(bucketByTime).Put(timeKey(body.Start, seq), nil); err != nil {
		return Attempt{}, err
	}
	if err := byID.Put([]byte(a.ID), seqKey); err != nil {
		return Attempt{}, err
	}
	if err := meta.Put(keyChainHead, append(u64(seq), sum[:]...)); err != nil {
		return Attempt{}, err
	}
	if err := tx.Bucket(bucketInProgress).Delete([]byte(a.ID)); err != nil {
		return Attempt{}, err
	}
	cp, err := db.checkpointTx(tx)
	if err != nil {
		return Attempt{}, err
	}
	if over := int64(seq-cp.Seq) - int64(db.opts.Retention.MaxRecords); over > 0 {
		r, err := db.pruneRecordsTx(tx, cp, cp.Seq+uint64(over), db.opts.Clock.Now())
		if err != nil {
			return Attempt{}, err
		}
		rep.add(r)
	}
	return body.attempt(hex.EncodeToString(sum[:]), false), nil
}

// attempt turns a decoded body into the public record.
func (b attemptBody) attempt(hash string, pruned bool) Attempt {
	return Attempt{
		Seq: b.Seq, ID: b.ID, Start: time.Unix(0, b.Start).UTC(), End: time.Unix(0, b.End).UTC(),
		Outcome: b.Outcome, Method: b.Method, User: b.User, Name: b.Name, BestUser: b.BestUser,
		BestDistance: b.BestDistance, BestMargin: b.BestMargin, Frames: b.Frames, PinTries: b.PinTries,
		Durations: b.Durations, Reason: b.Reason, Evidence: b.Evidence, EvidencePruned: pruned,
		PrevHash: b.PrevHash, Hash: hash, EvidenceSHA256: b.EvidenceSHA, EvidenceDropped: b.EvDropped,
		Policy: b.Policy, Duress: b.Duress, Mismatch: b.Mismatch, OpenForS: b.OpenForS, Liveness: b.Liveness,
	}
}

// decodeAttempt decodes a stored value (hash || body) and derives EvidencePruned.
func decodeAttempt(tx *bolt.Tx, v []byte) (Attempt, error) {
	if len(v) < 32 {
		return Attempt{}, fmt.Errorf("store: attempt value of %d bytes is too short", len(v))
	}
	var body attemptBody
	if err := json.Unmarshal(v[32:], &body); err != nil {
		return Attempt{}, fmt.Errorf("store: attempt body: %w", err)
	}
	pruned := body.Evidence != "" && tx.Bucket(bucketPruned).Get([]byte(body.Evidence)) != nil
	return body.attempt(hex.EncodeToString(v[:32]), pruned), nil
}

// RecoverInterrupted turns every leftover in-progress marker into a record with Outcome
// "interrupted" ending at now, and a leftover "door unlocked" marker (the daemon stopped while a
// granted session had the door open) into a door-event record: id UnlockInterruptedID(session),
// Outcome "interrupted", Method MethodDoor, Start the granted record's End. It returns the records
// written. Call it once at start, after the relay is locked and before the machine runs.
func (db *DB) RecoverInterrupted(now time.Time) ([]Attempt, error) {
	var out []Attempt
	err := db.update(func(tx *bolt.Tx) error {
		out = out[:0]
		type marker struct {
			id    string
			start int64
		}
		var ms []marker
		if err := tx.Bucket(bucketInProgress).ForEach(func(k, v []byte) error {
			var start int64
			if len(v) == 8 {
				start = int64(binary.BigEndian.Uint64(v))
			}
			ms = append(ms, marker{string(k), start})
			return nil
		}); err != nil {
			return err
		}
		for _, m := range ms {
			start := now
			if m.start != 0 {
				start = time.Unix(0, m.start).UTC()
			}
			a, err := db.appendTx(tx, Attempt{
				ID: m.id, Start: start, End: now, Outcome: OutcomeInterrupted,
				BestDistance: -1, BestMargin: -1, Reason: "daemon stopped during the session",
			}, nil, nil)
			if err != nil {
				return fmt.Errorf("store: recover session %q: %w", m.id, err)
			}
			out = append(out, a)
		}
		meta := tx.Bucket(bucketMeta)
		if sess := string(meta.Get(keyUnlocking)); sess != "" {
			start := now
			if g, err := getAttemptTx(tx, sess); err == nil {
				start = g.End
			}
			if tx.Bucket(bucketByID).Get([]byte(UnlockInterruptedID(sess))) == nil {
				a, err := db.appendTx(tx, Attempt{
					ID: UnlockInterruptedID(sess), Start: start, End: now, Outcome: OutcomeInterrupted,
					Method: MethodDoor, BestDistance: -1, BestMargin: -1,
					Reason: "daemon stopped while the door was unlocked for granted session " + sess +
						"; the relay was locked at start",
				}, nil, nil)
				if err != nil {
					return fmt.Errorf("store: recover unlocking of session %q: %w", sess, err)
				}
				out = append(out, a)
			}
			if err := meta.Delete(keyUnlocking); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrapf(err, "recover interrupted sessions")
	}
	for _, a := range out {
		db.log.Warn("interrupted session recorded", "session", a.ID, "seq", a.Seq)
	}
	return out, nil
}

// GetAttempt returns the record of session id, or ErrNotFound.
func (db *DB) GetAttempt(id string) (Attempt, error) {
	var a Attempt
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		a, err = getAttemptTx(tx, id)
		return err
	})
	return a, err
}

// getAttemptTx reads the record of session id.
func getAttemptTx(tx *bolt.Tx, id string) (Attempt, error) {
	seq := tx.Bucket(bucketByID).Get([]byte(id))
	if seq == nil {
		return Attempt{}, fmt.Errorf("store: attempt %q: %w", id, ErrNotFound)
	}
	v := tx.Bucket(bucketAttempts).Get(seq)
	if v == nil {
		return Attempt{}, fmt.Errorf("store: attempt %q (seq %d) missing from the history: %w", id,
			binary.BigEndian.Uint64(seq), ErrNotFound)
	}
	return decodeAttempt(tx, v)
}

// Filter selects attempts. Zero fields select everything: Since is inclusive, Until exclusive,
// both compared with Start; Outcome and User must match exactly.
type Filter struct {
	Since, Until time.Time
	Outcome      string
	User         string
}

// match reports whether a passes the non-time parts of f.
func (f Filter) match(a Attempt) bool {
	return (f.Outcome == "" || a.Outcome == f.Outcome) && (f.User == "" || a.User == f.User)
}

// scanChunk is how many records one read transaction visits. Scans run in short transactions
// so a long export never holds a read transaction that would stall the daemon's writes while
// bbolt grows its memory map; memory is bounded by one chunk.
const scanChunk = 512

// Attempts calls fn for every attempt matching f, in Start order (ties by Seq), streaming: it
// reads the time index range [Since, Until) in short chunks and calls fn outside any
// transaction, so fn may do anything, including writing to db. An error from fn stops the scan
// and is returned as is.
func (db *DB) Attempts(f Filter, fn func(Attempt) error) error {
	var from, to []byte
	if !f.Since.IsZero() {
		from = timeKey(f.Since.UnixNano(), 0)
	}
	if !f.Until.IsZero() {
		to = timeKey(f.Until.UnixNano(), 0)
	}
	buf := make([]Attempt, 0, scanChunk)
	for {
		buf = buf[:0]
		var next []byte
		err := db.view(func(tx *bolt.Tx) error {
			attempts := tx.Bucket(bucketAttempts)
			c := tx.Bucket(bucketByTime).Cursor()
			var k []byte
			if from == nil {
				k, _ = c.First()
			} else {
				k, _ = c.Seek(from)
			}
			n := 0
			for ; k != nil; k, _ = c.Next() {
				if to != nil && bytes.Compare(k, to) >= 0 {
					return nil
				}
				if n == scanChunk {
					next = bytes.Clone(k)
					return nil
				}
				n++
				v := attempts.Get(k[8:16])
				if v == nil {
					return fmt.Errorf("store: time index points at missing record %d (run Verify)", binary.BigEndian.Uint64(k[8:]))
				}
				a, err := decodeAttempt(tx, v)
				if err != nil {
					return err
				}
				if f.match(a) {
					buf = append(buf, a)
				}
			}
			return nil
		})
		if err != nil {
			return wrapf(err, "scan attempts")
		}
		for _, a := range buf {
			if err := fn(a); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		from = next
	}
}
