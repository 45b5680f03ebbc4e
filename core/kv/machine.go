package kv

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/shoaldb/shoal/core/store"
)

// Machine is one replicaset's key-value state on an instance, in pebble:
// the keys, the typed objects with their index entries and history, the
// last answer to each client (for retries), and the index of the last
// applied entry, always written together so that a restarted instance
// resumes exactly after what it applied.
//
// Keys in the store, for group g (8 bytes, big-endian):
//
//	"v" g "k" key     the key's value
//	"v" g "d" client  the client's last sequence number (8 bytes) and answer
//	"v" g "a"         the applied index (8 bytes)
//	"v" g "o" type 0x00 pk                         an object's record
//	"v" g "x" type 0x00 index 0x00 esc(key)        a unique index entry: the object's pk
//	"v" g "x" type 0x00 index 0x00 esc(key) pk     any other index entry: no value
//	"v" g "h" type 0x00 esc(pk) revision           a previous version's record (revision: 8 bytes, big-endian)
//
// Type and index names hold no zero byte (DecodeCommand refuses them), so
// 0x00 ends them. Primary keys and index keys are any bytes: esc writes a
// string so that it ends itself and keeps its order (0x00 becomes
// 0x00 0xff, and 0x00 0x01 ends it), so no two (key, pk) pairs share an
// entry, a key's entries are together and in pk order, and keys sort as
// they would bare. A record (ObjectRecord, its type and pk in its key) is
//
//	version uvarint | revision uvarint | value | entry count uvarint | (index | key | unique byte)...
//
// with strings as uvarint length and bytes. A record keeps its index
// entries so that the next write of the object removes them.
type Machine struct {
	st      *store.Store
	group   uint64
	applied uint64
	batch   *pebble.Batch // applies since the last Flush
	// dedup mirrors the stored answers in memory: every write looks its
	// client up, and a pebble read per write would cost more than the
	// write itself.
	dedup map[string]answer
	// ForgetDedup makes retried writes apply again (the forget-dedup
	// planted bug); normal builds never set it.
	ForgetDedup bool
	// IgnoreStamps applies every received change whatever its stamp (the
	// last-arrival-wins planted bug); normal builds never set it.
	IgnoreStamps bool
	// IgnoreFreeze applies clients' writes to a frozen bucket (the
	// two-owners planted bug); normal builds never set it.
	IgnoreFreeze bool
	queue        queueMeta // the queues' counters (machine_queue.go)
	moves        moveState // the bucket moves' state (move.go)
	// outChanges counts changes to the outbound queues (a message queued,
	// one settled, a snapshot restored): the leader reads its outbox again
	// only when it moved.
	outChanges uint64
	// OnReceived, if set, hears every received change as it applies
	// (later: it changed the object) or not, to trace it.
	OnReceived func(w *ObjectWrite, later bool)
}

const (
	tagKey     = 'k'
	tagDedup   = 'd'
	tagApplied = 'a'
	tagObject  = 'o'
	tagIndex   = 'x'
	tagHistory = 'h'
)

// answer is a client's last applied sequence number and the result it got.
type answer struct {
	seq    uint64
	result Result
}

func (a answer) encode() []byte {
	return append(binary.BigEndian.AppendUint64(nil, a.seq), a.result.encode()...)
}

func decodeAnswer(b []byte) (answer, error) {
	if len(b) < 8 {
		return answer{}, errors.New("a dedup record is shorter than its sequence number")
	}
	r, err := decodeResult(b[8:])
	return answer{seq: binary.BigEndian.Uint64(b), result: r}, err
}

func (m *Machine) prefix(tag byte) []byte {
	p := make([]byte, 0, 10)
	p = append(p, 'v')
	p = binary.BigEndian.AppendUint64(p, m.group)
	return append(p, tag)
}

func (m *Machine) key(tag byte, k string) []byte { return append(m.prefix(tag), k...) }

// span bounds every key of the group.
func (m *Machine) span() (lo, hi []byte) {
	lo = m.prefix(0)[:9]
	return lo, append(append([]byte(nil), lo...), 0xff)
}

// Open opens group's state in st.
func Open(st *store.Store, group uint64) (*Machine, error) {
	m := &Machine{st: st, group: group, dedup: map[string]answer{}}
	v, closer, err := st.Reader().Get(m.prefix(tagApplied))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("kv: group %d: applied index: %w", group, err)
	default:
		if len(v) != 8 {
			closer.Close()
			return nil, fmt.Errorf("kv: group %d: the applied index is %d bytes", group, len(v))
		}
		m.applied = binary.BigEndian.Uint64(v)
		closer.Close()
	}
	if err := m.loadMeta(); err != nil {
		return nil, err
	}
	if err := m.loadMoves(); err != nil {
		return nil, err
	}
	return m, m.loadDedup()
}

