package kv

// Moving a bucket from one replicaset to another: the state machine's
// part (core/README.md, "Moving a bucket", has the whole protocol).
//
// On the source, a send step starts the move. From its index on, every
// write that may touch the bucket leaves the name of what it touched in
// a change log, so that the destination, having copied the bucket's
// items, catches up with what changed meanwhile by reading them again.
// A freeze step ends the bucket's writes here: from its index on, a
// client's write to the bucket is refused (StatusRedirect) as it
// applies, and the refusal is not remembered in the dedup table, so
// that the client's retry applies at the destination. A drop step
// deletes the items its leader lists, once group 0 gave the bucket
// away, and the bucket stays refused here until an import brings it
// back. A resume step (an aborted move) ends the move and the refusal.
//
// On the destination, an import step writes items as the source held
// them (an object with its revision, history and tombstone), and merges
// the source's dedup entries, the later answer of each client winning,
// so that a write retried across the move applies once.
//
// The machine cannot tell an object's bucket from its key: that needs
// the model (model.Type.RouteKey). A client's object write carries its
// routing key in Command.Key, and a received change its Route; a
// migration's rewrite and a settled message's objects carry neither.
// The change log therefore keeps every object touched while a bucket is
// sent, but for a client's write routed elsewhere, and the reader
// filters with the model (BucketItems, BucketChanges). Writes of
// unknown bucket are never refused here: the source's leader proposes
// none for the bucket while it moves.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

const (
	// tagSend holds the move under way from this replicaset (one
	// record): move | bucket | buckets | since | frozen, as uvarints.
	tagSend = 'b'
	// tagAway holds the buckets given away and not brought back, which
	// this replicaset refuses writes to: "v" g "g" bucket (2 bytes) ->
	// buckets uvarint.
	tagAway = 'g'
	// tagFloor holds the revision floor (one record, a uvarint): the
	// highest revision an import brought, which every later write of an
	// object passes (applyObject), so that an object's revisions only go
	// up at a replicaset whose log is behind the source's, even where the
	// import brought only its kept versions.
	tagFloor = 'f'
	// tagEpoch holds, for each bucket a move step or import touched, the
	// newest move that did and whether it is sealed here: "v" g "e"
	// bucket (2 bytes) -> move uvarint | sealed byte (0: no, 1: by a
	// seal, the copy whole; 2: by a drop). A step of an older move, or an
	// import of a sealed one, is refused (Machine.fenced).
	tagEpoch = 'e'
	// tagChange is the change log of the bucket being sent:
	// "v" g "c" index (8 bytes) n (4 bytes) -> 'k' key | 'o' type 0x00 pk.
	tagChange = 'c'
)

// Bounds on the move steps, checked by DecodeCommand.
const (
	// MaxBuckets bounds a cluster's bucket count in a move step.
	MaxBuckets = 1 << 16
	// MaxMoveItems bounds the keys, objects or items of one step.
	MaxMoveItems = 1024
	// MaxMoveDedup bounds the dedup entries of one import step.
	MaxMoveDedup = 4096
)

// StepKind is what a BucketStep does.
type StepKind uint8

// Steps of a move at its source. The values are part of the log format.
const (
	StepSend StepKind = iota + 1
	StepFreeze
	StepResume
	StepDrop
	// StepSeal is the destination's last step before its commit: the
	// copy is whole, and no import of the move applies after it (one
	// read from a stale configuration would overwrite what the bucket's
	// owner took since). It ends the bucket's being away.
	StepSeal
)

var stepNames = [...]string{StepSend: "send", StepFreeze: "freeze", StepResume: "resume", StepDrop: "drop", StepSeal: "seal"}

func (k StepKind) String() string {
	if k >= StepSend && k <= StepSeal {
		return stepNames[k]
	}
	return fmt.Sprintf("step%d", uint8(k))
}

// BucketStep is a source leader's step of a move (OpBucket), or a
// destination's seal.
type BucketStep struct {
	Kind    StepKind
	Move    uint64 // the move's id in group 0
	Bucket  int
	Buckets int // how many buckets keys spread over (Bucket's n)
	// Keys and Objects are, for a drop, the items of the bucket to
	// delete: the leader lists them, a page at a time.
	Keys    []string
	Objects []ObjectRef
}

// ObjectRef names an object.
type ObjectRef struct{ Type, PK string }

// Import is a destination leader's step of a move (OpImport): items of
// the bucket as the source holds them, and dedup entries to merge.
type Import struct {
	Move    uint64
	Bucket  int
	Buckets int
	Items   []Item
	Dedup   []DedupEntry
}

// Item is a plain key (Object nil) with its value, or an object as a
// replicaset holds it.
type Item struct {
	Key    string
	Value  Value
	Object *ObjectState
}

// ObjectState is an object as a replicaset holds it: its record (nil: it
// has none), its kept versions, oldest first, and its deletion's stamp.
type ObjectState struct {
	Type, PK  string
	Record    *ObjectRecord
	History   []ObjectRecord
	Tombstone Stamp // zero: none
}

