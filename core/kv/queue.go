package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The inbound queue's commands and records. A replicaset's state machine
// holds, beside keys and objects, the queue of messages connectors handed
// in and that its leader has not processed yet, the ids of the messages
// enqueued within the idempotency window, the repair queue (messages that
// failed, with the reason) and the outbound queue (what handlers sent on
// to a destination). core/node/queue.go runs the pipeline; this file is
// only what the log and the store hold.

// Bounds on queue commands, checked by DecodeCommand.
const (
	MaxMessageID    = 256     // bytes of a message id
	MaxConnector    = 64      // bytes of a connector's name
	MaxHeaders      = 64      // headers of one message
	MaxHeaderLen    = 8 << 10 // bytes of a header's name and value together
	MaxPayload      = 1 << 20 // bytes of a message's payload
	MaxProcessItems = 256     // messages one process command settles
	MaxItemObjects  = 1024    // objects one message stores
	MaxItemOutbound = 1024    // outbound messages one message sends
	MaxReason       = 4 << 10 // bytes of a repair reason
)

// Header is one header of an inbound message.
type Header struct{ Name, Value string }

// Message is an inbound message as a connector hands it in: its id (the
// idempotency key: a second message with an id enqueued within the window
// is the first one again), the connector's name, headers sorted by name,
// and the payload (a JSON object for the pipeline's handlers).
type Message struct {
	ID        string
	Connector string
	Headers   []Header
	Payload   []byte
}

// Header returns the value of the header named name (exactly), if any.
func (m *Message) Header(name string) (string, bool) {
	i, ok := slices.BinarySearchFunc(m.Headers, name, func(h Header, n string) int { return strings.Compare(h.Name, n) })
	if !ok {
		return "", false
	}
	return m.Headers[i].Value, true
}

func (m *Message) size() int {
	n := len(m.ID) + len(m.Connector) + len(m.Payload) + 16
	for _, h := range m.Headers {
		n += len(h.Name) + len(h.Value) + 4
	}
	return n
}

// QueueLimits bound a replicaset's inbound queue. The leader puts the
// limits in force into each enqueue command, so that every replica judges
// it alike.
type QueueLimits struct {
	MaxMessages int   // messages waiting
	MaxBytes    int64 // their payloads' bytes
	// Window is how long (nanoseconds of the leaders' wall clocks) a
	// message id is remembered: a message sent again within it is not
	// enqueued again.
	Window int64
	// MaxIDs bounds the ids remembered, whatever their age: the oldest go
	// first.
	MaxIDs int
}

// Enqueue is the queue part of an enqueue command.
type Enqueue struct {
	Message Message
	At      int64 // the leader's wall clock when it proposed it, Unix nanoseconds
	Limits  QueueLimits
	// Attempts counts earlier runs through the pipeline: a message retried
	// from the repair queue comes back with its count.
	Attempts int
}

// Process is the queue part of a process command: the leader's settling
// of messages at the head of the queue.
type Process struct {
	Items []ProcessItem
	At    int64
}

// ProcessItem settles one queued message: either its effects (objects to
// store, messages for the outbound queue) or, with Failure set, its move
// to the repair queue. A message no longer queued (settled by an earlier
// command) is skipped, so that settling is idempotent.
type ProcessItem struct {
	Seq      uint64 // the message's position in the queue
	ID       string
	Objects  []ObjectWrite
	Outbound []OutboundMessage
	Failure  *Failure
}

// OutboundMessage is a message for a destination, from a handler.
type OutboundMessage struct {
	Destination string
	Key         string // the routing key whose chain sent it
	Value       []byte
}

// Failure is why a message went to the repair queue.
type Failure struct {
	Key     string // the routing key whose chain failed; "" if routing did
	Step    int    // the step of the chain; -1 for routing or storing
	Handler string
	Reason  string
}

// Repair is the queue part of a repair command: an operator's action on
// the repair queue.
type Repair struct {
	Action RepairAction
	Seq    uint64 // the repair entry
	// Payload replaces the message's payload (edit).
	Payload []byte
	At      int64
	Limits  QueueLimits // retry: the queue must have room
	// Outbound names an outbound repair entry (Seq is then its outbound
	// position), not an inbound one.
	Outbound bool
}