// loadDedup reads every client's answer into memory.
func (m *Machine) loadDedup() error {
	clear(m.dedup)
	return iterPrefix(m.reader(), m.prefix(tagDedup), func(k, v []byte) (bool, error) {
		a, err := decodeAnswer(v)
		if err != nil {
			return false, fmt.Errorf("kv: group %d: client %q: %w", m.group, k, err)
		}
		m.dedup[string(k)] = a
		return true, nil
	})
}

// Applied is the index of the last entry applied.
func (m *Machine) Applied() uint64 { return m.applied }

func (m *Machine) reader() pebble.Reader {
	if m.batch != nil {
		return m.batch
	}
	return m.st.Reader()
}

func (m *Machine) begin() *pebble.Batch {
	if m.batch == nil {
		m.batch = m.st.NewBatch()
	}
	return m.batch
}

func get(r pebble.Reader, k []byte) (Value, error) {
	v, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return None, nil
	}
	if err != nil {
		return None, err
	}
	defer closer.Close()
	return Some(string(v)), nil
}

// Get reads a key as of the last applied entry.
func (m *Machine) Get(key string) (Value, error) { return get(m.reader(), m.key(tagKey, key)) }

// Apply applies the command of the entry at index. A retried command
// (its client's sequence number already applied) changes nothing and
// returns the answer given the first time.
func (m *Machine) Apply(index uint64, c Command) (Result, error) {
	m.applied = index
	// A background migration's rewrite answers nobody and is applied at
	// most once by its own condition (the object's revision), so it
	// bypasses the clients' dedup table; so does the leader's settling of
	// queued messages, which skips what is already settled.
	rewrite := c.Object != nil && c.Object.Rewrite || c.Op.IsLeaders()
	prev, seen := m.dedup[c.Client]
	if seen && c.Seq <= prev.seq && !m.ForgetDedup && !rewrite {
		if c.Seq < prev.seq {
			// An older request of a client that has moved on; its answer
			// is no longer kept, and nobody waits for it.
			return Result{Status: StatusOK, Index: index}, nil
		}
		return prev.result, nil
	}
	b := m.begin()
	if m.refuses(&c) {
		// The bucket is frozen or gone: the client retries where it went,
		// and the retry must apply there, so nothing is remembered here.
		return Result{Status: StatusRedirect, Index: index}, nil
	}
	k := m.key(tagKey, c.Key)
	res := Result{Status: StatusOK, Index: index}
	var err error
	switch c.Op {
	case OpPut:
		err = b.Set(k, []byte(c.Value), nil)
	case OpDelete:
		err = b.Delete(k, nil)
	case OpCAS:
		if res.Value, err = get(b, k); err != nil {
			return Result{}, err
		}
		if res.Value != c.Expected {
			res.Status = StatusMismatch
		} else {
			err = b.Set(k, []byte(c.Value), nil)
		}
	case OpPutObject, OpDeleteObject:
		res, err = m.applyObject(b, index, &c, false)
	case OpEnqueue:
		res, err = m.applyEnqueue(b, index, c.Enqueue)
	case OpProcess:
		res, err = m.applyProcess(b, index, c.Process)
	case OpRepair:
		if c.Repair.Outbound {
			res, err = m.applyOutRepair(b, index, c.Repair)
		} else {
			res, err = m.applyRepair(b, index, c.Repair)
		}
	case OpOutbox:
		res, err = m.applyOutbox(b, index, c.Outbox)
	case OpBucket:
		res, err = m.applyBucket(b, index, c.Bucket)
	case OpImport:
		res, err = m.applyImport(b, index, c.Import)
	default:
		return Result{}, fmt.Errorf("kv: %s is not a write", c.Op)
	}
	if err != nil {
		return Result{}, err
	}
	if err := m.logChanges(b, index, &c, &res); err != nil {
		return Result{}, err
	}
	if rewrite {
		return res, nil
	}
	a := answer{seq: c.Seq, result: res}
	m.dedup[c.Client] = a
	return res, b.Set(m.key(tagDedup, c.Client), a.encode(), nil)
}

// Skip records that the entry at index, which holds no command, is applied.
func (m *Machine) Skip(index uint64) {
	m.applied = index
	m.begin()
}