// DedupEntry is a client's last applied request and the answer it got.
type DedupEntry struct {
	Client string
	Seq    uint64
	Result Result
}

// Sending is the move under way from this replicaset, as its machine
// has applied it.
type Sending struct {
	Move            uint64
	Bucket, Buckets int
	Since           uint64 // the send step's index
	Frozen          uint64 // the freeze step's index (0: not frozen)
}

func (s *Sending) encode() []byte {
	b := binary.AppendUvarint(nil, s.Move)
	b = binary.AppendUvarint(b, uint64(s.Bucket))
	b = binary.AppendUvarint(b, uint64(s.Buckets))
	b = binary.AppendUvarint(b, s.Since)
	return binary.AppendUvarint(b, s.Frozen)
}

func decodeSending(v []byte) (Sending, error) {
	d := decoder{b: v}
	s := Sending{Move: d.uvarint(), Bucket: d.count(MaxBuckets-1, "bucket"), Buckets: d.count(MaxBuckets, "buckets"),
		Since: d.uvarint(), Frozen: d.uvarint()}
	if d.err == nil && (s.Bucket >= s.Buckets || s.Since == 0 || len(d.b) > 0) {
		d.fail(errors.New("a malformed move record"))
	}
	return s, d.err
}

// moveState is the machine's part of the moves, mirrored in memory.
type moveState struct {
	send  *Sending
	away  map[int]int // bucket -> buckets
	floor uint64      // the revision floor (tagFloor)
	// epochs is, by bucket, the newest move a step or an import here was
	// of, and whether this replicaset sealed it (tagEpoch).
	epochs map[int]epoch
	// at and n number the change log's records within an entry.
	at uint64
	n  uint32
}

// epoch is a bucket's newest move here.
type epoch struct {
	move   uint64
	sealed seal
}

// seal says whether a bucket's newest move is sealed here, and how.
type seal uint8

const (
	unsealed   seal = iota
	sealedCopy      // by a seal: the copy is whole
	sealedDrop      // by a drop: the copy is gone
)

// fenced says why a step or an import of move (of bucket) may not apply
// here, or "": its move is older than one a step here was of, or, for
// an import or a send, the move is sealed here (the copy is whole, or
// dropped). Move IDs grow with each move group 0 starts, so a step of an
// older move comes from a leader whose configuration is behind.
func (m *Machine) fenced(bucket int, move uint64, refuseSealed bool) string {
	ep := m.moves.epochs[bucket]
	switch {
	case move < ep.move:
		return fmt.Sprintf("move %d of bucket %d is older than move %d, which a step here was of", move, bucket, ep.move)
	case move == ep.move && ep.sealed != unsealed && refuseSealed:
		return fmt.Sprintf("move %d of bucket %d is sealed here", move, bucket)
	}
	return ""
}

// setEpoch records that a step of move touched bucket, sealing it or
// not; an older move changes nothing, and a seal stays (a drop's
// outlasts a seal's).
func (m *Machine) setEpoch(b *pebble.Batch, bucket int, move uint64, s seal) error {
	ep := m.moves.epochs[bucket]
	next := epoch{move: move, sealed: s}
	if move == ep.move {
		next.sealed = max(s, ep.sealed)
	}
	if move < ep.move || next == ep {
		return nil
	}
	m.moves.epochs[bucket] = next
	v := append(binary.AppendUvarint(nil, move), byte(next.sealed))
	return b.Set(binary.BigEndian.AppendUint16(m.prefix(tagEpoch), uint16(bucket)), v, nil)
}

// Sealed reports whether this replicaset sealed its copy of bucket for
// move: the copy is whole, and a destination's new leader commits the
// move without copying again (its imports would be refused).
func (m *Machine) Sealed(bucket int, move uint64) bool {
	ep := m.moves.epochs[bucket]
	return ep.move == move && ep.sealed == sealedCopy
}

// DroppedMove says how a leftover copy of bucket from move stands here:
// dropped once a drop of the move applied (no import of it applies
// after), superseded when a step of a later move did (the leftover is
// not this replicaset's to touch any more).
func (m *Machine) DroppedMove(bucket int, move uint64) (dropped, superseded bool) {
	ep := m.moves.epochs[bucket]
	return ep.move == move && ep.sealed == sealedDrop, ep.move > move
}

func decodeEpoch(k, v []byte) (int, epoch, error) {
	move, n := binary.Uvarint(v)
	if len(k) != 2 || n <= 0 || len(v) != n+1 || v[n] > byte(sealedDrop) {
		return 0, epoch{}, errors.New("a malformed bucket epoch")
	}
	return int(binary.BigEndian.Uint16(k)), epoch{move: move, sealed: seal(v[n])}, nil
}

// Sending reports the move under way from this replicaset, if any.
func (m *Machine) Sending() (Sending, bool) {
	if m.moves.send == nil {
		return Sending{}, false
	}
	return *m.moves.send, true
}

