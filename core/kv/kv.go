// Package kv is shoal's replicated key-value store: how keys map to
// buckets, the commands that go through a replicaset's Raft log, the state
// machine that applies them on pebble, and the client protocol.
//
// Keys map to buckets by Bucket; group 0 maps buckets to replicasets.
// Writes (put, delete, cas, put-object, delete-object) are commands in the
// replicaset's Raft log; reads (get, get-object, read-queue, list-objects)
// use Raft's ReadIndex on the leader. Every command carries its
// client and a sequence number: the state machine applies each (client,
// sequence) at most once and remembers the answer, so a client may retry a
// write freely, across leader changes and restarts.
package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// DefaultBuckets is the number of buckets keys are spread over unless the
// cluster says otherwise.
const DefaultBuckets = 256

// Bucket is the bucket of key among n: the FNV-1a 64-bit hash of the key's
// bytes, modulo n. It is part of the storage format: changing it moves
// every key (TestBucketGolden pins it).
func Bucket(key string, n int) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return int(h % uint64(n))
}

// Op is an operation on a key.
type Op uint8

// Operations. Reads (get, get-object, read-queue, list-objects) are
// served by ReadIndex and never enter the log. The values are part of the log and wire formats: never
// renumber one, only add.
const (
	OpGet Op = iota + 1
	OpPut
	OpDelete
	OpCAS
	// OpPutObject writes a typed object (Request.Object, Command.Object).
	OpPutObject
	// OpDeleteObject deletes a typed object.
	OpDeleteObject
	// OpGetObject reads a typed object by its primary key.
	OpGetObject
	// OpEnqueue puts a connector's message in the inbound queue
	// (Request.Message, Command.Enqueue).
	OpEnqueue
	// OpProcess settles messages at the head of the inbound queue: the
	// leader's own command (Command.Process), never a client's.
	OpProcess
	// OpRepair is an operator's action on the repair queue
	// (Request.Queue, Command.Repair).
	OpRepair
	// OpReadQueue reads a replicaset's queues: their depths, and a page
	// of the repair queue or of the waiting messages (Request.Queue).
	OpReadQueue
	// OpOutbox records what a destination's endpoint took, and what it
	// refused every attempt: the leader's own command (Command.Outbox).
	OpOutbox
	// OpListObjects reads a page of one replicaset's objects of a type,
	// in primary key order or an index's (ListOrder), those a filter
	// keeps (Request.List).
	OpListObjects
	// OpBucket is a step of a bucket move at its source: the leader's own
	// command (Command.Bucket; move.go).
	OpBucket
	// OpImport writes a page of a moving bucket at its destination: the
	// leader's own command (Command.Import; move.go).
	OpImport

	lastOp = OpImport
)

var opNames = [...]string{OpGet: "get", OpPut: "put", OpDelete: "delete", OpCAS: "cas",
	OpPutObject: "put-object", OpDeleteObject: "delete-object", OpGetObject: "get-object",
	OpEnqueue: "enqueue", OpProcess: "process", OpRepair: "repair", OpReadQueue: "read-queue", OpOutbox: "outbox",
	OpListObjects: "list-objects", OpBucket: "bucket", OpImport: "import"}

func (o Op) String() string {
	if o.Valid() {
		return opNames[o]
	}
	return fmt.Sprintf("op%d", uint8(o))
}

// ParseOp is the inverse of Op.String.
func ParseOp(s string) (Op, bool) {
	for o := OpGet; o <= lastOp; o++ {
		if opNames[o] == s {
			return o, true
		}
	}
	return 0, false
}

// Valid reports whether o is one of the operations above.
func (o Op) Valid() bool { return o >= OpGet && o <= lastOp }

// IsRead reports whether o is a read (get, get-object, read-queue,
// list-objects): served by ReadIndex, or stale, and never in the log.
func (o Op) IsRead() bool {
	return o == OpGet || o == OpGetObject || o == OpReadQueue || o == OpListObjects
}

// IsWrite reports whether o is a write: a command in the log.
func (o Op) IsWrite() bool { return o.Valid() && !o.IsRead() }

// IsObject reports whether o works on a typed object: its request carries
// an ObjectRequest and, for a write, its command an ObjectWrite.
func (o Op) IsObject() bool { return o >= OpPutObject && o <= OpGetObject }

// IsLeaders reports whether o is a command only a leader proposes (its
// settling of the queues, a bucket move's steps), never a client's
// request.
func (o Op) IsLeaders() bool {
	return o == OpProcess || o == OpOutbox || o == OpBucket || o == OpImport
}

