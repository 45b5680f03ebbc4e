package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// The outbound queue: what handlers sent on to destinations, waiting for
// a destination's endpoint to take it. Each message keeps its place in the
// replicaset's outbound sequence (one sequence across destinations), the
// routing key whose chain sent it (messages of one key are delivered in
// order), the inbound message's id, when it was queued, and its origin:
// the position it first had, which names it for the receiver's
// deduplication even after a retry from the repair queue gave it a new
// one. The replicaset's leader delivers it (core/outbound) and records
// the outcome with an outbox command: delivered messages leave the queue,
// and a message that failed every attempt moves to the outbound repair
// entries, which an operator retries (back to the tail of its
// destination's queue), edits or purges like the inbound ones.
//
// In the store, for group g:
//
//	"v" g "u" dest 0x00 seq  an outbound message (encodeOutbound)
//	"v" g "n" dest           the messages waiting for dest: uvarint
//	"v" g "y" seq            an outbound repair entry (encodeOutRepair)
const (
	tagDestination = 'n'
	tagOutRepair   = 'y'
)

// Bounds of outbox commands.
const (
	MaxOutboxSeqs  = 4096 // messages one outbox command settles
	MaxDestination = 64   // bytes of a destination's name
)

// Outbox is the queue part of an outbox command: the leader's record of
// what a destination's endpoint took, and of what it gave up on.
type Outbox struct {
	Destination string
	Delivered   []uint64 // positions the endpoint took: they leave the queue
	Failed      []OutboxFailure
	At          int64 // the leader's clock
}

// OutboxFailure moves a message the endpoint refused every attempt to the
// outbound repair entries.
type OutboxFailure struct {
	Seq      uint64
	Attempts int
	Reason   string
}

// OutboxEntry is a message of the outbound queue.
type OutboxEntry struct {
	Seq         uint64 // its position in the replicaset's outbound sequence
	Origin      uint64 // the position it first had: its idempotency key names it
	Destination string
	Key         string // the routing key whose chain sent it
	MessageID   string // the inbound message's id
	Value       []byte
	At          int64 // when it was queued
}

// OutRepairEntry is an outbound message in the repair queue.
type OutRepairEntry struct {
	OutboxEntry
	Attempts int
	Reason   string // the last failure
	FailedAt int64
}

// DestinationState is one destination's part of the outbound queue.
type DestinationState struct {
	Destination string
	Depth       int
	OldestAt    int64 // when the oldest waiting message was queued
}

func (o *Outbox) appendTo(b []byte) []byte {
	b = appendString(b, o.Destination)
	b = binary.AppendUvarint(b, uint64(len(o.Delivered)))
	for _, s := range o.Delivered {
		b = binary.AppendUvarint(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(o.Failed)))
	for _, f := range o.Failed {
		b = binary.AppendUvarint(b, f.Seq)
		b = binary.AppendUvarint(b, uint64(f.Attempts))
		b = appendString(b, f.Reason)
	}
	return binary.AppendVarint(b, o.At)
}

func (d *decoder) outbox() *Outbox {
	o := &Outbox{Destination: d.string()}
	if d.err == nil && (o.Destination == "" || len(o.Destination) > MaxDestination) {
		d.fail(fmt.Errorf("an outbox command for a destination of %d bytes", len(o.Destination)))
	}
	n := d.count(MaxOutboxSeqs, "delivered messages")
	for i := 0; i < n && d.err == nil; i++ {
		o.Delivered = append(o.Delivered, d.uvarint())
	}
	n = d.count(MaxOutboxSeqs, "failed messages")
	for i := 0; i < n && d.err == nil; i++ {
		f := OutboxFailure{Seq: d.uvarint(), Attempts: d.count(1<<31-1, "attempts"), Reason: d.string()}
		if d.err == nil && len(f.Reason) > MaxReason {
			d.fail(errors.New("a failure reason out of bounds"))
		}
		o.Failed = append(o.Failed, f)
	}
	o.At = d.varint()
	return o
}

// encodeOutbound is an outbound message's stored value:
//
//	key | value | message id | at varint | origin uvarint
func encodeOutbound(e *OutboxEntry) []byte {
	b := appendString(nil, e.Key)
	b = appendString(b, string(e.Value))
	b = appendString(b, e.MessageID)
	b = binary.AppendVarint(b, e.At)
	return binary.AppendUvarint(b, e.Origin)
}

