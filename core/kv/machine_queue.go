package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// The queues in the store, for group g (beside Machine's keys):
//
//	"v" g "q" seq            a waiting message (encodeQueued); seq 8 bytes, big-endian
//	"v" g "r" seq            a repair entry (encodeRepair)
//	"v" g "u" dest 0x00 seq  an outbound message (outbox.go has it and the other outbound records)
//	"v" g "i" id             a message id within the window: seq (8) | at (8)
//	"v" g "w" at seq         the same id, ordered by when it came: the id
//	"v" g "m"                the queues' counters (queueMeta.encode)
//
// at is the Unix nanoseconds as a big-endian uint64 offset by 1<<63, so
// that times sort as numbers do.
const (
	tagQueue    = 'q'
	tagRepair   = 'r'
	tagOutbound = 'u'
	tagID       = 'i'
	tagWindow   = 'w'
	tagMeta     = 'm'
)

// queueMeta counts what the queues hold; it is stored with them and
// mirrored in memory.
type queueMeta struct {
	tail     uint64 // the position of the newest message ever enqueued (positions start at 1)
	depth    uint64 // messages waiting
	bytes    uint64 // their payloads' bytes
	repairs  uint64
	outSeq   uint64 // the position of the newest outbound message ever queued (positions start at 1)
	outbound uint64
	// outRepairs counts the outbound repair entries.
	outRepairs uint64
	ids        uint64 // ids in the window
	settled    uint64
	// floor is a lower bound of the window's keys (at and seq): pruning
	// reads from there, not over the tombstones of every id it forgot.
	floorAt, floorSeq uint64
}

func (q *queueMeta) encode() []byte {
	var b []byte
	for _, v := range []uint64{q.tail, q.depth, q.bytes, q.repairs, q.outSeq, q.outbound, q.ids, q.settled, q.floorAt, q.floorSeq, q.outRepairs} {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

func decodeMeta(b []byte) (queueMeta, error) {
	d := decoder{b: b}
	q := queueMeta{tail: d.uvarint(), depth: d.uvarint(), bytes: d.uvarint(), repairs: d.uvarint(),
		outSeq: d.uvarint(), outbound: d.uvarint(), ids: d.uvarint(), settled: d.uvarint(), floorAt: d.uvarint(), floorSeq: d.uvarint(), outRepairs: d.uvarint()}
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d stray bytes after the queue counters", len(d.b)))
	}
	if d.err == nil && (q.depth > q.tail || q.outbound > q.outSeq) {
		d.fail(errors.New("queue counters out of step"))
	}
	return q, d.err
}

func seqKey(b []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(b, seq) }

func timeKey(b []byte, at int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(at)^(1<<63))
}

// ErrDiverged is the error of a command that shows this replica's state
// differs from the leader's that proposed it (the leader settled a
// message this replica holds at another position): an invariant the log
// guarantees, broken.
var ErrDiverged = errors.New("the state differs from the leader's")

// loadMeta reads the queues' counters.
func (m *Machine) loadMeta() error {
	m.queue = queueMeta{}
	v, closer, err := m.reader().Get(m.prefix(tagMeta))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	m.queue, err = decodeMeta(v)
	if err != nil {
		return fmt.Errorf("kv: group %d: %w", m.group, err)
	}
	return nil
}

func (m *Machine) saveMeta(b *pebble.Batch) error {
	return b.Set(m.prefix(tagMeta), m.queue.encode(), nil)
}

// head is the oldest waiting message's position, or the next one's if
// none waits. Messages settle strictly from the head and join at the
// tail, so the waiting ones are always the positions head..tail.
func (m *Machine) head() uint64 { return m.queue.tail + 1 - m.queue.depth }