// IsQueue reports whether o works on a replicaset's queues.
func (o Op) IsQueue() bool { return o >= OpEnqueue && o <= OpReadQueue }

// Value is a value that may be absent: a read of a missing key, or a cas
// that expects the key to be missing.
type Value struct {
	S       string
	Present bool
}

// Some is a present value.
func Some(s string) Value { return Value{S: s, Present: true} }

// None is the absent value.
var None = Value{}

func (v Value) String() string {
	if !v.Present {
		return "<absent>"
	}
	return fmt.Sprintf("%q", v.S)
}

// Command is a write: one entry of a replicaset's log.
type Command struct {
	Client   string
	Seq      uint64
	Op       Op
	Key      string
	Value    string // put, cas: the new value
	Expected Value  // cas: the value the key must hold
	// Object is the object write of a put-object or delete-object, and
	// nil for every other op. Key is then the object's routing key.
	Object *ObjectWrite
	// Enqueue, Process, Repair and Outbox are the queue parts of enqueue,
	// process, repair and outbox commands, and nil for every other op.
	Enqueue *Enqueue
	Process *Process
	Repair  *Repair
	Outbox  *Outbox
	// Bucket and Import are the parts of bucket and import commands.
	Bucket *BucketStep
	Import *Import
}

// Equal reports whether c and o are the same command, object part
// included (== compares the object part's pointer).
func (c Command) Equal(o Command) bool {
	if c.Object == nil && o.Object == nil && c.Enqueue == nil && o.Enqueue == nil &&
		c.Process == nil && o.Process == nil && c.Repair == nil && o.Repair == nil && c.Outbox == nil && o.Outbox == nil &&
		c.Bucket == nil && o.Bucket == nil && c.Import == nil && o.Import == nil {
		return c == o
	}
	return bytes.Equal(c.Encode(), o.Encode())
}

// ID names the request a command answers, unique per client and sequence.
func (c *Command) ID() string { return fmt.Sprintf("%s/%d", c.Client, c.Seq) }

