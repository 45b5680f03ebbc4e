// Package kv is shoal's replicated key-value store: how keys map to
// buckets, the commands that go through a replicaset's Raft log, the state
// machine that applies them on pebble, and the client protocol.
//
// Keys map to buckets by Bucket; group 0 maps buckets to replicasets.
// Writes (put, delete, cas) are commands in the replicaset's Raft log;
// reads use Raft's ReadIndex on the leader. Every command carries its
// client and a sequence number: the state machine applies each (client,
// sequence) at most once and remembers the answer, so a client may retry a
// write freely, across leader changes and restarts.
package kv

import (
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

// Operations. Get is served by ReadIndex and never enters the log.
const (
	OpGet Op = iota + 1
	OpPut
	OpDelete
	OpCAS
)

var opNames = [...]string{OpGet: "get", OpPut: "put", OpDelete: "delete", OpCAS: "cas"}

func (o Op) String() string {
	if o >= OpGet && o <= OpCAS {
		return opNames[o]
	}
	return fmt.Sprintf("op%d", uint8(o))
}

// ParseOp is the inverse of Op.String.
func ParseOp(s string) (Op, bool) {
	for o := OpGet; o <= OpCAS; o++ {
		if opNames[o] == s {
			return o, true
		}
	}
	return 0, false
}

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
}

// ID names the request a command answers, unique per client and sequence.
func (c *Command) ID() string { return fmt.Sprintf("%s/%d", c.Client, c.Seq) }

// Encode is the command's encoding in the log:
//
//	op byte | client | seq uvarint | key | value | expected-present byte | expected
//
// with each string as uvarint length and bytes.
func (c *Command) Encode() []byte {
	b := make([]byte, 0, 16+len(c.Client)+len(c.Key)+len(c.Value)+len(c.Expected.S))
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
	return appendString(b, c.Expected.S)
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
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d stray bytes", len(d.b))
	}
	if d.err == nil && (c.Op < OpPut || c.Op > OpCAS) {
		d.err = fmt.Errorf("%s is not a write", c.Op)
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
)

var statusNames = [...]string{StatusOK: "ok", StatusMismatch: "mismatch", StatusRedirect: "redirect"}

func (s Status) String() string {
	if s >= StatusOK && s <= StatusRedirect {
		return statusNames[s]
	}
	return fmt.Sprintf("status%d", uint8(s))
}

// Result is what applying a command produced, as remembered for retries.
type Result struct {
	Status Status
	// Value is what a cas found: the key's value before it.
	Value Value
	Index uint64 // the log index of the command
}

func (r *Result) encode() []byte {
	b := []byte{byte(r.Status)}
	if r.Value.Present {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendString(b, r.Value.S)
	return binary.AppendUvarint(b, r.Index)
}

func decodeResult(b []byte) (Result, error) {
	d := decoder{b: b}
	var r Result
	r.Status = Status(d.byte())
	r.Value.Present = d.bool()
	r.Value.S = d.string()
	r.Index = d.uvarint()
	return r, d.err
}
