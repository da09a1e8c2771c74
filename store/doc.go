// Package store keeps doorface's persistent state in one bbolt file (default
// ./data/doorface.db): users, their face templates, a tamper-evident history of every door
// attempt with its evidence frames, and the door state that must survive a restart (the PIN
// lockout and the head of the audit chain).
//
// # What it owns
//
//   - The file layout (buckets meta, users, pins, templates, crops, attempts, attempts_by_time,
//     attempts_by_id, in_progress, frames, pruned; meta keys schema, chain_head, chain_base,
//     lockout, evidence_bytes, evidence_dropped, unlocking, pin_key_id, audit_key_id), its
//     schema version (SchemaVersion) and the migrations from older versions, run by Open.
//   - The key files beside the database, mode 0600: pin.key (PINs) and audit.key (the chain).
//   - The keyed chain of attempts and its verification ([DB.Verify], [DB.VerifyAgainst],
//     [VerifyExport]), its head ([DB.Head]).
//   - Retention of evidence and history ([DB.Prune], [DB.HistoryUsage]) and the offline export
//     ([DB.Export], [ExportFile]) and compaction ([Compact]).
//
// # What it must not do
//
// It knows nothing of the state machine, vision, HTTP or GPIO: it imports only bbolt, the
// clock package and the standard library. It never logs, exports or stores a PIN in the clear,
// never logs a template or key, and never opens bbolt with NoSync.
//
// # PINs: why a keyed HMAC
//
// A PIN typed at the door must find its user with constant work. A salted slow hash (bcrypt,
// argon2id with a per-user salt) would need one slow hash per enrolled user for every typed
// PIN. So the store keeps an index HMAC-SHA256(key, pin) -> user id: one HMAC and one B+tree
// lookup whatever the number of users, and the same index enforces that PINs are unique. A
// plain or salted-but-unkeyed hash would not do: PINs have at most 10^12 (usually 10^5)
// values, so anyone with the file could hash them all in seconds. The 32-byte random key lives
// in a separate file (Options.KeyFile, default pin.key beside the database, mode 0600) created
// on the first start, never inside the database: a stolen or copied database file alone
// reveals no PIN. The database stores only HMAC(key, fixed label) so Open can refuse a key file
// that belongs to another database; once PINs are enrolled, a missing key file is an error
// (ErrKeyFile) rather than a silent new key that would invalidate every PIN. argon2id with a
// secret would add work per guess but needs golang.org/x/crypto and costs the Pi ~64 MiB and
// tens of milliseconds per typed PIN; against an attacker who has the key file as well, no
// hash saves a 5-digit PIN anyway, so the key's secrecy is what protects PINs and HMAC is
// enough. Back up pin.key together with the database.
//
// # Templates and face crops (issue 14)
//
// A template is one descriptor of one engine under "user id/template id". With
// Retention.KeepFaceCrops, [DB.AddTemplateWithCrop] also keeps the JPEG crop of the face it was
// computed from in bucket crops (created by the first crop, so schema 2 files without it need no
// migration), under "user id/crop id" (the id of the first template made from it), sealed with
// AES-256-GCM under HMAC-SHA256(PIN key, "doorface face crop key v1") with the key as additional
// data: like the PINs, a copied database file alone shows no face, and a crop moved to another
// user or template does not open. [DB.RebuildTemplates] recomputes one engine's templates from
// the crops (the `doorface gallery rebuild` command); templates record their crop (Template.Crop),
// and [DB.DeleteTemplate] deletes a template together with its crop and the templates made from
// it for other engines. [DB.DeleteUser] deletes the user's crops.
//
// # Access policy (issue 17)
//
// A user record holds the access policy the machine evaluates (enabled, validity window, Mode,
// Schedule name) and the HMAC of an optional duress PIN. Duress PINs share the pins index with
// PINs, their value being "duress/" + user id, so a PIN is unique across both; FindPIN tells
// them apart and LookupPIN ignores duress PINs. The named weekly schedules ([Schedule]) are one
// JSON value under meta/schedules; a schedule assigned to a user cannot be deleted. Records
// carry the policy fields Policy, Duress, Mismatch and OpenForS, encoded only when set, so
// records written before them keep their bytes and MACs.
//
// # The audit chain
//
// Attempts are stored under their sequence number (attempts), indexed by start time
// (attempts_by_time, so date ranges are B+tree range scans) and by session id. Each value is
// HMAC-SHA256(audit key, label || PrevHash || body) followed by body, the canonical JSON of the
// record (fixed field order, times in Unix nanoseconds) including PrevHash, the previous
// record's MAC (64 zeros for the first), and the sha256 of its evidence frame. The meta bucket
// keeps the last sequence number and MAC (the head).
//
// The audit key (Options.AuditKeyFile, default audit.key beside the database, 32 random bytes,
// mode 0600) is created like pin.key on the first read-write open and kept apart from it, so an
// auditor given the audit key to verify exports learns nothing about PINs. A database whose
// history is sealed with a key is refused without that key file (ErrKeyFile). Back it up with
// the database and pin.key. A read-only open without it can export but not verify.
//
// [DB.Verify] checks every MAC and link from the sealed checkpoint on, that each kept evidence
// frame is the one sealed in its record (or was pruned by retention), and that the indexes and
// the frames bucket hold exactly the records' entries. Without the key nobody can edit, insert,
// reorder, re-chain or delete a record, swap a photo, or forge or delete an index entry unseen.
// What the file alone cannot show is a tail cut off with the head rewritten to match, or a
// history rewritten by someone who also took audit.key: for that, export the head off the
// device now and then (`doorface audit head`, [DB.Head]) and check against it
// ([DB.VerifyAgainst], or [VerifyExport] for an export folder, which needs only the exported
// files, the audit key and the head).
//
// Schema 1 chained records with unkeyed sha256, which anyone could recompute. Opening a schema-1
// file read-write re-seals it once (migrate1to2): the old chain is checked as before, every
// record is re-written with its evidence sha256 and a MAC, and a note with the old chain's state
// ("verified intact" or "BROKEN: ...") is kept in the sealed checkpoint and reported by Verify
// for good (VerifyReport.Checkpoint.Resealed). A break found then is not repaired.
//
// # Retention (issue 15)
//
//   - Evidence: frames older than MaxEvidenceAge (30 days) are pruned by Prune (hourly); the
//     record stays and reads back EvidencePruned. MaxEvidenceBytes (512 MiB) is never met by
//     evicting recent frames: a new frame that does not fit once frames past their age are gone
//     is not kept, its record says EvidenceDropped, and HistoryUsage.EvidenceDropped counts it.
//   - History: at most MaxRecords (100,000; about 2.4 KB each on disk, some 250 MB) records;
//     RecordAttempt prunes the oldest beyond that, and Prune those that ended more than
//     MaxRecordAge (400 days) ago, but never the newest KeepRecords (1,000). Pruned records go
//     with their index entries and frames; the checkpoint (meta chain_base, MACed) moves to the
//     last pruned record's Seq and MAC, so the kept history still verifies from it. Pruning
//     checks each record's MAC before sealing past it and stops at one that does not verify.
//   - [DB.HistoryUsage] reports records and evidence against their caps; Fill() at 0.9 or more
//     is the moment to alarm: the oldest history is about to go.
//
// # Durability
//
// Every write is one bbolt transaction committed with fdatasync before the method returns; in
// particular RecordAttempt returns only once the record is on disk, so the machine may report
// the session ended. BeginAttempt writes a durable in-progress marker; RecoverInterrupted at
// start turns leftovers into "interrupted" records. Reads run in short transactions (chunks
// of 512 records) so a long export never stalls the daemon's writes.
//
// # The door-unlocked marker and the "<session>-unlock" record
//
// The in-progress marker ends with the session's record, but a granted session's record is
// written before the relay opens, so a stop while the door is open would leave no trace. So
// RecordAttempt of a record with Outcome "granted" also puts the session id under the meta key
// "unlocking", in the same fsync'd transaction; [DB.EndUnlock] deletes it once the relay is
// locked again (the machine calls it, through AttemptSink.EndUnlock, on leaving Unlocking, including
// a shutdown or a failed unlock; if the relock write failed, only once the relay's own retry
// has written the locked level). There is at most one such marker: the door has one relay, and
// a newer grant overwrites the key. EndUnlock of a session that does not own the marker is a
// no-op, so a late call cannot clear a newer grant's marker.
//
// When [DB.RecoverInterrupted] finds the key at start (kill -9, power cut or crash while
// Unlocking), it appends one door-event record and deletes the key, in one transaction:
//
//   - ID: UnlockInterruptedID(session), the session id followed by "-unlock"
//   - Outcome: "interrupted" (OutcomeInterrupted), Method: "door" (MethodDoor), no user
//   - Start: the granted record's End (the moment the door was about to open), End: now
//   - Reason: names the granted session and that the relay was locked at start
//
// It is not an attempt: the session keeps its one "granted" attempt record unchanged, so
// "every session ends in exactly one attempt record" still holds when counting records whose
// Method is not "door". The record is chained and verified like any other, is written at most
// once (an existing "<session>-unlock" id is not written again); the daemon's session ids are
// 32 hex digits, so no session id ends in "-unlock". A denied, cancelled or locked-out
// session never sets the marker.
//
// # Corruption and repair
//
// Open runs bbolt's consistency check (tx.Check). If it fails, Open keeps a copy of the file
// as <path>.corrupt-<unix seconds>, returns an error wrapping ErrCorrupt and the daemon must
// refuse to start (the door stays locked). To repair, with the daemon stopped, on a copy:
//
//	go install go.etcd.io/bbolt/cmd/bbolt@v1.5.0
//	bbolt check data/doorface.db                  # lists the damaged pages
//	bbolt surgery revert-meta-page data/doorface.db --output fixed.db   # torn last commit: fall back to the other meta page
//	bbolt surgery clear-page-elements data/doorface.db --output fixed.db --pageId N --from-index 0 --to-index -1  # drop a damaged page's elements
//	bbolt check fixed.db
//	bbolt compact -o compacted.db fixed.db        # rewrite into a fresh, clean file
//
// then move the repaired file into place (keep pin.key beside it). bbolt never shrinks its
// file; `doorface db compact` ([Compact]) writes a compacted copy of a closed database. After any
// repair, [DB.Verify] names the first audit record the repair lost or damaged.
//
// # Caveats
//
// The time index orders by the session's start time: a wall clock stepped backwards still
// keeps every record, only out of Seq order in exports. Filter.Until is exclusive.
package store