// Away reports whether this replicaset gave bucket away (of buckets) and
// refuses writes to it.
func (m *Machine) Away(bucket int) bool {
	_, ok := m.moves.away[bucket]
	return ok
}

// raiseFloor raises the revision floor to rev.
func (m *Machine) raiseFloor(b *pebble.Batch, rev uint64) error {
	if rev <= m.moves.floor {
		return nil
	}
	m.moves.floor = rev
	return b.Set(m.prefix(tagFloor), binary.AppendUvarint(nil, rev), nil)
}

// revision is the revision a write applied at index gives an object whose
// stored revision is old (0: none): its index, unless the object or the
// revision floor is already there or further.
func (m *Machine) revision(index, old uint64) uint64 {
	return max(index, old+1, m.moves.floor+1)
}

func (m *Machine) loadMoves() error {
	m.moves = moveState{away: map[int]int{}, epochs: map[int]epoch{}}
	switch v, closer, err := m.reader().Get(m.prefix(tagFloor)); {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return err
	default:
		f, n := binary.Uvarint(v)
		closer.Close()
		if n <= 0 || n != len(v) {
			return fmt.Errorf("kv: group %d: a malformed revision floor", m.group)
		}
		m.moves.floor = f
	}
	v, closer, err := m.reader().Get(m.prefix(tagSend))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return err
	default:
		s, err := decodeSending(v)
		closer.Close()
		if err != nil {
			return fmt.Errorf("kv: group %d: %w", m.group, err)
		}
		m.moves.send = &s
	}
	err = iterPrefix(m.reader(), m.prefix(tagAway), func(k, v []byte) (bool, error) {
		bucket, buckets, err := decodeAway(k, v)
		if err != nil {
			return false, fmt.Errorf("kv: group %d: %w", m.group, err)
		}
		m.moves.away[bucket] = buckets
		return true, nil
	})
	if err != nil {
		return err
	}
	return iterPrefix(m.reader(), m.prefix(tagEpoch), func(k, v []byte) (bool, error) {
		bucket, ep, err := decodeEpoch(k, v)
		if err != nil {
			return false, fmt.Errorf("kv: group %d: %w", m.group, err)
		}
		m.moves.epochs[bucket] = ep
		return true, nil
	})
}

func decodeAway(k, v []byte) (bucket, buckets int, err error) {
	d := decoder{b: v}
	buckets = d.count(MaxBuckets, "buckets")
	if len(k) != 2 || d.err != nil || len(d.b) > 0 || int(binary.BigEndian.Uint16(k)) >= buckets {
		return 0, 0, errors.New("a malformed given-away bucket")
	}
	return int(binary.BigEndian.Uint16(k)), buckets, nil
}

func (m *Machine) awayKey(bucket int) []byte {
	return binary.BigEndian.AppendUint16(m.prefix(tagAway), uint16(bucket))
}

// commandBucket is the bucket a client's write goes to, if the command
// says: a plain key's, a client's object write's (routed by Key), a
// received change's (by Route).
func commandBucket(c *Command, buckets int) (int, bool) {
	switch {
	case c.Op == OpPut || c.Op == OpDelete || c.Op == OpCAS:
		return Bucket(c.Key, buckets), true
	case c.Object != nil && c.Key != "":
		return Bucket(c.Key, buckets), true
	case c.Object != nil && c.Object.Route != "":
		return Bucket(c.Object.Route, buckets), true
	}
	return 0, false
}

// refuses reports whether c is a write to a bucket this replicaset has
// frozen or given away.
func (m *Machine) refuses(c *Command) bool {
	if s := m.moves.send; s != nil && s.Frozen != 0 && !m.IgnoreFreeze {
		if b, ok := commandBucket(c, s.Buckets); ok && b == s.Bucket {
			return true
		}
	}
	if len(m.moves.away) == 0 {
		return false
	}
	memo := map[int]int{}
	for bucket, buckets := range m.moves.away { //detlint:unordered any match refuses
		b, ok := memo[buckets]
		if !ok {
			if b, ok = commandBucket(c, buckets); !ok {
				return false
			}
			memo[buckets] = b
		}
		if b == bucket {
			return true
		}
	}
	return false
}

