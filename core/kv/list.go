package kv

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// ListOrder is the order of a listing of a type's objects: by primary
// key (Index "") or by one of the type's indexes, ascending, or
// descending with Desc.
//
// In an index's order the objects that have an entry in it come first,
// by the entry's key and then by primary key (within one key an object
// with a unique entry comes before those with another: a key holds both
// only when the index changed its uniqueness between model revisions);
// the objects without an entry (a null in one of the index's fields)
// follow, by primary key, so that no object is left out. Desc is the
// mirror image: the objects without an entry first, from the last
// primary key, then the entries from the last key.
//
// The order is that of the entries as stored: each write stores the
// entries the model in force gave its object, and the background
// migration rewrites only objects stored under an older version of their
// type. A model revision that adds an index, or changes an index's
// fields or uniqueness, without a new version leaves the objects written
// before it where their old entries put them (among those without an
// entry, for a new index) until each is written again.
//
// A listing paged through positions (a page starts after the last
// position of the one before) sees each object once only while its
// place stays put: in primary key order it does, but in an index's order
// a write that changes an object's entry moves it, past the position a
// listing has reached (the object comes again) or behind it (the object
// never comes, if it had not yet).
//
// Exact narrows a listing in an index's order to the objects whose entry
// in it has the key Key (model.Type.IndexKey encodes it from the index
// fields' values): the entries stored under that one key, in the index's
// order, which within one key is primary key order (a unique entry
// first), and none of the objects without an entry (a null equals no
// key). Its positions are the index order's, so paging, resuming, Desc
// and merging work as in the index's order; a position of another key
// resumes where that key stands in the index's order (a key before Key's
// resumes at its first entry, one after it past its last). The entries
// are the stored ones, with the lag the index's order has: an object
// whose entry a model revision changed without a new version, and that
// was not written since, is listed under the key its old entry holds.
//
// ByScan reads an Exact listing of a non-unique index from the objects
// instead of the entries: every object of the type in primary key order,
// kept or not by the listing's keep (the node keeps those whose entry of
// the index, in the model in force, has Key, and that its filter
// matches), and placed at the position its entry of Key would have. The answer is the same as through the entries, positions
// included, when the entries are complete; the node asks for it while
// they may not be (an index added, or objects not yet rewritten under
// the model in force: core/node's migration), so that an object without
// its entry is still found. It is the node's choice, never sent.
type ListOrder struct {
	Index  string
	Desc   bool
	Exact  bool
	Key    string
	ByScan bool
}

// Check checks that o is an order a listing takes: an exact key only in
// an index's order, of at most MaxIndexKeyLen bytes.
func (o ListOrder) Check() error {
	switch {
	case o.Index != "" && checkIndexName(o.Index) != nil:
		return fmt.Errorf("kv: listing objects in an index's order: %w", checkIndexName(o.Index))
	case o.Exact && o.Index == "":
		return errors.New("kv: listing objects: an exact index key without an index")
	case !o.Exact && o.Key != "":
		return errors.New("kv: listing objects: an index key without Exact")
	case len(o.Key) > MaxIndexKeyLen:
		return fmt.Errorf("kv: listing objects: an index key of %d bytes, over %d", len(o.Key), MaxIndexKeyLen)
	}
	return nil
}

// MaxListPosition bounds a position in a listing's order (the list
// request's After, the page's Last): a phase byte, an index key escaped
// (every byte doubled at worst, and two to end it), a uniqueness byte and
// a primary key.
const MaxListPosition = 1 + 2*MaxIndexKeyLen + 2 + 1 + MaxPKLen

// The phase byte of a position in an index's order.
const (
	positionEntry = 1 // an object placed by its entry
	positionNull  = 2 // an object without an entry
)

// Position is where rec stands in the order o, what a listing's After
// takes to continue after it. In primary key order it is rec's primary
// key. In an index's order it is, for an object whose Indexes hold an
// entry of the index, positionEntry, the entry's key escaped as in the
// entry's stored key, 0 for a unique entry (1 for another) and the
// primary key; for an object without one, positionNull and the primary
// key. Positions of either order compare byte by byte as the ascending
// order does.
func (o ListOrder) Position(rec *ObjectRecord) string {
	if o.Index == "" {
		return rec.PK
	}
	for _, e := range rec.Indexes {
		if e.Index == o.Index {
			return string(entryPosition(e, rec.PK))
		}
	}
	return string(nullPosition(rec.PK))
}

func entryPosition(e IndexEntry, pk string) []byte {
	b := appendEscaped([]byte{positionEntry}, e.Key)
	if e.Unique {
		b = append(b, 0)
	} else {
		b = append(b, 1)
	}
	return append(b, pk...)
}

