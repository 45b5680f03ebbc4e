package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Bounds on an object write, checked by DecodeCommand: a command beyond
// them never applies, so no replica stores more than they allow.
const (
	MaxTypeLen     = 128     // bytes of a type name, and of an index name
	MaxPKLen       = 4 << 10 // bytes of an encoded primary key
	MaxIndexKeyLen = 4 << 10 // bytes of an index key
	MaxIndexes     = 64      // index entries of one object
	MaxHistory     = 1000    // previous versions kept of one object
	MaxObjectValue = 1 << 20 // bytes of an object's JSON
)

// ObjectWrite is the object part of a put-object or delete-object command,
// as the leader proposes it: validated against the data model, upgraded to
// the model's latest version, with its primary key and index entries
// computed. The state machine trusts it: kv knows nothing of models.
type ObjectWrite struct {
	Type    string
	PK      string
	Version int          // the model version of Value
	Value   []byte       // canonical JSON (put); empty for delete
	Indexes []IndexEntry // the object's index entries at Version (put)
	History int          // how many previous versions of this object to keep (0: none)
	// IfRevision applies the write only if the object's current revision
	// is this one (0: unconditionally); IfAbsent (put) only if no object
	// has the key.
	IfRevision uint64
	IfAbsent   bool
	// Rewrite marks a background migration's rewrite: it applies only if the stored
	// object still has revision IfRevision, keeps that revision, and records no history.
	Rewrite bool
	// The replication part (replication.go). In a cluster with a name
	// every write is stamped. A local write (Replica false) is stamped
	// when it applies: At, the proposing leader's clock, raised past the
	// stamp the object (or its deletion) holds, and Origin, this cluster's
	// name; the change then goes to each destination of Replicate as a
	// Change routed by Route. A received change (Replica true) carries its
	// stamp in At and Origin and applies only if it is later than what
	// the object holds; it goes nowhere else. A rewrite keeps the stamp.
	At        int64
	Origin    string
	Replica   bool
	Route     string
	Replicate []string
}

// Stamped reports whether w carries the replication part.
func (w *ObjectWrite) Stamped() bool {
	return w.At != 0 || w.Origin != "" || w.Replica || w.Route != "" || len(w.Replicate) > 0
}

// IndexEntry is one entry of an object in one of its type's indexes: the
// object is found under Key in Index. A unique index holds each key for
// one object at most.
type IndexEntry struct {
	Index, Key string
	Unique     bool
}

// ObjectRecord is an object as the state machine stores it.
type ObjectRecord struct {
	Type     string
	PK       string
	Version  int          // the model version it was stored at
	Revision uint64       // log index of the write that last changed it (a Rewrite keeps it)
	Value    []byte       // canonical JSON as stored
	Indexes  []IndexEntry // as stored (so the next write can remove them)
	Stamp    Stamp        // the change that stored it (zero: written unstamped)
}

// Equal reports whether w and o hold the same write (nil and empty
// slices alike).
func (w *ObjectWrite) Equal(o *ObjectWrite) bool {
	if w == nil || o == nil {
		return w == o
	}
	return w.Type == o.Type && w.PK == o.PK && w.Version == o.Version && bytes.Equal(w.Value, o.Value) &&
		slices.Equal(w.Indexes, o.Indexes) && w.History == o.History && w.IfRevision == o.IfRevision &&
		w.IfAbsent == o.IfAbsent && w.Rewrite == o.Rewrite && w.At == o.At && w.Origin == o.Origin &&
		w.Replica == o.Replica && w.Route == o.Route && slices.Equal(w.Replicate, o.Replicate)
}

// Equal reports whether r and o are the same record (nil and empty slices
// alike).
func (r *ObjectRecord) Equal(o *ObjectRecord) bool {
	if r == nil || o == nil {
		return r == o
	}
	return r.Type == o.Type && r.PK == o.PK && r.Version == o.Version && r.Revision == o.Revision &&
		bytes.Equal(r.Value, o.Value) && slices.Equal(r.Indexes, o.Indexes) && r.Stamp == o.Stamp
}

// Object write flags, the last byte of an encoded ObjectWrite.
const (
	writeIfAbsent byte = 1 << 0
	writeRewrite  byte = 1 << 1
	writeStamped  byte = 1 << 2 // the replication part follows the flags
	writeReplica  byte = 1 << 3
)

// MaxReplicate bounds the destinations one write is replicated to.
const MaxReplicate = 16

func (w *ObjectWrite) size() int {
	if w == nil {
		return 0
	}
	n := 32 + len(w.Type) + len(w.PK) + len(w.Value)
	for _, e := range w.Indexes {
		n += 8 + len(e.Index) + len(e.Key)
	}
	if w.Stamped() {
		n += 24 + len(w.Origin) + len(w.Route)
		for _, d := range w.Replicate {
			n += 2 + len(d)
		}
	}
	return n
}