// logChanges records in the change log what c, applied at index with
// result res, may have touched of the bucket being sent.
func (m *Machine) logChanges(b *pebble.Batch, index uint64, c *Command, res *Result) error {
	s := m.moves.send
	if s == nil || res.Status != StatusOK || res.Stale {
		return nil
	}
	if m.moves.at != index {
		m.moves.at, m.moves.n = index, 0
	}
	put := func(v []byte) error {
		k := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(m.prefix(tagChange), index), m.moves.n)
		m.moves.n++
		return b.Set(k, v, nil)
	}
	object := func(typ, pk string) error { return put(append(append(append([]byte{'o'}, typ...), 0), pk...)) }
	switch {
	case c.Op == OpPut || c.Op == OpDelete || c.Op == OpCAS:
		if Bucket(c.Key, s.Buckets) == s.Bucket {
			return put(append([]byte{'k'}, c.Key...))
		}
	case c.Object != nil:
		if bk, ok := commandBucket(c, s.Buckets); !ok || bk == s.Bucket {
			return object(c.Object.Type, c.Object.PK)
		}
	case c.Process != nil:
		for _, it := range c.Process.Items {
			for i := range it.Objects {
				if err := object(it.Objects[i].Type, it.Objects[i].PK); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// endSend forgets the move under way and its change log.
func (m *Machine) endSend(b *pebble.Batch) error {
	m.moves.send = nil
	if err := b.Delete(m.prefix(tagSend), nil); err != nil {
		return err
	}
	p := m.prefix(tagChange)
	return b.DeleteRange(p, prefixEnd(p), nil)
}

// applyBucket applies a source leader's step. Each is idempotent: a step
// applied again, or a freeze or resume of a move not under way here,
// changes nothing (a freeze of another move answers StatusNotFound).
func (m *Machine) applyBucket(b *pebble.Batch, index uint64, s *BucketStep) (Result, error) {
	res := Result{Status: StatusOK, Index: index}
	if why := m.fenced(s.Bucket, s.Move, s.Kind == StepSend); why != "" {
		res.Status, res.Error = StatusMismatch, why
		return res, nil
	}
	cur := m.moves.send
	mine := cur != nil && cur.Move == s.Move
	switch s.Kind {
	case StepSend:
		if mine {
			return res, nil
		}
		if cur != nil && cur.Frozen != 0 {
			// A frozen bucket is resumed (an abort) or dropped (a
			// commit) before its source sends another: never thawed by
			// the next move.
			res.Status = StatusMismatch
			res.Error = fmt.Sprintf("bucket %d of move %d is frozen here", cur.Bucket, cur.Move)
			return res, nil
		}
		if cur != nil {
			if err := m.endSend(b); err != nil {
				return Result{}, err
			}
		}
		m.moves.send = &Sending{Move: s.Move, Bucket: s.Bucket, Buckets: s.Buckets, Since: index}
		if err := m.setEpoch(b, s.Bucket, s.Move, unsealed); err != nil {
			return Result{}, err
		}
		return res, b.Set(m.prefix(tagSend), m.moves.send.encode(), nil)
	case StepFreeze:
		if !mine {
			res.Status = StatusNotFound
			return res, nil
		}
		if cur.Frozen == 0 {
			cur.Frozen = index
		}
		res.Revision = cur.Frozen
		return res, b.Set(m.prefix(tagSend), cur.encode(), nil)
	case StepResume:
		if mine {
			return res, m.endSend(b)
		}
		return res, nil
	case StepDrop:
		if mine {
			if err := m.endSend(b); err != nil {
				return Result{}, err
			}
		}
		m.moves.away[s.Bucket] = s.Buckets
		if err := b.Set(m.awayKey(s.Bucket), binary.AppendUvarint(nil, uint64(s.Buckets)), nil); err != nil {
			return Result{}, err
		}
		// A dropped copy takes no late import of its move.
		if err := m.setEpoch(b, s.Bucket, s.Move, sealedDrop); err != nil {
			return Result{}, err
		}
		for _, k := range s.Keys {
			if Bucket(k, s.Buckets) != s.Bucket {
				return Result{}, fmt.Errorf("kv: group %d: dropping bucket %d: key %q is in bucket %d", m.group, s.Bucket, k, Bucket(k, s.Buckets))
			}
			if err := b.Delete(m.key(tagKey, k), nil); err != nil {
				return Result{}, err
			}
		}
		for _, o := range s.Objects {
			if err := m.putObjectState(b, &ObjectState{Type: o.Type, PK: o.PK}, nil); err != nil {
				return Result{}, err
			}
		}
		return res, nil
	case StepSeal:
		if err := m.back(b, s.Bucket); err != nil {
			return Result{}, err
		}
		return res, m.setEpoch(b, s.Bucket, s.Move, sealedCopy)
	}
	return Result{}, fmt.Errorf("kv: a bucket step of kind %s", s.Kind)
}

// back ends the bucket's being away, if it is: an import or a seal
// brought it here.
func (m *Machine) back(b *pebble.Batch, bucket int) error {
	if _, ok := m.moves.away[bucket]; !ok {
		return nil
	}
	delete(m.moves.away, bucket)
	return b.Delete(m.awayKey(bucket), nil)
}

// applyImport writes an imported page. Result.Error counts the unique
// index keys its objects took from other objects here (putObjectState).
func (m *Machine) applyImport(b *pebble.Batch, index uint64, im *Import) (Result, error) {
	res := Result{Status: StatusOK, Index: index}
	if why := m.fenced(im.Bucket, im.Move, true); why != "" {
		res.Status, res.Error = StatusMismatch, why
		return res, nil
	}
	if err := m.back(b, im.Bucket); err != nil {
		return Result{}, err
	}
	if err := m.setEpoch(b, im.Bucket, im.Move, unsealed); err != nil {
		return Result{}, err
	}
	taken := 0
	for i := range im.Items {
		it := &im.Items[i]
		if it.Object == nil {
			if Bucket(it.Key, im.Buckets) != im.Bucket {
				return Result{}, fmt.Errorf("kv: group %d: importing bucket %d: key %q is in bucket %d", m.group, im.Bucket, it.Key, Bucket(it.Key, im.Buckets))
			}
			var err error
			if it.Value.Present {
				err = b.Set(m.key(tagKey, it.Key), []byte(it.Value.S), nil)
			} else {
				err = b.Delete(m.key(tagKey, it.Key), nil)
			}
			if err != nil {
				return Result{}, err
			}
			continue
		}
		if err := m.putObjectState(b, it.Object, &taken); err != nil {
			return Result{}, err
		}
	}
	for _, e := range im.Dedup {
		if cur, ok := m.dedup[e.Client]; ok && cur.seq >= e.Seq {
			continue
		}
		a := answer{seq: e.Seq, result: e.Result}
		m.dedup[e.Client] = a
		if err := b.Set(m.key(tagDedup, e.Client), a.encode(), nil); err != nil {
			return Result{}, err
		}
	}
	if taken > 0 {
		res.Error = fmt.Sprintf("%d unique index keys taken from other objects here", taken)
	}
	return res, nil
}

// putObjectState makes the object here what st says: its record with its
// index entries, its history and its tombstone replaced. An imported
// object takes its unique keys from any object here that holds them, as
// a received change does (applyObject): the source held them unique,
// and a holder of the moving bucket is a stale copy that a later page
// brings up to date, whatever order the pages name them in; taken, if
// not nil, counts the keys so taken. The revision floor rises past the
// revisions it brings.
func (m *Machine) putObjectState(b *pebble.Batch, st *ObjectState, taken *int) error {
	old, exists, err := m.getObject(b, st.Type, st.PK)
	if err != nil {
		return err
	}
	if exists {
		if err := m.removeEntries(b, &old); err != nil {
			return err
		}
	}
	hp := m.historyPrefix(st.Type, st.PK)
	if err := b.DeleteRange(hp, prefixEnd(hp), nil); err != nil {
		return err
	}
	for i := range st.History {
		h := &st.History[i]
		if err := b.Set(binary.BigEndian.AppendUint64(bytes.Clone(hp), h.Revision), encodeRecord(h), nil); err != nil {
			return err
		}
		if err := m.raiseFloor(b, h.Revision); err != nil {
			return err
		}
	}
	if st.Tombstone != (Stamp{}) {
		err = b.Set(m.tombstoneKey(st.Type, st.PK), appendStamp(nil, st.Tombstone), nil)
	} else {
		err = b.Delete(m.tombstoneKey(st.Type, st.PK), nil)
	}
	if err != nil {
		return err
	}
	rec := st.Record
	if rec == nil {
		return b.Delete(m.objectKey(st.Type, st.PK), nil)
	}
	for _, e := range rec.Indexes {
		var v []byte
		if e.Unique {
			holder, err := m.holder(b, rec.Type, e, rec.PK)
			if err != nil {
				return err
			}
			if holder != "" && taken != nil {
				*taken++
			}
			v = []byte(rec.PK)
		}
		if err := b.Set(m.indexKey(rec.Type, e, rec.PK), v, nil); err != nil {
			return err
		}
	}
	if err := m.raiseFloor(b, rec.Revision); err != nil {
		return err
	}
	return b.Set(m.objectKey(rec.Type, rec.PK), encodeRecord(rec), nil)
}

// objectState reads an object as this replicaset holds it.
func (m *Machine) objectState(typ, pk string) (*ObjectState, error) {
	st := &ObjectState{Type: typ, PK: pk}
	rec, ok, err := m.getObject(m.reader(), typ, pk)
	if err != nil {
		return nil, err
	}
	if ok {
		st.Record = &rec
	}
	if st.History, err = m.ObjectHistory(typ, pk); err != nil {
		return nil, err
	}
	if st.Tombstone, err = m.tombstone(m.reader(), typ, pk); err != nil {
		return nil, err
	}
	return st, nil
}

// ObjectBucket tells an object's bucket (of the buckets BucketItems and
// BucketChanges were given), from the model; false for an object it
// cannot place (a type the model lacks), which is left out.
type ObjectBucket func(typ, pk string) (int, bool)

// BucketCursor is where a reading of a bucket's items goes on: after the
// stored key Last (nil: from the start).
type BucketCursor struct{ Last []byte }

// itemTags are the records BucketItems reads, in this order: plain keys,
// objects, then the deleted objects' tombstones and the kept versions of
// objects that have neither record nor tombstone.
var itemTags = []byte{tagKey, tagObject, tagTombstone, tagHistory}

// BucketItems reads items of bucket (of buckets) after the cursor: up to
// limit of them, looking at most at scan stored records. done says there
// are no more.
func (m *Machine) BucketItems(bucket, buckets int, from BucketCursor, limit, scan int, place ObjectBucket) (items []Item, next BucketCursor, done bool, err error) {
	if limit < 1 || scan < 1 {
		return nil, from, false, fmt.Errorf("kv: reading a bucket's items: limit %d, scan %d", limit, scan)
	}
	next = from
	var objects []ObjectRef
	seen, stopped := 0, false
	for _, tag := range itemTags {
		if len(from.Last) > 0 && tag != from.Last[0] && slices.Index(itemTags, tag) < slices.Index(itemTags, from.Last[0]) {
			continue // read before
		}
		p := m.prefix(tag)
		lo := p
		if len(from.Last) > 0 && from.Last[0] == tag {
			lo = append(append(m.prefix(0)[:9], from.Last...), 0)
		}
		more, err := m.bucketRecords(p, lo, func(k, v []byte) (bool, error) {
			if len(items)+len(objects) >= limit || seen >= scan {
				return false, nil
			}
			seen++
			next.Last = bytes.Clone(k[9:])
			rest := k[len(p):]
			if tag == tagKey {
				if key := string(rest); Bucket(key, buckets) == bucket {
					items = append(items, Item{Key: key, Value: Some(string(v))})
				}
				return true, nil
			}
			i := bytes.IndexByte(rest, 0)
			if i < 0 {
				return false, fmt.Errorf("kv: group %d: a stored object key without its type", m.group)
			}
			ref := ObjectRef{Type: string(rest[:i])}
			if tag == tagHistory {
				pk, _, ok := readEscaped(rest[i+1:])
				if !ok {
					return false, fmt.Errorf("kv: group %d: a malformed history key", m.group)
				}
				ref.PK = pk
			} else {
				ref.PK = string(rest[i+1:])
			}
			if b, ok := place(ref.Type, ref.PK); !ok || b != bucket {
				return true, nil
			}
			if n := len(objects); n > 0 && objects[n-1] == ref {
				return true, nil // another kept version
			}
			if tag != tagObject {
				// An object read with its record or its tombstone already.
				st, err := m.objectState(ref.Type, ref.PK)
				if err != nil {
					return false, err
				}
				if st.Record != nil || tag == tagHistory && st.Tombstone != (Stamp{}) {
					return true, nil
				}
			}
			objects = append(objects, ref)
			return true, nil
		})
		if err != nil {
			return nil, from, false, err
		}
		if more {
			stopped = true
			break
		}
	}
	for _, o := range objects {
		st, err := m.objectState(o.Type, o.PK)
		if err != nil {
			return nil, from, false, err
		}
		items = append(items, Item{Object: st})
	}
	return items, next, !stopped, nil
}

// bucketRecords visits the records from lo that start with p, until
// visit returns false; more says it stopped before their end.
func (m *Machine) bucketRecords(p, lo []byte, visit func(k, v []byte) (bool, error)) (more bool, err error) {
	it, err := m.reader().NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(p)})
	if err != nil {
		return false, err
	}
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		ok, err := visit(it.Key(), it.Value())
		if err != nil {
			return false, err
		}
		if !ok {
			return true, it.Error()
		}
	}
	return false, it.Error()
}