func nullPosition(pk string) []byte { return append([]byte{positionNull}, pk...) }

// position is a position in an index's order, read.
type position struct {
	null   bool
	key    string // the entry's key (not null)
	unique bool
	pk     string
}

// CheckPosition checks that pos is a position that Position could have
// made in the order o; "" (from the first object) is one.
func (o ListOrder) CheckPosition(pos string) error {
	_, err := o.parsePosition(pos)
	return err
}

func (o ListOrder) parsePosition(pos string) (position, error) {
	if len(pos) > MaxListPosition {
		return position{}, fmt.Errorf("kv: a listing position of %d bytes, over %d", len(pos), MaxListPosition)
	}
	if o.Index == "" || pos == "" {
		return position{pk: pos}, nil
	}
	bad := func(why string) (position, error) {
		return position{}, fmt.Errorf("kv: %q is not a position in the order of index %s: %s", pos, o.Index, why)
	}
	var p position
	switch pos[0] {
	case positionNull:
		p.null, p.pk = true, pos[1:]
	case positionEntry:
		key, rest, ok := readEscaped([]byte(pos[1:]))
		switch {
		case !ok:
			return bad("a malformed index key")
		case len(key) > MaxIndexKeyLen:
			return bad(fmt.Sprintf("an index key of %d bytes", len(key)))
		case len(rest) == 0 || rest[0] > 1:
			return bad("no uniqueness byte after the index key")
		}
		p.key, p.unique, p.pk = key, rest[0] == 0, string(rest[1:])
	default:
		return bad(fmt.Sprintf("phase %d", pos[0]))
	}
	if err := checkPK(p.pk); err != nil {
		return bad(err.Error())
	}
	return p, nil
}

// ListObjects reads one page of the objects of type typ for a
// list-objects request: in the order o (ListOrder), from the first
// position after after ("": from the first), it examines at most scan
// stored objects and keeps those keep accepts, until it has kept limit
// of them or their values reach MaxListBytes, or the records it examined
// reach MaxListExamined bytes (keep upgrades and decodes every one: a
// filter that keeps few large objects must not hold the engine for
// long). With o.Exact it reads only the entries of one key
// (ListOrder). keep may change the record it is given (the node upgrades it to
// the latest version of its type before it judges it); an error of keep
// ends the read with that error. In an index's order a kept record's
// Indexes are then the entry that placed it, or none (ListPage).
//
// In an index's order the entries are read in the order of their stored
// keys, each with the record of its object; an entry that its object's
// record does not name (a unique key a received change took, ObjectWrite
// Replica) places nothing. The objects without an entry are found by
// reading every object of the type in primary key order and passing over
// those an entry placed; those count against scan and the byte bound as
// examined ones do, so the pages that reach them read the whole type and
// may come back empty, with More.
//
// The page says where it stopped (ListPage: More, Last); its Replicaset
// is the caller's to set. A type no write could have stored has no
// objects; after must be a position of o (CheckPosition).
func (m *Machine) ListObjects(typ string, o ListOrder, after string, limit, scan int, keep func(*ObjectRecord) (bool, error)) (ListPage, error) {
	if limit <= 0 || scan < limit {
		return ListPage{}, fmt.Errorf("kv: listing objects: limit %d, scan %d", limit, scan)
	}
	if err := o.Check(); err != nil {
		return ListPage{}, err
	}
	from, err := o.parsePosition(after)
	if err != nil {
		return ListPage{}, err
	}
	if checkType(typ) != nil {
		return ListPage{}, nil
	}
	l := lister{m: m, r: m.reader(), typ: typ, order: o, limit: limit, scan: scan, keep: keep,
		objects: len(m.objectPrefix(typ)), entries: len(m.entriesPrefix(typ, o.Index))}
	if o.Index == "" {
		lo, hi := m.objectRange(typ, after, o.Desc)
		_, err := l.walk(lo, hi, o.Desc, l.byKey)
		return l.page, err
	}
	if o.Exact && o.ByScan {
		lo, hi := m.exactScanRange(typ, o, from, after != "")
		if lo == nil {
			return l.page, nil
		}
		_, err := l.walk(lo, hi, o.Desc, l.byKeyAt)
		return l.page, err
	}
	if o.Exact {
		lo, hi := m.exactRange(typ, o.Index, o.Key, from, after != "", o.Desc)
		if lo == nil {
			return l.page, nil
		}
		_, err := l.walk(lo, hi, o.Desc, l.byEntry)
		return l.page, err
	}
	entries := func() (bool, error) {
		lo, hi := m.entryRange(typ, o.Index, from, after != "" && !from.null, o.Desc)
		return l.walk(lo, hi, o.Desc, l.byEntry)
	}
	nulls := func() (bool, error) {
		resume := ""
		if after != "" && from.null {
			resume = from.pk
		}
		lo, hi := m.objectRange(typ, resume, o.Desc)
		return l.walk(lo, hi, o.Desc, l.withoutEntry)
	}
	// A position in the second phase skips the first.
	phases := []func() (bool, error){entries, nulls}
	if o.Desc {
		phases = []func() (bool, error){nulls, entries}
	}
	if after != "" && from.null != o.Desc {
		phases = phases[1:]
	}
	for _, phase := range phases {
		if stopped, err := phase(); err != nil || stopped {
			return l.page, err
		}
	}
	return l.page, nil
}

