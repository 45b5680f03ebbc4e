package kv

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Replication between clusters (core/README.md, "Replication between
// clusters"): every change of an object carries a Stamp; a cluster sends
// the changes made in it to the clusters it replicates to as Change
// records through the outbound queue, and applies a Change it receives
// only if its stamp is later than the one the object (or its deletion)
// has. So every cluster settles on the same latest change of each object,
// whatever the order the changes arrive in, and a change applied twice
// changes nothing the second time.

// Stamp orders the changes of one object across clusters: the later Time
// wins, and of two equal times the greater Origin.
type Stamp struct {
	// Time is nanoseconds since the Unix epoch on the clock of the leader
	// that made the change, raised past the stamp of the change it
	// replaced, so that a cluster's own later change always wins over what
	// it stored before, whatever its clock says.
	Time int64
	// Origin is the name of the cluster the change was made in ("" in a
	// cluster formed without a name).
	Origin string
}

// Compare orders stamps: -1 if s is earlier than o, 0 if equal, +1 if
// later.
func (s Stamp) Compare(o Stamp) int {
	switch {
	case s.Time < o.Time:
		return -1
	case s.Time > o.Time:
		return 1
	}
	return strings.Compare(s.Origin, o.Origin)
}

// String shows a stamp as TIME@ORIGIN.
func (s Stamp) String() string { return fmt.Sprintf("%d@%s", s.Time, s.Origin) }

// MaxChange bounds an encoded Change: the receiving cluster enqueues it
// as a message's payload, so it is MaxPayload. A cluster that replicates
// an object's type refuses a write of it whose change would be larger
// (ChangeFits).
const MaxChange = MaxPayload

// MaxChangeTime bounds a change's time and a write's clock (nanoseconds
// since the epoch, the year 2116), so that the stamps of the local writes
// that follow one, each one later, never overflow. (A local write after
// a change at the bound is stamped past it, and other clusters refuse
// that change.)
const MaxChangeTime = 1 << 62

// ChangeFits reports whether the change of w, a write replicated with
// stamp origin, is within MaxChange: the value as it is, the key and
// route as base64, and room for the rest.
func ChangeFits(w *ObjectWrite, origin string) bool {
	b64 := func(n int) int { return (n + 2) / 3 * 4 }
	return len(w.Value)+b64(len(w.PK))+b64(len(w.Route))+len(w.Type)+len(origin)+128 <= MaxChange
}

// Change is what a replication destination is sent for one change of an
// object: the object as stored (a put), or its deletion. Its JSON
// carries the primary key and the route as base64: they are encoded keys,
// any bytes.
type Change struct {
	Type string
	PK   string // the encoded primary key
	// Route is the routing key the object's writes are routed by (its
	// affinity value): the receiving cluster routes the change by it.
	Route   string
	Version int             // the model version of Value
	Value   json.RawMessage // nil for a delete
	Deleted bool
	Time    int64
	Origin  string
}

// changeJSON is a Change as JSON.
type changeJSON struct {
	Type    string          `json:"type"`
	PK      []byte          `json:"pk"`
	Route   []byte          `json:"route"`
	Version int             `json:"version,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	Deleted bool            `json:"deleted,omitempty"`
	Time    int64           `json:"time"`
	Origin  string          `json:"origin"`
}

// Stamp returns the change's stamp.
func (c *Change) Stamp() Stamp { return Stamp{Time: c.Time, Origin: c.Origin} }

// Encode returns the change's JSON. The value goes as it is (compact,
// canonical JSON, with no HTML escaping to grow it), so that ChangeFits
// can bound the result.
func (c *Change) Encode() []byte {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	err := e.Encode(changeJSON{Type: c.Type, PK: []byte(c.PK), Route: []byte(c.Route), Version: c.Version, Value: c.Value,
		Deleted: c.Deleted, Time: c.Time, Origin: c.Origin})
	if err != nil {
		panic(fmt.Sprintf("kv: encoding a change: %v", err)) // strings, ints and checked JSON
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// ParseChange reads a change's JSON strictly: unknown fields, a missing
// type, key or route, a put without a value or a delete with one are
// errors that say which.
func ParseChange(b []byte) (Change, error) {
	if len(b) > MaxChange {
		return Change{}, fmt.Errorf("a change of %d bytes is over %d", len(b), MaxChange)
	}
	var j changeJSON
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return Change{}, fmt.Errorf("a change is not valid JSON of a change: %w", err)
	}
	if d.More() {
		return Change{}, errors.New("a change is followed by more JSON")
	}
	c := Change{Type: j.Type, PK: string(j.PK), Route: string(j.Route), Version: j.Version, Value: j.Value, Deleted: j.Deleted,
		Time: j.Time, Origin: j.Origin}
	err := func() error {
		if err := checkType(c.Type); err != nil {
			return err
		}
		if err := checkPK(c.PK); err != nil {
			return err
		}
		if err := CheckClusterName(c.Origin); err != nil {
			return fmt.Errorf("origin: %w", err)
		}
		if len(c.Route) > MaxPKLen {
			return fmt.Errorf("a route of %d bytes is over %d", len(c.Route), MaxPKLen)
		}
		switch {
		case c.Version < 0 || c.Version > MaxModelVersion:
			return fmt.Errorf("a change's version %d is out of range", c.Version)
		case c.Deleted && len(c.Value) > 0:
			return errors.New("a deletion carries a value")
		case !c.Deleted && (len(c.Value) == 0 || bytes.Equal(c.Value, []byte("null"))):
			return errors.New("a change is neither a value nor a deletion")
		case !c.Deleted && c.Version < 1:
			return errors.New("a change's value has no model version")
		case c.Time <= 0:
			return fmt.Errorf("a change's time %d is not positive", c.Time)
		case c.Time > MaxChangeTime:
			return fmt.Errorf("a change's time %d is beyond %d (the year 2116)", c.Time, int64(MaxChangeTime))
		}
		return nil
	}()
	if err != nil {
		return Change{}, fmt.Errorf("change of %s %q: %w", c.Type, c.PK, err)
	}
	return c, nil
}

// MaxClusterName bounds a cluster's name.
const MaxClusterName = 63

// CheckClusterName checks a cluster's name: 1 to 63 lower-case letters,
// digits and hyphens, starting with a letter, so that it can name the
// cluster in message ids, metric labels, file names and host names alike.
func CheckClusterName(name string) error {
	ok := name != "" && len(name) <= MaxClusterName && name[0] >= 'a' && name[0] <= 'z'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
	}
	if !ok {
		return fmt.Errorf("cluster name %q: want 1 to %d lower-case letters, digits and hyphens, starting with a letter", name, MaxClusterName)
	}
	return nil
}

// appendStamp appends s: time varint | origin.
func appendStamp(b []byte, s Stamp) []byte {
	b = binary.AppendVarint(b, s.Time)
	return appendString(b, s.Origin)
}

// stamp reads what appendStamp wrote.
func (d *decoder) stamp() Stamp {
	return Stamp{Time: d.varint(), Origin: d.string()}
}

// checkStamp checks a write's replication part (stamped: it has one).
func (w *ObjectWrite) checkStamp(stamped bool) error {
	if !stamped {
		if w.Replica {
			return errors.New("an object write flagged received carries no stamp")
		}
		return nil
	}
	if !w.Stamped() {
		return errors.New("an object write flagged stamped carries no stamp")
	}
	if w.Origin != "" {
		if err := CheckClusterName(w.Origin); err != nil {
			return err
		}
	}
	if len(w.Route) > MaxPKLen {
		return fmt.Errorf("a route of %d bytes is over %d", len(w.Route), MaxPKLen)
	}
	if w.At <= 0 || w.At > MaxChangeTime {
		return fmt.Errorf("a stamped write's time %d is not in 1..%d", w.At, int64(MaxChangeTime))
	}
	if w.Rewrite {
		return errors.New("a rewrite keeps its object's stamp and carries none")
	}
	if w.Replica && (w.Origin == "" || len(w.Replicate) > 0 || w.IfAbsent || w.IfRevision != 0) {
		return errors.New("a received change names its origin, and goes nowhere, on no condition")
	}
	for i, dest := range w.Replicate {
		if dest == "" || len(dest) > MaxDestination || strings.IndexByte(dest, 0) >= 0 {
			return fmt.Errorf("replication destination %q is empty, longer than %d bytes or holds a zero byte", dest, MaxDestination)
		}
		if slices.Contains(w.Replicate[:i], dest) {
			return fmt.Errorf("replication destination %q is listed twice", dest)
		}
	}
	return nil
}

// A tombstone keeps the stamp of a stamped deletion, so that a change
// the deletion overtook, arriving late from another cluster, does not
// bring the object back:
//
//	"v" g "z" type 0x00 pk   stamp (appendStamp)
//
// A later put of the object removes it. Tombstones are kept for good: a
// cluster cannot know that every other has seen the deletion.
const tagTombstone = 'z'

func (m *Machine) tombstoneKey(typ, pk string) []byte {
	return append(append(append(m.prefix(tagTombstone), typ...), 0), pk...)
}

// tombstone reads the stamp of the object's deletion, if it has one.
func (m *Machine) tombstone(r pebble.Reader, typ, pk string) (Stamp, error) {
	v, closer, err := r.Get(m.tombstoneKey(typ, pk))
	if errors.Is(err, pebble.ErrNotFound) {
		return Stamp{}, nil
	}
	if err != nil {
		return Stamp{}, err
	}
	defer closer.Close()
	d := decoder{b: v}
	s := d.stamp()
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d stray bytes after a tombstone", len(d.b)))
	}
	if d.err != nil {
		return Stamp{}, fmt.Errorf("kv: group %d: the tombstone of %s %q: %w", m.group, typ, pk, d.err)
	}
	return s, nil
}

// stampWrite decides a stamped write against what the object holds (its
// record's stamp, or its deletion's): the stamp the write takes, or ok
// false for a received change that is not later (it changes nothing).
// A local write's stamp is its leader's clock, raised past what the
// object holds, so that it wins over every change this cluster stored
// before it.
func (m *Machine) stampWrite(r pebble.Reader, w *ObjectWrite, old *ObjectRecord, exists bool) (s Stamp, ok bool, err error) {
	cur, err := m.tombstone(r, w.Type, w.PK)
	if err != nil {
		return Stamp{}, false, err
	}
	if exists && old.Stamp.Compare(cur) > 0 {
		cur = old.Stamp
	}
	if w.Replica {
		s = Stamp{Time: w.At, Origin: w.Origin}
		return s, s.Compare(cur) > 0 || m.IgnoreStamps, nil
	}
	return Stamp{Time: max(w.At, cur.Time+1), Origin: w.Origin}, true, nil
}

// replicate queues a change that applied for each of its write's
// destinations, ordered by the write's route.
func (m *Machine) replicate(b *pebble.Batch, w *ObjectWrite, s Stamp, deleted bool) error {
	if len(w.Replicate) == 0 {
		return nil
	}
	c := Change{Type: w.Type, PK: w.PK, Route: w.Route, Deleted: deleted, Time: s.Time, Origin: s.Origin}
	if !deleted {
		c.Version, c.Value = w.Version, w.Value
	}
	v := c.Encode()
	for _, dest := range w.Replicate {
		e := OutboxEntry{Destination: dest, Key: w.Route, Value: v, At: w.At}
		if err := m.pushOutbound(b, &e); err != nil {
			return err
		}
	}
	// The queues' counters (the outbound sequence) go with the write: a
	// restarted replica reads them back, and must go on where it stopped.
	return m.saveMeta(b)
}