// Encode is the command's encoding in the log:
//
//	op byte | client | seq uvarint | key | value | expected-present byte | expected [| object write]
//
// with each string as uvarint length and bytes. The object write follows
// for put-object and delete-object only (ObjectWrite.appendTo has its
// layout). Encode panics if the object part is missing for an object op
// or present for another: the caller built a command that means nothing.
func (c *Command) Encode() []byte {
	if (c.Object != nil) != c.Op.IsObject() || (c.Enqueue != nil) != (c.Op == OpEnqueue) ||
		(c.Process != nil) != (c.Op == OpProcess) || (c.Repair != nil) != (c.Op == OpRepair) || (c.Outbox != nil) != (c.Op == OpOutbox) ||
		(c.Bucket != nil) != (c.Op == OpBucket) || (c.Import != nil) != (c.Op == OpImport) {
		panic(fmt.Sprintf("kv: encoding a %s command with the parts of another", c.Op))
	}
	b := make([]byte, 0, 16+len(c.Client)+len(c.Key)+len(c.Value)+len(c.Expected.S)+c.Object.size())
	b = append(b, byte(c.Op))
	b = appendString(b, c.Client)
	b = binary.AppendUvarint(b, c.Seq)
	b = appendString(b, c.Key)
	b = appendString(b, c.Value)
	if c.Expected.Present {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendString(b, c.Expected.S)
	switch {
	case c.Object != nil:
		b = c.Object.appendTo(b)
	case c.Enqueue != nil:
		b = c.Enqueue.appendTo(b)
	case c.Process != nil:
		b = c.Process.appendTo(b)
	case c.Repair != nil:
		b = c.Repair.appendTo(b)
	case c.Outbox != nil:
		b = c.Outbox.appendTo(b)
	case c.Bucket != nil:
		b = c.Bucket.appendTo(b)
	case c.Import != nil:
		b = c.Import.appendTo(b)
	}
	return b
}

// DecodeCommand reads a command written by Encode.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	d := decoder{b: b}
	c.Op = Op(d.byte())
	c.Client = d.string()
	c.Seq = d.uvarint()
	c.Key = d.string()
	c.Value = d.string()
	c.Expected.Present = d.bool()
	c.Expected.S = d.string()
	if d.err == nil && !c.Op.IsWrite() {
		d.err = fmt.Errorf("%s is not a write", c.Op)
	}
	if d.err == nil {
		switch {
		case c.Op.IsObject():
			c.Object = d.objectWrite(c.Op)
		case c.Op == OpEnqueue:
			c.Enqueue = d.enqueue()
		case c.Op == OpProcess:
			c.Process = d.process()
		case c.Op == OpRepair:
			c.Repair = d.repair()
		case c.Op == OpOutbox:
			c.Outbox = d.outbox()
		case c.Op == OpBucket:
			c.Bucket = d.bucketStep()
		case c.Op == OpImport:
			c.Import = d.importPart()
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d stray bytes", len(d.b))
	}
	if d.err != nil {
		return Command{}, fmt.Errorf("kv: decoding a command: %w", d.err)
	}
	return c, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the encodings of this package; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errShort)
		return 0
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		// Padded varints would let two encodings mean one command.
		d.fail(errors.New("a number is not minimally encoded"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail(errShort)
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(errors.New("a flag is neither 0 nor 1"))
	return false
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Status is how a request ended.
type Status uint8

// Statuses of a Response.
const (
	// StatusOK: the operation took effect (or, for a retry, had already).
	StatusOK Status = iota + 1
	// StatusMismatch: a cas found another value; nothing changed.
	StatusMismatch
	// StatusRedirect: this instance cannot serve the key now and did
	// nothing; Leader names the leader of the key's replicaset when known,
	// else Hint names an instance closer to it.
	StatusRedirect
	// StatusConflict: an object write would give a unique index key to
	// a second object; nothing changed, and Error names the index and the
	// object that holds the key.
	StatusConflict
	// StatusInvalid: an object failed validation against the data model
	// (Error says why). The layer above kv answers it; the state machine
	// never does.
	StatusInvalid
	// StatusBusy: the inbound queue is full (or a repair retry found no
	// room); nothing was enqueued. The connector backs off and sends the
	// message again (Response.RetryAfter suggests when).
	StatusBusy
	// StatusNotFound: a repair action named no entry of the repair queue.
	StatusNotFound

	lastStatus = StatusNotFound
)

var statusNames = [...]string{StatusOK: "ok", StatusMismatch: "mismatch", StatusRedirect: "redirect",
	StatusConflict: "conflict", StatusInvalid: "invalid", StatusBusy: "busy", StatusNotFound: "not-found"}

func (s Status) String() string {
	if s.Valid() {
		return statusNames[s]
	}
	return fmt.Sprintf("status%d", uint8(s))
}

// Valid reports whether s is one of the statuses above.
func (s Status) Valid() bool { return s >= StatusOK && s <= lastStatus }

// Result is what applying a command produced, as remembered for retries.
type Result struct {
	Status Status
	// Value is what a cas found: the key's value before it.
	Value Value
	Index uint64 // the log index of the command
	// Revision is, for an object write, the object's revision after a
	// put (the put's index, or one past the revision it replaced when
	// that is higher, as a moved object's may be; a rewrite's is the one
	// it kept), the deleted object's last revision after a delete (0:
	// there was none), and the object's current revision (0: absent)
	// after a mismatch or conflict; for a freeze step, the index the
	// bucket froze at.
	Revision uint64
	// Error says why an object write failed (mismatch, conflict).
	Error string
	// Stale says a received change was not later than what its object
	// held: it changed nothing (StatusOK). Never kept in the dedup table.
	Stale bool
}

// encode is the result as kept in the dedup table:
//
//	status byte | value-present byte | value | index uvarint [| revision uvarint | error]
//
// The object part follows only when revision or error is set, so that
// the table's bytes (and the state's digest) for plain keys stay what
// earlier builds wrote.
func (r *Result) encode() []byte {
	b := []byte{byte(r.Status)}
	if r.Value.Present {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendString(b, r.Value.S)
	b = binary.AppendUvarint(b, r.Index)
	if r.Revision != 0 || r.Error != "" {
		b = binary.AppendUvarint(b, r.Revision)
		b = appendString(b, r.Error)
	}
	return b
}

func decodeResult(b []byte) (Result, error) {
	d := decoder{b: b}
	var r Result
	r.Status = Status(d.byte())
	r.Value.Present = d.bool()
	r.Value.S = d.string()
	r.Index = d.uvarint()
	if d.err == nil && len(d.b) > 0 {
		r.Revision = d.uvarint()
		r.Error = d.string()
		if d.err == nil && r.Revision == 0 && r.Error == "" {
			d.fail(errors.New("an empty object part of a result"))
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d stray bytes after a result", len(d.b)))
	}
	return r, d.err
}