// objectRange is the range of typ's object keys after the primary key
// after in the ascending order (before it in the descending one); ""
// is the whole type.
func (m *Machine) objectRange(typ, after string, desc bool) (lo, hi []byte) {
	p := m.objectPrefix(typ)
	lo, hi = p, prefixEnd(p)
	switch {
	case after == "":
	case desc:
		hi = m.objectKey(typ, after)
	default:
		lo = append(m.objectKey(typ, after), 0) // the first key after it
	}
	return lo, hi
}

// entriesPrefix is where the entries of typ's index start.
func (m *Machine) entriesPrefix(typ, index string) []byte {
	p := append(m.prefix(tagIndex), typ...)
	p = append(p, 0)
	p = append(p, index...)
	return append(p, 0)
}

// entryRange is the range of the index's stored entries after the
// position from (before it, descending); resume false is the whole
// index. An entry's stored key sorts as its position does.
func (m *Machine) entryRange(typ, index string, from position, resume, desc bool) (lo, hi []byte) {
	p := m.entriesPrefix(typ, index)
	lo, hi = p, prefixEnd(p)
	if !resume {
		return lo, hi
	}
	k := m.indexKey(typ, IndexEntry{Index: index, Key: from.key, Unique: from.unique}, from.pk)
	if desc {
		return lo, k
	}
	return append(k, 0), hi // the first key after it
}

// exactScanRange is the range of typ's objects an Exact listing read
// ByScan continues in after the position from (resume false: the whole
// type), as exactRange's: a position of Key resumes after its primary
// key, one of a key before Key's (in o's direction) from the first
// object, one after it nowhere.
func (m *Machine) exactScanRange(typ string, o ListOrder, from position, resume bool) (lo, hi []byte) {
	if !resume {
		return m.objectRange(typ, "", o.Desc)
	}
	var c int
	switch {
	case from.null:
		c = 1 // after every entry
	default:
		c = bytes.Compare(appendEscaped(nil, from.key), appendEscaped(nil, o.Key))
	}
	if o.Desc {
		c = -c
	}
	switch {
	case c < 0:
		return m.objectRange(typ, "", o.Desc)
	case c > 0:
		return nil, nil
	}
	return m.objectRange(typ, from.pk, o.Desc)
}

// byKeyAt examines an object of an Exact listing read ByScan, at the
// position its (non-unique) entry of the key would have.
func (l *lister) byKeyAt(k, v []byte) error {
	rec, err := l.decode(k, v)
	if err != nil {
		return err
	}
	e := IndexEntry{Index: l.order.Index, Key: l.order.Key}
	return l.examine(string(entryPosition(e, rec.PK)), rec, len(v), &e)
}

// exactRange is the range of the entries of key in the index after the
// position from (before it, descending), resume false for all of them;
// lo is nil when none is left.
func (m *Machine) exactRange(typ, index, key string, from position, resume, desc bool) (lo, hi []byte) {
	p := m.indexPrefix(typ, index, key)
	lo, hi = p, prefixEnd(p)
	switch {
	case !resume:
		return lo, hi
	case from.null && desc:
		// Before every entry in the descending order.
		return lo, hi
	case from.null:
		return nil, nil
	}
	flo, fhi := m.entryRange(typ, index, from, true, desc)
	if bytes.Compare(flo, lo) > 0 {
		lo = flo
	}
	if bytes.Compare(fhi, hi) < 0 {
		hi = fhi
	}
	if bytes.Compare(lo, hi) >= 0 {
		return nil, nil
	}
	return lo, hi
}

// lister is one page of a listing being read.
type lister struct {
	m     *Machine
	r     pebble.Reader
	typ   string
	order ListOrder
	limit int
	scan  int
	keep  func(*ObjectRecord) (bool, error)
	// The lengths of the prefixes of typ's object keys and of the
	// index's entry keys.
	objects, entries int

	page     ListPage
	examined int // stored objects examined or passed over
	size     int // bytes of the kept objects' values
	read     int // bytes of the records examined or passed over
}