// ChangeCursor is where a reading of the change log goes on: the next
// record's position.
type ChangeCursor struct {
	Index uint64
	N     uint32
}

// BucketChanges reads, from the change log after the cursor, what writes
// touched of the bucket being sent: up to limit items, looking at most at
// scan records (a settled message's objects are logged whatever their
// bucket, and place tells them apart), and returns each item as it is
// now (the last write wins: a key deleted since is absent). done says
// the log has no more.
func (m *Machine) BucketChanges(from ChangeCursor, limit, scan int, place ObjectBucket) (items []Item, next ChangeCursor, done bool, err error) {
	if limit < 1 || scan < 1 {
		return nil, from, false, fmt.Errorf("kv: reading a change log: limit %d, scan %d", limit, scan)
	}
	s := m.moves.send
	if s == nil {
		return nil, from, true, nil
	}
	p := m.prefix(tagChange)
	lo := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(bytes.Clone(p), from.Index), from.N)
	it, err := m.reader().NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, from, false, err
	}
	defer it.Close()
	next = from
	keys, objects := map[string]bool{}, map[ObjectRef]bool{}
	var order []Item
	n := 0
	valid := it.First()
	for ; valid && n < scan && len(order) < limit; valid = it.Next() {
		k, v := it.Key()[len(p):], it.Value()
		if len(k) != 12 || len(v) < 1 {
			return nil, from, false, fmt.Errorf("kv: group %d: a malformed change record", m.group)
		}
		n++
		next = ChangeCursor{Index: binary.BigEndian.Uint64(k), N: binary.BigEndian.Uint32(k[8:]) + 1}
		switch v[0] {
		case 'k':
			if key := string(v[1:]); !keys[key] {
				keys[key] = true
				order = append(order, Item{Key: key})
			}
		case 'o':
			i := bytes.IndexByte(v[1:], 0)
			if i < 0 {
				return nil, from, false, fmt.Errorf("kv: group %d: a malformed change record", m.group)
			}
			ref := ObjectRef{string(v[1 : 1+i]), string(v[2+i:])}
			if b, ok := place(ref.Type, ref.PK); ok && b == s.Bucket && !objects[ref] {
				objects[ref] = true
				order = append(order, Item{Object: &ObjectState{Type: ref.Type, PK: ref.PK}})
			}
		default:
			return nil, from, false, fmt.Errorf("kv: group %d: a change record of kind %q", m.group, v[0])
		}
	}
	if err := it.Error(); err != nil {
		return nil, from, false, err
	}
	for _, o := range order {
		if o.Object == nil {
			if o.Value, err = get(m.reader(), m.key(tagKey, o.Key)); err != nil {
				return nil, from, false, err
			}
			items = append(items, o)
			continue
		}
		st, err := m.objectState(o.Object.Type, o.Object.PK)
		if err != nil {
			return nil, from, false, err
		}
		items = append(items, Item{Object: st})
	}
	return items, next, !valid, nil
}