// applyBatchBudget is how much an open batch of applies may hold (in
// pebble's memtable cost) before Flush(false) commits it. Committing
// several Readies' applies at once saves a pebble commit per entry; the
// budget stays well under the store's flush budget.
const applyBatchBudget = 24 << 10

// Flush ends a round of applies. With sync it commits everything applied
// so far and makes it durable. Without, it commits once enough has
// gathered: until then the applies wait in an open batch that reads see,
// and a crash loses them as it would lose an unsynced commit; the entries
// are still in the Raft log, and a restart applies them again after the
// durable applied index.
func (m *Machine) Flush(sync bool) error {
	if m.batch == nil {
		if sync {
			return m.st.Sync()
		}
		return nil
	}
	if !sync && m.batch.Len()+int(m.batch.Count())*195 < applyBatchBudget {
		return nil
	}
	b := m.batch
	m.batch = nil
	// The applied index goes with the data it describes.
	if err := b.Set(m.prefix(tagApplied), binary.BigEndian.AppendUint64(nil, m.applied), nil); err != nil {
		b.Close()
		return err
	}
	return m.st.Commit(b, sync)
}

// Snapshot encodes the state: every key, object, index entry and kept
// version, and every client's last answer, as of the applied index.
//
//	applied uvarint | count uvarint | count × (tag byte, key, value)
func (m *Machine) Snapshot() ([]byte, error) {
	b := binary.AppendUvarint(nil, m.applied)
	var recs [][3][]byte
	err := m.scan(func(tag byte, k, v []byte) {
		recs = append(recs, [3][]byte{{tag}, append([]byte(nil), k...), append([]byte(nil), v...)})
	})
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for _, r := range recs {
		b = append(b, r[0][0])
		b = appendString(b, string(r[1]))
		b = appendString(b, string(r[2]))
	}
	return b, nil
}

// scan visits every record of the group but its applied index, in key
// order.
func (m *Machine) scan(visit func(tag byte, k, v []byte)) error {
	lo, hi := m.span()
	it, err := m.reader().NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) < 10 || k[9] == tagApplied {
			continue
		}
		visit(k[9], k[10:], it.Value())
	}
	return it.Error()
}

// Restore replaces the state with a snapshot taken at index, durably. A
// snapshot that does not decode changes nothing, applies not yet
// committed included.
func (m *Machine) Restore(data []byte, index uint64) error {
	m.outChanges++
	b := m.st.NewBatch()
	lo, hi := m.span()
	if err := b.DeleteRange(lo, hi, nil); err != nil {
		b.Close()
		return err
	}
	if len(data) > 0 {
		d := decoder{b: data}
		d.uvarint() // the applied index the snapshot was taken at
		n := d.uvarint()
		if d.err == nil && n > uint64(len(d.b)) {
			d.fail(errors.New("bad record count"))
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			tag := d.byte()
			k := d.bytes()
			v := d.bytes()
			if d.err == nil {
				if err := checkStored(tag, k, v); err != nil {
					d.fail(fmt.Errorf("record %d: %w", i, err))
				}
			}
			if d.err == nil {
				b.Set(m.key(tag, string(k)), v, nil)
			}
		}
		if d.err == nil && len(d.b) > 0 {
			d.fail(fmt.Errorf("%d stray bytes", len(d.b)))
		}
		if d.err != nil {
			b.Close()
			return fmt.Errorf("kv: group %d: snapshot: %w", m.group, d.err)
		}
	}
	b.Set(m.prefix(tagApplied), binary.BigEndian.AppendUint64(nil, index), nil)
	if m.batch != nil {
		m.batch.Close() // replaced by the snapshot
		m.batch = nil
	}
	if err := m.st.Commit(b, true); err != nil {
		return err
	}
	m.applied = index
	if err := m.loadMeta(); err != nil {
		return err
	}
	if err := m.loadMoves(); err != nil {
		return err
	}
	return m.loadDedup()
}

// Digest is a hash of the state (keys, values, objects with their index
// entries and history, and clients' answers), to compare replicas at the
// same applied index.
func (m *Machine) Digest() (string, error) {
	h := uint64(14695981039346656037)
	mix := func(b []byte) {
		for _, c := range b {
			h ^= uint64(c)
			h *= 1099511628211
		}
		h ^= 0xff
		h *= 1099511628211
	}
	err := m.scan(func(tag byte, k, v []byte) { mix([]byte{tag}); mix(k); mix(v) })
	return fmt.Sprintf("%016x", h), err
}