// full reports whether the page ends before the next stored object.
func (l *lister) full() bool {
	return l.examined == l.scan || len(l.page.Objects) == l.limit || l.size >= MaxListBytes || l.read >= MaxListExamined
}

// walk visits the stored keys in [lo, hi), ascending or descending,
// while the page is not full, and reports whether it stopped at a key it
// did not visit.
func (l *lister) walk(lo, hi []byte, desc bool, visit func(k, v []byte) error) (stopped bool, err error) {
	it, err := l.r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return false, err
	}
	valid := it.First()
	if desc {
		valid = it.Last()
	}
	for valid && !l.full() {
		if err := visit(it.Key(), it.Value()); err != nil {
			it.Close()
			return false, err
		}
		if desc {
			valid = it.Prev()
		} else {
			valid = it.Next()
		}
	}
	if valid {
		l.page.More = true
	}
	if err := it.Error(); err != nil {
		it.Close()
		return false, err
	}
	return valid, it.Close()
}

// pass counts a stored object of n bytes at pos that the page passes
// over without examining it.
func (l *lister) pass(pos string, n int) {
	l.examined++
	l.read += n
	l.page.Last = pos
}

// examine judges rec, a stored object of n bytes at pos, placed by the
// entry placed (nil: none) in an index's order.
func (l *lister) examine(pos string, rec ObjectRecord, n int, placed *IndexEntry) error {
	l.pass(pos, n)
	kept, err := l.keep(&rec)
	if err != nil || !kept {
		return err
	}
	if l.order.Index != "" {
		rec.Indexes = nil
		if placed != nil {
			rec.Indexes = []IndexEntry{*placed}
		}
	}
	l.page.Objects = append(l.page.Objects, rec)
	l.size += len(rec.Value)
	return nil
}

// decode reads the object record stored under k with value v.
func (l *lister) decode(k, v []byte) (ObjectRecord, error) {
	pk := string(k[l.objects:])
	rec, err := decodeRecord(l.typ, pk, v)
	if err != nil {
		return ObjectRecord{}, fmt.Errorf("kv: group %d: %w", l.m.group, err)
	}
	return rec, nil
}

// byKey examines an object in primary key order.
func (l *lister) byKey(k, v []byte) error {
	rec, err := l.decode(k, v)
	if err != nil {
		return err
	}
	return l.examine(rec.PK, rec, len(v), nil)
}

// byEntry examines the object an entry of the index places, or passes
// over an entry its object's record does not name.
func (l *lister) byEntry(k, v []byte) error {
	index := l.order.Index
	key, rest, ok := readEscaped(k[l.entries:])
	if !ok {
		return fmt.Errorf("kv: group %d: a malformed entry key of index %s of %s: %q", l.m.group, index, l.typ, k)
	}
	e := IndexEntry{Index: index, Key: key, Unique: len(rest) == 0}
	pk := string(rest)
	if e.Unique {
		pk = string(v)
	}
	pos := string(entryPosition(e, pk))
	rec, found, err := l.m.getObject(l.r, l.typ, pk)
	if err != nil {
		return err
	}
	n := len(k) + len(v) + len(rec.Value)
	if !found || !names(&rec, e) {
		l.pass(pos, n)
		return nil
	}
	return l.examine(pos, rec, n, &e)
}

// names reports whether rec's record names the entry e.
func names(rec *ObjectRecord, e IndexEntry) bool {
	for _, have := range rec.Indexes {
		if have == e {
			return true
		}
	}
	return false
}

// withoutEntry examines an object that has no entry of its own in the
// index, and passes over one that has.
func (l *lister) withoutEntry(k, v []byte) error {
	rec, err := l.decode(k, v)
	if err != nil {
		return err
	}
	pos := string(nullPosition(rec.PK))
	own, err := l.ownsEntry(&rec)
	if err != nil {
		return err
	}
	if own {
		l.pass(pos, len(v))
		return nil
	}
	return l.examine(pos, rec, len(v), nil)
}

// ownsEntry reports whether an entry of the index places rec: its record
// names one, and a unique one is still its own (applyObject).
func (l *lister) ownsEntry(rec *ObjectRecord) (bool, error) {
	for _, e := range rec.Indexes {
		if e.Index != l.order.Index {
			continue
		}
		if !e.Unique {
			return true, nil
		}
		v, closer, err := l.r.Get(l.m.indexKey(l.typ, e, rec.PK))
		if errors.Is(err, pebble.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		mine := string(v) == rec.PK
		closer.Close()
		return mine, nil
	}
	return false, nil
}