// Dedup reads up to limit of the clients' last answers, in client order,
// after client after.
func (m *Machine) Dedup(after string, limit int) []DedupEntry {
	var out []DedupEntry
	for _, c := range slices.Sorted(maps.Keys(m.dedup)) {
		if c <= after && after != "" {
			continue
		}
		if len(out) == limit {
			break
		}
		a := m.dedup[c]
		out = append(out, DedupEntry{Client: c, Seq: a.seq, Result: a.result})
	}
	return out
}

// Encodings of the move steps, after a command's common part:
//
//	step:   kind byte | move | bucket | buckets | keys (count, strings) | objects (count, (type, pk))
//	import: move | bucket | buckets | items (count, item) | dedup (count, (client, seq, result))
//	item:   'k' key | value-present byte | value
//	      | 'o' type | pk | record (empty: none) | history (count, records, oldest first) | tombstone-present byte [| stamp]
//
// with counts, numbers and lengths as uvarints and records as stored
// (encodeRecord).

func (s *BucketStep) appendTo(b []byte) []byte {
	b = append(b, byte(s.Kind))
	b = binary.AppendUvarint(b, s.Move)
	b = binary.AppendUvarint(b, uint64(s.Bucket))
	b = binary.AppendUvarint(b, uint64(s.Buckets))
	b = binary.AppendUvarint(b, uint64(len(s.Keys)))
	for _, k := range s.Keys {
		b = appendString(b, k)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Objects)))
	for _, o := range s.Objects {
		b = appendString(appendString(b, o.Type), o.PK)
	}
	return b
}