// RepairAction is what an operator does with a failed message.
type RepairAction uint8

// Repair actions.
const (
	// RepairRetry puts the message back at the tail of the inbound queue.
	RepairRetry RepairAction = iota + 1
	// RepairPurge deletes it.
	RepairPurge
	// RepairEdit replaces its payload; it stays in the repair queue.
	RepairEdit
)

var repairNames = [...]string{RepairRetry: "retry", RepairPurge: "purge", RepairEdit: "edit"}

func (a RepairAction) String() string {
	if a >= RepairRetry && a <= RepairEdit {
		return repairNames[a]
	}
	return fmt.Sprintf("action%d", uint8(a))
}

// ParseRepairAction is the inverse of RepairAction.String.
func ParseRepairAction(s string) (RepairAction, bool) {
	for a := RepairRetry; a <= RepairEdit; a++ {
		if repairNames[a] == s {
			return a, true
		}
	}
	return 0, false
}

// Queued is a message waiting in the inbound queue.
type Queued struct {
	Seq      uint64
	Message  Message
	At       int64 // when it was enqueued
	Attempts int
}

// RepairEntry is a message in the repair queue.
type RepairEntry struct {
	Queued
	Failure  Failure
	FailedAt int64
}

// QueueState is what a queue read returns.
type QueueState struct {
	Replicaset string // whose queues these are
	Depth      int    // messages waiting in the inbound queue
	Bytes      int64  // their payloads' bytes
	Head       uint64 // the position of the oldest waiting message (Tail+1 if none)
	Tail       uint64 // the position of the newest message ever enqueued (positions start at 1)
	OldestAt   int64  // when the oldest waiting message was enqueued (0: none)
	Repairs    int    // messages in the repair queue
	Outbound   int    // messages in the outbound queue
	OutRepairs int    // outbound messages in the repair queue
	OutTail    uint64 // the position of the newest outbound message ever queued
	Settled    uint64 // messages settled since the replicaset began (stored or sent to repair)
	// Entries are repair entries (a repair listing) or waiting messages
	// (a queue listing), by position.
	Entries []RepairEntry
	// Destinations are the outbound queue's destinations with messages
	// waiting, by name.
	Destinations []DestinationState
	// OutEntries are outbound repair entries (an outbound listing), by
	// position.
	OutEntries []OutRepairEntry
}

func (e *Enqueue) appendTo(b []byte) []byte {
	b = appendMessage(b, &e.Message)
	b = binary.AppendVarint(b, e.At)
	b = appendLimits(b, e.Limits)
	return binary.AppendUvarint(b, uint64(e.Attempts))
}

func appendMessage(b []byte, m *Message) []byte {
	b = appendString(b, m.ID)
	b = appendString(b, m.Connector)
	b = binary.AppendUvarint(b, uint64(len(m.Headers)))
	for _, h := range m.Headers {
		b = appendString(b, h.Name)
		b = appendString(b, h.Value)
	}
	return appendString(b, string(m.Payload))
}

func appendLimits(b []byte, l QueueLimits) []byte {
	b = binary.AppendUvarint(b, uint64(l.MaxMessages))
	b = binary.AppendUvarint(b, uint64(l.MaxBytes))
	b = binary.AppendUvarint(b, uint64(l.Window))
	return binary.AppendUvarint(b, uint64(l.MaxIDs))
}