// appendTo appends the write's encoding in a command:
//
//	type | pk | version uvarint | value | entry count uvarint | entries |
//	history uvarint | if-revision uvarint | flags byte (1 if-absent, 2 rewrite, 4 stamped, 8 replica)
//	[| at varint | origin | route | destination count uvarint | destinations]   (stamped)
//	entry: index | key | unique byte
//
// An unstamped write encodes as before stamps existed.
func (w *ObjectWrite) appendTo(b []byte) []byte {
	b = appendString(b, w.Type)
	b = appendString(b, w.PK)
	b = binary.AppendUvarint(b, uint64(w.Version))
	b = appendString(b, string(w.Value))
	b = appendEntries(b, w.Indexes)
	b = binary.AppendUvarint(b, uint64(w.History))
	b = binary.AppendUvarint(b, w.IfRevision)
	var flags byte
	if w.IfAbsent {
		flags |= writeIfAbsent
	}
	if w.Rewrite {
		flags |= writeRewrite
	}
	if !w.Stamped() {
		return append(b, flags)
	}
	flags |= writeStamped
	if w.Replica {
		flags |= writeReplica
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, w.At)
	b = appendString(b, w.Origin)
	b = appendString(b, w.Route)
	b = binary.AppendUvarint(b, uint64(len(w.Replicate)))
	for _, d := range w.Replicate {
		b = appendString(b, d)
	}
	return b
}