func (d *decoder) bucketStep() *BucketStep {
	s := &BucketStep{Kind: StepKind(d.byte()), Move: d.uvarint()}
	s.Bucket, s.Buckets = d.bucketOf()
	if d.err == nil && (s.Kind < StepSend || s.Kind > StepSeal) {
		d.fail(fmt.Errorf("a bucket step of kind %d", s.Kind))
	}
	n := d.count(MaxMoveItems, "keys")
	for i := 0; i < n && d.err == nil; i++ {
		s.Keys = append(s.Keys, d.keyOf(s.Bucket, s.Buckets))
	}
	n = d.count(MaxMoveItems, "objects")
	for i := 0; i < n && d.err == nil; i++ {
		o := ObjectRef{Type: d.string(), PK: d.string()}
		d.checkObject(o.Type, o.PK)
		s.Objects = append(s.Objects, o)
	}
	if d.err == nil && s.Kind != StepDrop && len(s.Keys)+len(s.Objects) > 0 {
		d.fail(fmt.Errorf("a %s step that lists items", s.Kind))
	}
	return s
}

// keyOf reads a plain key, which must be in bucket (of buckets): a step
// never touches another bucket's keys.
func (d *decoder) keyOf(bucket, buckets int) string {
	k := d.string()
	if d.err == nil && Bucket(k, buckets) != bucket {
		d.fail(fmt.Errorf("key %q is in bucket %d, not %d", k, Bucket(k, buckets), bucket))
	}
	return k
}

// bucketOf reads a bucket and the bucket count it is of.
func (d *decoder) bucketOf() (bucket, buckets int) {
	bucket, buckets = d.count(MaxBuckets-1, "bucket"), d.count(MaxBuckets, "buckets")
	if d.err == nil && bucket >= buckets {
		d.fail(fmt.Errorf("bucket %d of %d", bucket, buckets))
	}
	return bucket, buckets
}

func (d *decoder) checkObject(typ, pk string) {
	if d.err != nil {
		return
	}
	if err := checkType(typ); err != nil {
		d.fail(err)
	} else if err := checkPK(pk); err != nil {
		d.fail(err)
	}
}

func (im *Import) appendTo(b []byte) []byte {
	b = binary.AppendUvarint(b, im.Move)
	b = binary.AppendUvarint(b, uint64(im.Bucket))
	b = binary.AppendUvarint(b, uint64(im.Buckets))
	b = binary.AppendUvarint(b, uint64(len(im.Items)))
	for i := range im.Items {
		b = im.Items[i].appendTo(b)
	}
	b = binary.AppendUvarint(b, uint64(len(im.Dedup)))
	for _, e := range im.Dedup {
		b = appendString(b, e.Client)
		b = binary.AppendUvarint(b, e.Seq)
		b = appendString(b, string(e.Result.encode()))
	}
	return b
}