// applyEnqueue puts a message at the tail of the queue, unless its id
// came within the window (the answer is then the first one's position) or
// the queue is full (StatusBusy).
func (m *Machine) applyEnqueue(b *pebble.Batch, index uint64, e *Enqueue) (Result, error) {
	res := Result{Status: StatusOK, Index: index}
	idKey := m.key(tagID, e.Message.ID)
	v, closer, err := b.Get(idKey)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return Result{}, err
	default:
		if len(v) != 16 {
			closer.Close()
			return Result{}, fmt.Errorf("kv: group %d: id %q: a record of %d bytes", m.group, e.Message.ID, len(v))
		}
		seq, at := binary.BigEndian.Uint64(v), int64(binary.BigEndian.Uint64(v[8:]))
		closer.Close()
		if !expired(at, e.At, e.Limits.Window) {
			res.Revision = seq
			return res, nil
		}
		// Out of the window but not yet pruned: forget it now.
		if err := m.forgetID(b, e.Message.ID, seq, at); err != nil {
			return Result{}, err
		}
	}
	if !m.room(&e.Message, e.Limits) {
		res.Status = StatusBusy
		res.Error = fmt.Sprintf("the inbound queue is full (%d messages, %d bytes waiting)", m.queue.depth, m.queue.bytes)
		// An expired id forgotten above changed the counters.
		return res, m.saveMeta(b)
	}
	seq, err := m.push(b, &Queued{Message: e.Message, At: e.At, Attempts: e.Attempts})
	if err != nil {
		return Result{}, err
	}
	rec := binary.BigEndian.AppendUint64(nil, seq)
	rec = binary.BigEndian.AppendUint64(rec, uint64(e.At))
	if err := b.Set(idKey, rec, nil); err != nil {
		return Result{}, err
	}
	if err := b.Set(seqKey(timeKey(m.prefix(tagWindow), e.At), seq), []byte(e.Message.ID), nil); err != nil {
		return Result{}, err
	}
	if at := uint64(e.At) ^ (1 << 63); m.queue.ids == 0 || at < m.queue.floorAt || at == m.queue.floorAt && seq < m.queue.floorSeq {
		m.queue.floorAt, m.queue.floorSeq = at, seq
	}
	m.queue.ids++
	if m.queue.tail%pruneEvery == 0 {
		if err := m.pruneIDs(b, e.At, e.Limits); err != nil {
			return Result{}, err
		}
	}
	res.Revision = seq
	return res, m.saveMeta(b)
}

// expired reports whether an id that came at at is out of the window at now.
func expired(at, now, window int64) bool {
	return window <= 0 || at < now-window && now-window < now // the second term guards overflow
}

// room reports whether the queue can take msg.
func (m *Machine) room(msg *Message, l QueueLimits) bool {
	if l.MaxMessages > 0 && m.queue.depth >= uint64(l.MaxMessages) {
		return false
	}
	// A message larger than the byte limit alone still goes into an empty
	// queue: otherwise it could never be enqueued.
	return l.MaxBytes <= 0 || m.queue.depth == 0 || m.queue.bytes+uint64(len(msg.Payload)) <= uint64(l.MaxBytes)
}

// push appends a message at the tail and returns its position.
func (m *Machine) push(b *pebble.Batch, q *Queued) (uint64, error) {
	m.queue.tail++
	q.Seq = m.queue.tail
	if err := b.Set(seqKey(m.prefix(tagQueue), q.Seq), encodeQueued(q), nil); err != nil {
		return 0, err
	}
	m.queue.depth++
	m.queue.bytes += uint64(len(q.Message.Payload))
	return q.Seq, nil
}

func (m *Machine) forgetID(b *pebble.Batch, id string, seq uint64, at int64) error {
	if err := b.Delete(m.key(tagID, id), nil); err != nil {
		return err
	}
	m.queue.ids--
	return b.Delete(seqKey(timeKey(m.prefix(tagWindow), at), seq), nil)
}

// Every pruneEvery-th enqueue forgets up to pruneLimit ids: more than
// the enqueues between add, so the window keeps up, and few enough to
// bound an apply's work. (Each pruning opens an iterator, which costs
// more than the deletions.)
const (
	pruneEvery = 8
	pruneLimit = 32
)