func (d *decoder) outbound(dest string, seq uint64) OutboxEntry {
	e := OutboxEntry{Seq: seq, Destination: dest, Key: d.string()}
	if v := d.bytes(); len(v) > 0 {
		e.Value = bytes.Clone(v)
	}
	e.MessageID = d.string()
	e.At = d.varint()
	e.Origin = d.uvarint()
	return e
}

func decodeOutbound(dest string, seq uint64, b []byte) (OutboxEntry, error) {
	d := decoder{b: b}
	e := d.outbound(dest, seq)
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d stray bytes after an outbound message", len(d.b)))
	}
	return e, d.err
}

// encodeOutRepair is an outbound repair entry's stored value:
//
//	destination | outbound message | attempts uvarint | reason | failed-at varint
func encodeOutRepair(r *OutRepairEntry) []byte {
	b := appendString(nil, r.Destination)
	b = append(b, encodeOutbound(&r.OutboxEntry)...)
	b = binary.AppendUvarint(b, uint64(r.Attempts))
	b = appendString(b, r.Reason)
	return binary.AppendVarint(b, r.FailedAt)
}

func decodeOutRepair(seq uint64, b []byte) (OutRepairEntry, error) {
	d := decoder{b: b}
	dest := d.string()
	r := OutRepairEntry{OutboxEntry: d.outbound(dest, seq)}
	r.Attempts = d.count(1<<31-1, "attempts")
	r.Reason = d.string()
	r.FailedAt = d.varint()
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d stray bytes after an outbound repair entry", len(d.b)))
	}
	return r, d.err
}

func (m *Machine) outboundPrefix(dest string) []byte {
	return append(append(m.prefix(tagOutbound), dest...), 0)
}

// pushOutbound puts a message at the tail of its destination's queue.
func (m *Machine) pushOutbound(b *pebble.Batch, e *OutboxEntry) error {
	m.queue.outSeq++
	m.outChanges++
	e.Seq = m.queue.outSeq
	if e.Origin == 0 {
		e.Origin = e.Seq
	}
	if err := b.Set(seqKey(m.outboundPrefix(e.Destination), e.Seq), encodeOutbound(e), nil); err != nil {
		return err
	}
	m.queue.outbound++
	return m.countDestination(b, e.Destination, 1)
}

// countDestination adds delta to the messages waiting for dest.
func (m *Machine) countDestination(b *pebble.Batch, dest string, delta int64) error {
	k := m.key(tagDestination, dest)
	n, err := readCount(b, k)
	if err != nil {
		return err
	}
	if int64(n)+delta < 0 {
		return fmt.Errorf("kv: group %d: destination %q counts %d messages, %d leave", m.group, dest, n, -delta)
	}
	if n = uint64(int64(n) + delta); n == 0 {
		return b.Delete(k, nil)
	}
	return b.Set(k, binary.AppendUvarint(nil, n), nil)
}

func readCount(r pebble.Reader, k []byte) (uint64, error) {
	v, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	n, used := binary.Uvarint(v)
	if used != len(v) {
		return 0, errors.New("kv: a malformed destination count")
	}
	return n, nil
}

// applyOutbox records a destination's deliveries and failures. Positions
// no longer queued (recorded by an earlier command) are skipped, so a
// leader may record an outcome twice.
func (m *Machine) applyOutbox(b *pebble.Batch, index uint64, o *Outbox) (Result, error) {
	res := Result{Status: StatusOK, Index: index}
	p := m.outboundPrefix(o.Destination)
	take := func(seq uint64) (OutboxEntry, bool, error) {
		k := seqKey(bytes.Clone(p), seq)
		v, closer, err := b.Get(k)
		if errors.Is(err, pebble.ErrNotFound) {
			return OutboxEntry{}, false, nil
		}
		if err != nil {
			return OutboxEntry{}, false, err
		}
		e, err := decodeOutbound(o.Destination, seq, v)
		closer.Close()
		if err != nil {
			return OutboxEntry{}, false, fmt.Errorf("kv: group %d: %w", m.group, err)
		}
		m.queue.outbound--
		m.outChanges++
		res.Revision++ // how many left the queue
		if err := b.Delete(k, nil); err != nil {
			return OutboxEntry{}, false, err
		}
		return e, true, m.countDestination(b, o.Destination, -1)
	}
	for _, seq := range o.Delivered {
		if _, _, err := take(seq); err != nil {
			return Result{}, err
		}
	}
	for _, f := range o.Failed {
		e, ok, err := take(f.Seq)
		if err != nil {
			return Result{}, err
		}
		if !ok {
			continue
		}
		r := OutRepairEntry{OutboxEntry: e, Attempts: f.Attempts, Reason: f.Reason, FailedAt: o.At}
		if err := b.Set(seqKey(m.prefix(tagOutRepair), e.Seq), encodeOutRepair(&r), nil); err != nil {
			return Result{}, err
		}
		m.queue.outRepairs++
	}
	return res, m.saveMeta(b)
}