func (it *Item) appendTo(b []byte) []byte {
	if it.Object == nil {
		b = appendString(append(b, 'k'), it.Key)
		if it.Value.Present {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		return appendString(b, it.Value.S)
	}
	o := it.Object
	b = appendString(appendString(append(b, 'o'), o.Type), o.PK)
	var rec []byte
	if o.Record != nil {
		rec = encodeRecord(o.Record)
	}
	b = appendString(b, string(rec))
	b = binary.AppendUvarint(b, uint64(len(o.History)))
	for i := range o.History {
		b = appendString(b, string(encodeRecord(&o.History[i])))
	}
	if o.Tombstone == (Stamp{}) {
		return append(b, 0)
	}
	return appendStamp(append(b, 1), o.Tombstone)
}

func (d *decoder) importPart() *Import {
	im := &Import{Move: d.uvarint()}
	im.Bucket, im.Buckets = d.bucketOf()
	n := d.count(MaxMoveItems, "items")
	for i := 0; i < n && d.err == nil; i++ {
		im.Items = append(im.Items, d.item(im.Bucket, im.Buckets))
	}
	n = d.count(MaxMoveDedup, "dedup entries")
	for i := 0; i < n && d.err == nil; i++ {
		e := DedupEntry{Client: d.string(), Seq: d.uvarint()}
		raw := d.bytes()
		if d.err != nil {
			break
		}
		r, err := decodeResult(raw)
		if err == nil && !bytes.Equal(r.encode(), raw) {
			err = errors.New("a result not in its canonical encoding")
		}
		if err != nil {
			d.fail(fmt.Errorf("dedup entry of %q: %w", e.Client, err))
		}
		e.Result = r
		im.Dedup = append(im.Dedup, e)
	}
	return im
}

func (d *decoder) item(bucket, buckets int) Item {
	switch d.byte() {
	case 'k':
		it := Item{Key: d.keyOf(bucket, buckets)}
		it.Value.Present = d.bool()
		it.Value.S = d.string()
		if d.err == nil && !it.Value.Present && it.Value.S != "" {
			d.fail(errors.New("an absent value with bytes"))
		}
		return it
	case 'o':
		o := &ObjectState{Type: d.string(), PK: d.string()}
		d.checkObject(o.Type, o.PK)
		if raw := d.bytes(); d.err == nil && len(raw) > 0 {
			rec := d.record(o.Type, o.PK, raw)
			o.Record = &rec
		}
		n := d.count(MaxHistory, "kept versions")
		for i := 0; i < n && d.err == nil; i++ {
			rec := d.record(o.Type, o.PK, d.bytes())
			if d.err == nil && i > 0 && rec.Revision <= o.History[i-1].Revision {
				d.fail(fmt.Errorf("the kept versions of %s %q are not in revision order", o.Type, o.PK))
			}
			o.History = append(o.History, rec)
		}
		if d.bool() {
			o.Tombstone = d.stamp()
			if d.err == nil && (o.Tombstone.Time <= 0 || o.Tombstone.Time > MaxChangeTime) {
				d.fail(fmt.Errorf("a tombstone of %s %q stamped at %d", o.Type, o.PK, o.Tombstone.Time))
			}
		}
		return Item{Object: o}
	}
	d.fail(errors.New("an item neither a key nor an object"))
	return Item{}
}

// record decodes a record carried in a move step; only its canonical
// encoding is taken, so that one step has one encoding.
func (d *decoder) record(typ, pk string, raw []byte) ObjectRecord {
	if d.err != nil {
		return ObjectRecord{}
	}
	rec, err := decodeRecord(typ, pk, raw)
	if err == nil && !bytes.Equal(encodeRecord(&rec), raw) {
		err = fmt.Errorf("object %s %q: a record not in its canonical encoding", typ, pk)
	}
	if err != nil {
		d.fail(err)
	}
	return rec
}

// checkMoveStored checks a restored record of the moves' state.
func checkMoveStored(tag byte, k, v []byte) error {
	switch tag {
	case tagSend:
		if len(k) > 0 {
			return errors.New("a move record with a key")
		}
		_, err := decodeSending(v)
		return err
	case tagAway:
		_, _, err := decodeAway(k, v)
		return err
	case tagFloor:
		if _, n := binary.Uvarint(v); len(k) > 0 || n <= 0 || n != len(v) {
			return errors.New("a malformed revision floor")
		}
		return nil
	case tagEpoch:
		_, _, err := decodeEpoch(k, v)
		return err
	}
	if len(k) != 12 || len(v) < 1 || (v[0] != 'k' && v[0] != 'o') || (v[0] == 'o' && bytes.IndexByte(v[1:], 0) < 0) {
		return errors.New("a malformed change record")
	}
	return nil
}