// pruneIDs forgets the oldest ids: those out of the window at now, and
// any beyond MaxIDs.
func (m *Machine) pruneIDs(b *pebble.Batch, now int64, l QueueLimits) error {
	type old struct {
		id  string
		seq uint64
		at  int64
	}
	var drop []old
	over := 0
	if l.MaxIDs > 0 && m.queue.ids > uint64(l.MaxIDs) {
		over = int(min(m.queue.ids-uint64(l.MaxIDs), pruneLimit))
	}
	p := m.prefix(tagWindow)
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: seqKey(binary.BigEndian.AppendUint64(bytes.Clone(p), m.queue.floorAt), m.queue.floorSeq),
		UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	for valid := it.First(); valid && len(drop) < pruneLimit; valid = it.Next() {
		rest := it.Key()[len(p):]
		if len(rest) != 16 {
			it.Close()
			return fmt.Errorf("kv: group %d: a window key of %d bytes", m.group, len(rest))
		}
		at := int64(binary.BigEndian.Uint64(rest) ^ (1 << 63))
		if len(drop) >= over && !expired(at, now, l.Window) {
			break
		}
		drop = append(drop, old{string(it.Value()), binary.BigEndian.Uint64(rest[8:]), at})
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	for _, o := range drop {
		if err := m.forgetID(b, o.id, o.seq, o.at); err != nil {
			return err
		}
	}
	if n := len(drop); n > 0 {
		// Everything before the last one forgotten is gone.
		m.queue.floorAt, m.queue.floorSeq = uint64(drop[n-1].at)^(1<<63), drop[n-1].seq
	}
	return nil
}

// applyProcess settles messages in queue order. An item for a message
// already settled is skipped; one for a message behind others still
// waiting is skipped with everything after it (the leader sends them
// again), so messages settle in the order they were enqueued.
func (m *Machine) applyProcess(b *pebble.Batch, index uint64, p *Process) (Result, error) {
	res := Result{Status: StatusOK, Index: index}
	for i := range p.Items {
		it := &p.Items[i]
		if it.Seq > m.head() || it.Seq > m.queue.tail {
			break // behind a waiting message, or never enqueued
		}
		if it.Seq < m.head() {
			continue // settled already
		}
		k := seqKey(m.prefix(tagQueue), it.Seq)
		v, closer, err := b.Get(k)
		if err != nil {
			return Result{}, fmt.Errorf("kv: group %d: the head of the queue, %d: %w", m.group, it.Seq, err)
		}
		q, err := decodeQueued(it.Seq, v)
		closer.Close()
		if err != nil {
			return Result{}, fmt.Errorf("kv: group %d: %w", m.group, err)
		}
		if q.Message.ID != it.ID {
			return Result{}, fmt.Errorf("kv: group %d: %w: position %d holds message %q, the leader settled %q", m.group, ErrDiverged, it.Seq, q.Message.ID, it.ID)
		}
		if err := b.Delete(k, nil); err != nil {
			return Result{}, err
		}
		m.queue.depth--
		m.queue.bytes -= uint64(len(q.Message.Payload))
		m.queue.settled++
		res.Revision++ // how many settled
		f := it.Failure
		if f == nil {
			if f, err = m.conflicts(b, it.Objects); err != nil {
				return Result{}, err
			}
		}
		if f != nil {
			q.Attempts++
			r := RepairEntry{Queued: q, Failure: *f, FailedAt: p.At}
			if err := b.Set(seqKey(m.prefix(tagRepair), it.Seq), encodeRepair(&r), nil); err != nil {
				return Result{}, err
			}
			m.queue.repairs++
			continue
		}
		for j := range it.Objects {
			c := Command{Op: OpPutObject, Object: &it.Objects[j]}
			if c.Object.Replica && len(c.Object.Value) == 0 {
				c.Op = OpDeleteObject // a received deletion
			}
			if r, err := m.applyObject(b, index, &c, true); err != nil {
				return Result{}, err
			} else if r.Status != StatusOK {
				return Result{}, fmt.Errorf("kv: group %d: a checked object write answered %s: %s", m.group, r.Status, r.Error)
			}
		}
		for _, o := range it.Outbound {
			e := OutboxEntry{Destination: o.Destination, Key: o.Key, MessageID: it.ID, Value: o.Value, At: p.At}
			if err := m.pushOutbound(b, &e); err != nil {
				return Result{}, err
			}
		}
	}
	return res, m.saveMeta(b)
}

// conflicts checks a message's object writes against the unique indexes,
// the stored objects' and each other's, before any of them applies: a
// message is stored whole or not at all.
func (m *Machine) conflicts(r pebble.Reader, ws []ObjectWrite) (*Failure, error) {
	claimed := map[string]string{} // type, index, key -> pk
	for i := range ws {
		w := &ws[i]
		if w.Replica {
			continue // a received change takes its unique keys (applyObject)
		}
		for _, e := range w.Indexes {
			if !e.Unique {
				continue
			}
			slot := w.Type + "\x00" + e.Index + "\x00" + e.Key
			if pk, ok := claimed[slot]; ok && pk != w.PK {
				return &Failure{Step: -1, Reason: fmt.Sprintf("storing %s %q: unique index %s: key also given to %q by this message", w.Type, w.PK, e.Index, pk)}, nil
			}
			claimed[slot] = w.PK
			holder, err := m.holder(r, w.Type, e, w.PK)
			if err != nil {
				return nil, err
			}
			if holder != "" && !m.rewritten(ws[:i], w.Type, holder, e) {
				return &Failure{Step: -1, Reason: fmt.Sprintf("storing %s %q: unique index %s: key held by %q", w.Type, w.PK, e.Index, holder)}, nil
			}
		}
	}
	return nil, nil
}

// rewritten reports whether an earlier write of the same message replaces
// object pk without the index entry e, freeing its key.
func (m *Machine) rewritten(ws []ObjectWrite, typ, pk string, e IndexEntry) bool {
	found := false
	for i := range ws {
		if ws[i].Type == typ && ws[i].PK == pk {
			found = true
			for _, x := range ws[i].Indexes {
				if x.Index == e.Index && x.Key == e.Key {
					found = false
				}
			}
		}
	}
	return found
}

// applyRepair applies an operator's action on a repair entry.
func (m *Machine) applyRepair(b *pebble.Batch, index uint64, r *Repair) (Result, error) {
	res := Result{Status: StatusOK, Index: index}
	k := seqKey(m.prefix(tagRepair), r.Seq)
	v, closer, err := b.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		res.Status, res.Error = StatusNotFound, fmt.Sprintf("the repair queue has no entry %d", r.Seq)
		return res, nil
	}
	if err != nil {
		return Result{}, err
	}
	e, err := decodeRepair(r.Seq, v)
	closer.Close()
	if err != nil {
		return Result{}, fmt.Errorf("kv: group %d: %w", m.group, err)
	}
	switch r.Action {
	case RepairPurge:
		m.queue.repairs--
		if err := b.Delete(k, nil); err != nil {
			return Result{}, err
		}
	case RepairEdit:
		e.Message.Payload = r.Payload
		if err := b.Set(k, encodeRepair(&e), nil); err != nil {
			return Result{}, err
		}
	case RepairRetry:
		if !m.room(&e.Message, r.Limits) {
			res.Status = StatusBusy
			res.Error = fmt.Sprintf("the inbound queue is full (%d messages, %d bytes waiting)", m.queue.depth, m.queue.bytes)
			return res, nil
		}
		m.queue.repairs--
		if err := b.Delete(k, nil); err != nil {
			return Result{}, err
		}
		if res.Revision, err = m.push(b, &Queued{Message: e.Message, At: r.At, Attempts: e.Attempts}); err != nil {
			return Result{}, err
		}
	}
	return res, m.saveMeta(b)
}