// applyOutRepair applies an operator's action on an outbound repair
// entry: retry puts the message back at the tail of its destination's
// queue with its origin (so its idempotency key) and attempts kept.
func (m *Machine) applyOutRepair(b *pebble.Batch, index uint64, r *Repair) (Result, error) {
	res := Result{Status: StatusOK, Index: index}
	k := seqKey(m.prefix(tagOutRepair), r.Seq)
	v, closer, err := b.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		res.Status, res.Error = StatusNotFound, fmt.Sprintf("the outbound repair queue has no entry %d", r.Seq)
		return res, nil
	}
	if err != nil {
		return Result{}, err
	}
	e, err := decodeOutRepair(r.Seq, v)
	closer.Close()
	if err != nil {
		return Result{}, fmt.Errorf("kv: group %d: %w", m.group, err)
	}
	switch r.Action {
	case RepairPurge, RepairRetry:
		m.queue.outRepairs--
		if err := b.Delete(k, nil); err != nil {
			return Result{}, err
		}
		if r.Action == RepairRetry {
			e.OutboxEntry.At = r.At
			if err := m.pushOutbound(b, &e.OutboxEntry); err != nil {
				return Result{}, err
			}
			res.Revision = e.Seq
		}
	case RepairEdit:
		e.Value = r.Payload
		if err := b.Set(k, encodeOutRepair(&e), nil); err != nil {
			return Result{}, err
		}
	}
	return res, m.saveMeta(b)
}

// Outbox reads up to limit messages of destination dest's queue after
// position after, oldest first.
func (m *Machine) Outbox(dest string, after uint64, limit int) ([]OutboxEntry, error) {
	return seqPage(m, m.outboundPrefix(dest), after+1, limit, func(seq uint64, v []byte) (OutboxEntry, error) {
		return decodeOutbound(dest, seq, v)
	})
}

// OutboxChanges counts the changes to the outbound queues so far; while it
// stays the same, Destinations and Outbox read the same.
func (m *Machine) OutboxChanges() uint64 { return m.outChanges }

// Destinations lists the destinations with messages waiting, by name.
func (m *Machine) Destinations() ([]DestinationState, error) {
	var out []DestinationState
	r := m.reader()
	err := iterPrefix(r, m.prefix(tagDestination), func(rest, v []byte) (bool, error) {
		n, used := binary.Uvarint(v)
		if used != len(v) {
			return false, errors.New("kv: a malformed destination count")
		}
		out = append(out, DestinationState{Destination: string(rest), Depth: int(n)})
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		first, err := m.Outbox(out[i].Destination, 0, 1)
		if err != nil {
			return nil, err
		}
		if len(first) > 0 {
			out[i].OldestAt = first[0].At
		}
	}
	return out, nil
}

// OutRepairs reads up to limit outbound repair entries after position
// after.
func (m *Machine) OutRepairs(after uint64, limit int) ([]OutRepairEntry, error) {
	return seqPage(m, m.prefix(tagOutRepair), after+1, limit, decodeOutRepair)
}

// checkOutboxStored checks an outbox record of a snapshot.
func checkOutboxStored(tag byte, k, v []byte) error {
	switch tag {
	case tagOutbound:
		i := bytes.IndexByte(k, 0)
		if i <= 0 || len(k)-i-1 != 8 {
			return errors.New("a malformed outbound key")
		}
		_, err := decodeOutbound(string(k[:i]), binary.BigEndian.Uint64(k[i+1:]), v)
		return err
	case tagDestination:
		if len(k) == 0 || len(k) > MaxDestination {
			return errors.New("a malformed destination count key")
		}
		if n, used := binary.Uvarint(v); used != len(v) || n == 0 {
			return errors.New("a malformed destination count")
		}
	case tagOutRepair:
		if len(k) != 8 {
			return fmt.Errorf("an outbound repair key of %d bytes", len(k))
		}
		_, err := decodeOutRepair(binary.BigEndian.Uint64(k), v)
		return err
	}
	return nil
}