func (p *Process) appendTo(b []byte) []byte {
	b = binary.AppendVarint(b, p.At)
	b = binary.AppendUvarint(b, uint64(len(p.Items)))
	for i := range p.Items {
		it := &p.Items[i]
		b = binary.AppendUvarint(b, it.Seq)
		b = appendString(b, it.ID)
		b = binary.AppendUvarint(b, uint64(len(it.Objects)))
		for j := range it.Objects {
			b = it.Objects[j].appendTo(b)
		}
		b = binary.AppendUvarint(b, uint64(len(it.Outbound)))
		for _, o := range it.Outbound {
			b = appendString(b, o.Destination)
			b = appendString(b, o.Key)
			b = appendString(b, string(o.Value))
		}
		if it.Failure == nil {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = appendFailure(b, it.Failure)
	}
	return b
}

func appendFailure(b []byte, f *Failure) []byte {
	b = appendString(b, f.Key)
	b = binary.AppendVarint(b, int64(f.Step))
	b = appendString(b, f.Handler)
	return appendString(b, f.Reason)
}

func (r *Repair) appendTo(b []byte) []byte {
	b = append(b, byte(r.Action))
	b = binary.AppendUvarint(b, r.Seq)
	b = appendString(b, string(r.Payload))
	b = binary.AppendVarint(b, r.At)
	b = appendLimits(b, r.Limits)
	if r.Outbound {
		return append(b, 1)
	}
	return append(b, 0)
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	if n != len(binary.AppendVarint(nil, v)) {
		d.fail(errors.New("a number is not minimally encoded"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count bounded by max.
func (d *decoder) count(max int, what string) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(max) {
		d.fail(fmt.Errorf("%d %s, at most %d", n, what, max))
		return 0
	}
	return int(n)
}

func (d *decoder) message() Message {
	var m Message
	m.ID = d.string()
	m.Connector = d.string()
	n := d.count(MaxHeaders, "headers")
	for i := 0; i < n && d.err == nil; i++ {
		m.Headers = append(m.Headers, Header{Name: d.string(), Value: d.string()})
	}
	if p := d.bytes(); len(p) > 0 {
		m.Payload = bytes.Clone(p)
	}
	if d.err == nil {
		if err := m.Check(); err != nil {
			d.fail(err)
		}
	}
	return m
}

// Check checks a message against the bounds above: an id, a connector
// name, headers sorted by name without repeats.
func (m *Message) Check() error {
	switch {
	case m.ID == "":
		return errors.New("a message without an id")
	case len(m.ID) > MaxMessageID:
		return fmt.Errorf("a message id of %d bytes, at most %d", len(m.ID), MaxMessageID)
	case len(m.Connector) > MaxConnector:
		return fmt.Errorf("a connector name of %d bytes, at most %d", len(m.Connector), MaxConnector)
	case len(m.Headers) > MaxHeaders:
		return fmt.Errorf("%d headers, at most %d", len(m.Headers), MaxHeaders)
	case len(m.Payload) > MaxPayload:
		return fmt.Errorf("a payload of %d bytes, at most %d", len(m.Payload), MaxPayload)
	}
	for i, h := range m.Headers {
		if h.Name == "" || len(h.Name)+len(h.Value) > MaxHeaderLen {
			return fmt.Errorf("header %d: an empty name, or over %d bytes", i, MaxHeaderLen)
		}
		if i > 0 && m.Headers[i-1].Name >= h.Name {
			return fmt.Errorf("header %q: headers must be sorted by name, each once", h.Name)
		}
	}
	return nil
}

func (d *decoder) limits() QueueLimits {
	var l QueueLimits
	l.MaxMessages = d.count(1<<31-1, "messages")
	l.MaxBytes = int64(d.uvarint())
	l.Window = int64(d.uvarint())
	l.MaxIDs = d.count(1<<31-1, "ids")
	if d.err == nil && (l.MaxBytes < 0 || l.Window < 0) {
		d.fail(errors.New("a queue limit out of range"))
	}
	return l
}

func (d *decoder) enqueue() *Enqueue {
	e := &Enqueue{}
	e.Message = d.message()
	e.At = d.varint()
	e.Limits = d.limits()
	e.Attempts = d.count(1<<31-1, "attempts")
	if d.err != nil {
		return nil
	}
	return e
}

func (d *decoder) process() *Process {
	p := &Process{At: d.varint()}
	n := d.count(MaxProcessItems, "process items")
	for i := 0; i < n && d.err == nil; i++ {
		var it ProcessItem
		it.Seq = d.uvarint()
		it.ID = d.string()
		no := d.count(MaxItemObjects, "objects")
		for j := 0; j < no && d.err == nil; j++ {
			if w := d.objectWrite(OpPutObject); w != nil {
				if w.Rewrite || w.IfAbsent || w.IfRevision != 0 {
					d.fail(errors.New("a pipeline's object write is unconditional"))
				}
				it.Objects = append(it.Objects, *w)
			}
		}
		nb := d.count(MaxItemOutbound, "outbound messages")
		for j := 0; j < nb && d.err == nil; j++ {
			o := OutboundMessage{Destination: d.string(), Key: d.string()}
			if v := d.bytes(); len(v) > 0 {
				o.Value = bytes.Clone(v)
			}
			if d.err == nil && (o.Destination == "" || strings.IndexByte(o.Destination, 0) >= 0 || len(o.Destination) > MaxTypeLen) {
				d.fail(fmt.Errorf("outbound destination %q: empty, too long or holding a zero byte", o.Destination))
			}
			it.Outbound = append(it.Outbound, o)
		}
		if d.bool() {
			f := d.failure()
			it.Failure = &f
			if len(it.Objects) > 0 || len(it.Outbound) > 0 {
				d.fail(errors.New("a failed message with effects"))
			}
		}
		p.Items = append(p.Items, it)
	}
	if d.err != nil {
		return nil
	}
	return p
}

func (d *decoder) failure() Failure {
	f := Failure{Key: d.string(), Step: int(d.varint()), Handler: d.string(), Reason: d.string()}
	if d.err == nil && (len(f.Reason) > MaxReason || len(f.Key) > MaxTypeLen || len(f.Handler) > MaxTypeLen || f.Step < -1 || f.Step > 1<<20) {
		d.fail(errors.New("a failure out of bounds"))
	}
	return f
}

func (d *decoder) repair() *Repair {
	r := &Repair{Action: RepairAction(d.byte())}
	r.Seq = d.uvarint()
	if p := d.bytes(); len(p) > 0 {
		r.Payload = bytes.Clone(p)
	}
	r.At = d.varint()
	r.Limits = d.limits()
	r.Outbound = d.bool()
	if d.err == nil && (r.Action < RepairRetry || r.Action > RepairEdit) {
		d.fail(fmt.Errorf("unknown repair action %d", r.Action))
	}
	if d.err == nil && len(r.Payload) > MaxPayload {
		d.fail(fmt.Errorf("a payload of %d bytes, at most %d", len(r.Payload), MaxPayload))
	}
	if d.err != nil {
		return nil
	}
	return r
}

// Stored records of the queue (their keys hold their positions).

// encodeQueued is a waiting message's stored value:
//
//	message | at varint | attempts uvarint
func encodeQueued(q *Queued) []byte {
	b := appendMessage(make([]byte, 0, q.Message.size()+16), &q.Message)
	b = binary.AppendVarint(b, q.At)
	return binary.AppendUvarint(b, uint64(q.Attempts))
}

func decodeQueued(seq uint64, b []byte) (Queued, error) {
	d := decoder{b: b}
	q := d.queued(seq)
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d stray bytes after a queued message", len(d.b)))
	}
	return q, d.err
}

func (d *decoder) queued(seq uint64) Queued {
	q := Queued{Seq: seq, Message: d.message()}
	q.At = d.varint()
	q.Attempts = d.count(1<<31-1, "attempts")
	return q
}

// encodeRepair is a repair entry's stored value:
//
//	queued | failure | failed-at varint
func encodeRepair(r *RepairEntry) []byte {
	b := encodeQueued(&r.Queued)
	b = appendFailure(b, &r.Failure)
	return binary.AppendVarint(b, r.FailedAt)
}

func decodeRepair(seq uint64, b []byte) (RepairEntry, error) {
	d := decoder{b: b}
	r := RepairEntry{Queued: d.queued(seq)}
	r.Failure = d.failure()
	r.FailedAt = d.varint()
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d stray bytes after a repair entry", len(d.b)))
	}
	return r, d.err
}