// Queue reads the queues' depths and, with list "repair" or "queue", up to
// limit entries of that queue after position after.
func (m *Machine) Queue(list string, after uint64, limit int) (QueueState, error) {
	r := m.reader()
	head := m.head()
	st := QueueState{Depth: int(m.queue.depth), Bytes: int64(min(m.queue.bytes, math.MaxInt64)), Head: head, Tail: m.queue.tail,
		Repairs: int(m.queue.repairs), Outbound: int(m.queue.outbound), OutRepairs: int(m.queue.outRepairs), OutTail: m.queue.outSeq, Settled: m.queue.settled}
	if m.queue.depth > 0 {
		v, closer, err := r.Get(seqKey(m.prefix(tagQueue), head))
		if err != nil {
			return QueueState{}, err
		}
		q, err := decodeQueued(head, v)
		closer.Close()
		if err != nil {
			return QueueState{}, err
		}
		st.OldestAt = q.At
	}
	dests, err := m.Destinations()
	if err != nil {
		return QueueState{}, err
	}
	st.Destinations = dests
	if limit <= 0 || limit > MaxQueuePage {
		limit = MaxQueuePage
	}
	var tag byte
	switch list {
	case "":
		return st, nil
	case "outbound":
		if after == math.MaxUint64 {
			return st, nil
		}
		st.OutEntries, err = m.OutRepairs(after, limit)
		return st, err
	case "repair":
		tag = tagRepair
	case "queue":
		tag = tagQueue
	default:
		return QueueState{}, fmt.Errorf("kv: no queue %q to list (repair, queue, outbound)", list)
	}
	if after == math.MaxUint64 {
		return st, nil
	}
	p := m.prefix(tag)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: seqKey(bytes.Clone(p), after+1), UpperBound: prefixEnd(p)})
	if err != nil {
		return QueueState{}, err
	}
	defer it.Close()
	for valid := it.First(); valid && len(st.Entries) < limit; valid = it.Next() {
		seq := binary.BigEndian.Uint64(it.Key()[len(p):])
		var e RepairEntry
		if tag == tagRepair {
			e, err = decodeRepair(seq, it.Value())
		} else {
			e.Queued, err = decodeQueued(seq, it.Value())
		}
		if err != nil {
			return QueueState{}, err
		}
		st.Entries = append(st.Entries, e)
	}
	return st, it.Error()
}