func appendEntries(b []byte, es []IndexEntry) []byte {
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		b = appendString(b, e.Index)
		b = appendString(b, e.Key)
		if e.Unique {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

// objectWrite reads the object part of a command of op and checks it
// against the bounds and against the op.
func (d *decoder) objectWrite(op Op) *ObjectWrite {
	w := &ObjectWrite{}
	w.Type = d.string()
	w.PK = d.string()
	w.Version = d.version()
	if v := d.bytes(); len(v) > 0 {
		w.Value = bytes.Clone(v)
	}
	w.Indexes = d.entries()
	if h := d.uvarint(); d.err == nil && h > MaxHistory {
		d.fail(fmt.Errorf("history %d is over %d", h, MaxHistory))
	} else {
		w.History = int(h)
	}
	w.IfRevision = d.uvarint()
	flags := d.byte()
	if d.err != nil {
		return nil
	}
	w.IfAbsent = flags&writeIfAbsent != 0
	w.Rewrite = flags&writeRewrite != 0
	w.Replica = flags&writeReplica != 0
	if flags&writeStamped != 0 {
		w.At = d.varint()
		w.Origin = d.string()
		w.Route = d.string()
		n := d.uvarint()
		if d.err == nil && n > MaxReplicate {
			d.fail(fmt.Errorf("%d replication destinations are over %d", n, MaxReplicate))
		}
		for i := uint64(0); d.err == nil && i < n; i++ {
			w.Replicate = append(w.Replicate, d.string())
		}
		if d.err != nil {
			return nil
		}
	}
	err := func() error {
		if flags&^(writeIfAbsent|writeRewrite|writeStamped|writeReplica) != 0 {
			return fmt.Errorf("unknown object write flags %#x", flags)
		}
		if err := w.checkStamp(flags&writeStamped != 0); err != nil {
			return err
		}
		if err := checkType(w.Type); err != nil {
			return err
		}
		if err := checkPK(w.PK); err != nil {
			return err
		}
		if len(w.Value) > MaxObjectValue {
			return fmt.Errorf("an object of %d bytes is over %d", len(w.Value), MaxObjectValue)
		}
		if w.IfAbsent && w.IfRevision != 0 {
			return errors.New("a write cannot expect both no object and a revision")
		}
		if w.Rewrite && (w.IfRevision == 0 || w.IfAbsent) {
			return errors.New("a rewrite must expect a revision")
		}
		if op == OpDeleteObject && (len(w.Value) > 0 || len(w.Indexes) > 0 || w.IfAbsent || w.Rewrite) {
			return errors.New("a delete carries no value, index entries, if-absent or rewrite")
		}
		return nil
	}()
	if err != nil {
		d.fail(err)
		return nil
	}
	return w
}

// MaxModelVersion bounds a model version in every encoding (a uvarint):
// it fits an int32, so that it fits an int everywhere and re-encodes as
// it came.
const MaxModelVersion = math.MaxInt32

// ModelVersion checks a model version read from an encoding.
func ModelVersion(v uint64) (int, error) {
	if v > MaxModelVersion {
		return 0, fmt.Errorf("model version %d is out of range", v)
	}
	return int(v), nil
}

// version reads a model version.
func (d *decoder) version() int {
	v, err := ModelVersion(d.uvarint())
	if d.err == nil && err != nil {
		d.fail(err)
	}
	return v
}

// entries reads index entries, at most MaxIndexes of them.
func (d *decoder) entries() []IndexEntry {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > MaxIndexes {
		d.fail(fmt.Errorf("%d index entries are over %d", n, MaxIndexes))
		return nil
	}
	if n == 0 {
		return nil
	}
	es := make([]IndexEntry, 0, n)
	for range n {
		e := IndexEntry{Index: d.string(), Key: d.string(), Unique: d.bool()}
		if d.err != nil {
			return nil
		}
		if err := checkIndexEntry(e); err != nil {
			d.fail(err)
			return nil
		}
		es = append(es, e)
	}
	return es
}

// checkType: a type name is part of the keys of its objects, ended by a
// zero byte.
func checkType(t string) error {
	switch {
	case t == "":
		return errors.New("an object type is empty")
	case len(t) > MaxTypeLen:
		return fmt.Errorf("an object type of %d bytes is over %d", len(t), MaxTypeLen)
	case strings.IndexByte(t, 0) >= 0:
		return fmt.Errorf("object type %q holds a zero byte", t)
	}
	return nil
}

func checkPK(pk string) error {
	switch {
	case pk == "":
		return errors.New("a primary key is empty")
	case len(pk) > MaxPKLen:
		return fmt.Errorf("a primary key of %d bytes is over %d", len(pk), MaxPKLen)
	}
	return nil
}

func checkIndexName(name string) error {
	switch {
	case name == "":
		return errors.New("an index name is empty")
	case len(name) > MaxTypeLen:
		return fmt.Errorf("an index name of %d bytes is over %d", len(name), MaxTypeLen)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("index name %q holds a zero byte", name)
	}
	return nil
}

func checkIndexEntry(e IndexEntry) error {
	if err := checkIndexName(e.Index); err != nil {
		return err
	}
	if len(e.Key) > MaxIndexKeyLen {
		return fmt.Errorf("index %s: a key of %d bytes is over %d", e.Index, len(e.Key), MaxIndexKeyLen)
	}
	return nil
}

// encodeRecord is a record's stored value (its type and primary key are
// in its key):
//
//	version uvarint | revision uvarint | value | entry count uvarint | entries [| stamp]
//
// with the stamp (appendStamp) only when it is not zero.
func encodeRecord(r *ObjectRecord) []byte {
	b := make([]byte, 0, 16+len(r.Value)+8*len(r.Indexes))
	b = binary.AppendUvarint(b, uint64(r.Version))
	b = binary.AppendUvarint(b, r.Revision)
	b = appendString(b, string(r.Value))
	b = appendEntries(b, r.Indexes)
	if r.Stamp != (Stamp{}) {
		b = appendStamp(b, r.Stamp)
	}
	return b
}

// decodeRecord reads a stored record's value; it copies what it keeps.
func decodeRecord(typ, pk string, b []byte) (ObjectRecord, error) {
	d := decoder{b: b}
	r := ObjectRecord{Type: typ, PK: pk}
	r.Version = d.version()
	r.Revision = d.uvarint()
	if v := d.bytes(); len(v) > 0 {
		r.Value = bytes.Clone(v)
	}
	r.Indexes = d.entries()
	if d.err == nil && len(d.b) > 0 {
		r.Stamp = d.stamp()
	}
	if d.err == nil && r.Revision == 0 {
		d.fail(errors.New("an object record has revision 0"))
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d stray bytes after an object record", len(d.b)))
	}
	if d.err != nil {
		return ObjectRecord{}, fmt.Errorf("object %s %q: %w", typ, pk, d.err)
	}
	return r, nil
}

// appendEscaped appends s so that it ends itself and keeps its order: a
// zero byte becomes 0x00 0xff, and 0x00 0x01 ends it. What follows it can
// then be anything, and escaped strings sort as the strings do.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			b = append(b, 0, 0xff)
		} else {
			b = append(b, s[i])
		}
	}
	return append(b, 0, 1)
}

// readEscaped reads what appendEscaped wrote at the start of b and
// returns the rest.
func readEscaped(b []byte) (s string, rest []byte, ok bool) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			out = append(out, b[i])
			continue
		}
		if i+1 == len(b) {
			return "", nil, false
		}
		switch b[i+1] {
		case 0xff:
			out = append(out, 0)
			i++
		case 1:
			return string(out), b[i+2:], true
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}