// Waiting reads up to limit waiting messages from the head of the queue,
// starting at position from: the leader's next messages to run through
// the pipeline.
func (m *Machine) Waiting(from uint64, limit int) ([]Queued, error) {
	return seqPage(m, m.prefix(tagQueue), from, limit, decodeQueued)
}

// seqPage reads up to limit records of a sequence under prefix p (keys
// p seq), from position from on, decoded.
func seqPage[T any](m *Machine, p []byte, from uint64, limit int, decode func(seq uint64, v []byte) (T, error)) ([]T, error) {
	var out []T
	it, err := m.reader().NewIter(&pebble.IterOptions{LowerBound: seqKey(bytes.Clone(p), from), UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for valid := it.First(); valid && len(out) < limit; valid = it.Next() {
		e, err := decode(binary.BigEndian.Uint64(it.Key()[len(p):]), it.Value())
		if err != nil {
			return nil, fmt.Errorf("kv: group %d: %w", m.group, err)
		}
		out = append(out, e)
	}
	return out, it.Error()
}

// QueueBounds are the positions of the oldest waiting message (the next
// one's if none waits) and of the newest message ever enqueued.
func (m *Machine) QueueBounds() (head, tail uint64) {
	return m.head(), m.queue.tail
}

// Remembers reports whether a message with this id was enqueued and is
// still remembered (it may be out of the window, not yet forgotten: an
// enqueue decides that).
func (m *Machine) Remembers(id string) (bool, error) {
	_, closer, err := m.reader().Get(m.key(tagID, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, closer.Close()
}

// QueueDepth is how many messages wait in the inbound queue.
func (m *Machine) QueueDepth() int { return int(m.queue.depth) }

// checkQueueStored checks a queue record of a snapshot.
func checkQueueStored(tag byte, k, v []byte) error {
	switch tag {
	case tagQueue, tagRepair:
		if len(k) != 8 {
			return fmt.Errorf("a queue key of %d bytes", len(k))
		}
		seq := binary.BigEndian.Uint64(k)
		if tag == tagQueue {
			_, err := decodeQueued(seq, v)
			return err
		}
		_, err := decodeRepair(seq, v)
		return err
	case tagID:
		if len(v) != 16 || len(k) == 0 || len(k) > MaxMessageID {
			return errors.New("a malformed id record")
		}
	case tagWindow:
		if len(k) != 16 || len(v) == 0 || len(v) > MaxMessageID {
			return errors.New("a malformed window record")
		}
	case tagMeta:
		if len(k) != 0 {
			return errors.New("a queue counter record with a key")
		}
		_, err := decodeMeta(v)
		return err
	}
	return nil
}
