package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// objectPrefix is where the records of type typ start: "v" g "o" typ 0x00.
func (m *Machine) objectPrefix(typ string) []byte {
	return append(append(m.prefix(tagObject), typ...), 0)
}

func (m *Machine) objectKey(typ, pk string) []byte { return append(m.objectPrefix(typ), pk...) }

// indexPrefix is where the entries of key in index of typ start:
// "v" g "x" typ 0x00 index 0x00 escaped(key).
func (m *Machine) indexPrefix(typ, index, key string) []byte {
	p := append(m.prefix(tagIndex), typ...)
	p = append(p, 0)
	p = append(p, index...)
	p = append(p, 0)
	return appendEscaped(p, key)
}

// indexKey is the key of pk's entry e: the prefix alone for a unique
// entry (its value is pk), the prefix and pk for another (no value).
func (m *Machine) indexKey(typ string, e IndexEntry, pk string) []byte {
	k := m.indexPrefix(typ, e.Index, e.Key)
	if !e.Unique {
		k = append(k, pk...)
	}
	return k
}

// historyPrefix is where pk's previous versions start:
// "v" g "h" typ 0x00 escaped(pk).
func (m *Machine) historyPrefix(typ, pk string) []byte {
	p := append(m.prefix(tagHistory), typ...)
	return appendEscaped(append(p, 0), pk)
}

// prefixEnd is the first key after every key that starts with p (p is
// never all 0xff here: every key starts with "v").
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	panic("kv: a key prefix of 0xff bytes only")
}

// iterPrefix visits, in order, every key of r that starts with p, with
// what follows p; visit returns false to stop. The slices are the
// iterator's: copy what you keep.
func iterPrefix(r pebble.Reader, p []byte, visit func(rest, v []byte) (bool, error)) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		more, err := visit(it.Key()[len(p):], it.Value())
		if err != nil || !more {
			it.Close()
			return err
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return err
	}
	return it.Close()
}

func (m *Machine) getObject(r pebble.Reader, typ, pk string) (ObjectRecord, bool, error) {
	v, closer, err := r.Get(m.objectKey(typ, pk))
	if errors.Is(err, pebble.ErrNotFound) {
		return ObjectRecord{}, false, nil
	}
	if err != nil {
		return ObjectRecord{}, false, err
	}
	defer closer.Close()
	rec, err := decodeRecord(typ, pk, v)
	if err != nil {
		return ObjectRecord{}, false, fmt.Errorf("kv: group %d: %w", m.group, err)
	}
	return rec, true, nil
}

// applyObject applies a put-object or delete-object into b.
//
// Both first check the write's condition against the stored object
// (IfAbsent: there is none; IfRevision: it has that revision) and
// answer StatusMismatch with its current revision if it fails. A put
// then checks each of its unique entries: a key held by another object
// answers StatusConflict, naming the index and the holder. Nothing
// changes on either. Otherwise the put replaces the record and its index
// entries (the stored record's entries go, the new ones come), keeps the
// replaced record in the object's history, trimmed to its newest History
// versions, and stores the object at revision index. A Rewrite keeps the
// stored revision and the history as they are. A delete removes the
// record and its entries, keeping it in the history as a put would keep
// the record it replaces. Deleting a missing object changes nothing and
// answers StatusOK with Revision 0, so that a delete is idempotent.
//
// checked says the caller has checked the unique entries already (a
// settled message's objects, checked together by conflicts).
//
// A received change (Replica) applies only if its stamp is later than
// the object's (stampWrite), and takes its unique keys from any object
// holding them: the sending cluster had them unique when it made the
// change, and changes of different routes may arrive in another order
// than they were made, so the holder's own change, which gave the key
// up, may still be on its way. The holder keeps its record (its entry
// is no longer its own, and removeEntries leaves it be).
func (m *Machine) applyObject(b *pebble.Batch, index uint64, c *Command, checked bool) (Result, error) {
	w := c.Object
	if w == nil {
		return Result{}, fmt.Errorf("kv: a %s command without its object", c.Op)
	}
	old, exists, err := m.getObject(b, w.Type, w.PK)
	if err != nil {
		return Result{}, err
	}
	res := Result{Status: StatusOK, Index: index, Revision: old.Revision}
	if msg := objectMismatch(w, exists, old.Revision); msg != "" {
		res.Status, res.Error = StatusMismatch, msg
		return res, nil
	}
	var stamp Stamp
	if w.Stamped() {
		var later bool
		if stamp, later, err = m.stampWrite(b, w, &old, exists); err != nil {
			return Result{}, err
		}
		if m.OnReceived != nil && w.Replica {
			m.OnReceived(w, later)
		}
		if !later {
			res.Stale = true
			return res, nil
		}
	}
	if c.Op == OpDeleteObject {
		if !exists && !w.Replica {
			return res, nil
		}
		if stamp != (Stamp{}) {
			if err := b.Set(m.tombstoneKey(w.Type, w.PK), appendStamp(nil, stamp), nil); err != nil {
				return Result{}, err
			}
		}
		if !exists {
			return res, nil
		}
		if err := m.removeEntries(b, &old); err != nil {
			return Result{}, err
		}
		if err := b.Delete(m.objectKey(w.Type, w.PK), nil); err != nil {
			return Result{}, err
		}
		if err := m.replicate(b, w, stamp, true); err != nil {
			return Result{}, err
		}
		return res, m.keepHistory(b, &old, w.History)
	}
	for _, e := range w.Indexes {
		if !e.Unique || checked || w.Replica {
			continue
		}
		if w.Rewrite && exists && slices.Contains(old.Indexes, e) {
			continue // its own key before; a received change may have taken it since (below)
		}
		holder, err := m.holder(b, w.Type, e, w.PK)
		if err != nil {
			return Result{}, err
		}
		if holder != "" {
			res.Status, res.Error = StatusConflict, fmt.Sprintf("unique index %s: key held by %q", e.Index, holder)
			return res, nil
		}
	}
	// Past the index where an import from a replicaset whose log is
	// further on brought higher revisions (move.go): an object's
	// revisions only go up.
	rec := ObjectRecord{Type: w.Type, PK: w.PK, Version: w.Version, Revision: m.revision(index, old.Revision), Value: w.Value, Indexes: w.Indexes, Stamp: stamp}
	if exists {
		if err := m.removeEntries(b, &old); err != nil {
			return Result{}, err
		}
		if w.Rewrite {
			rec.Revision, rec.Stamp = old.Revision, old.Stamp
		} else if err := m.keepHistory(b, &old, w.History); err != nil {
			return Result{}, err
		}
	}
	for _, e := range rec.Indexes {
		var v []byte
		if e.Unique {
			v = []byte(rec.PK)
			if w.Rewrite {
				// A received change took the key from this object:
				// the key stays with it.
				holder, err := m.holder(b, rec.Type, e, rec.PK)
				if err != nil {
					return Result{}, err
				}
				if holder != "" {
					continue
				}
			}
		}
		if err := b.Set(m.indexKey(rec.Type, e, rec.PK), v, nil); err != nil {
			return Result{}, err
		}
	}
	if stamp != (Stamp{}) {
		if err := b.Delete(m.tombstoneKey(w.Type, w.PK), nil); err != nil {
			return Result{}, err
		}
		if err := m.replicate(b, w, stamp, false); err != nil {
			return Result{}, err
		}
	}
	res.Revision = rec.Revision
	return res, b.Set(m.objectKey(rec.Type, rec.PK), encodeRecord(&rec), nil)
}

// objectMismatch says why w's condition fails on the stored object (its
// revision cur, if it exists), or "" if it holds.
func objectMismatch(w *ObjectWrite, exists bool, cur uint64) string {
	switch {
	case w.IfAbsent && exists:
		return fmt.Sprintf("object exists at revision %d", cur)
	case w.IfRevision != 0 && !exists:
		return fmt.Sprintf("no object, expected revision %d", w.IfRevision)
	case w.IfRevision != 0 && cur != w.IfRevision:
		return fmt.Sprintf("revision %d, expected %d", cur, w.IfRevision)
	}
	return ""
}

// holder is the first object other than pk that has an entry (unique or
// not) under e's index and key, or "".
func (m *Machine) holder(r pebble.Reader, typ string, e IndexEntry, pk string) (string, error) {
	var holder string
	err := iterPrefix(r, m.indexPrefix(typ, e.Index, e.Key), func(rest, v []byte) (bool, error) {
		h := rest
		if len(rest) == 0 {
			h = v
		}
		if string(h) != pk {
			holder = string(h)
			return false, nil
		}
		return true, nil
	})
	return holder, err
}

// removeEntries removes rec's index entries; a unique entry only while it
// is still rec's, since a received change may have taken its key
// (applyObject).
func (m *Machine) removeEntries(b *pebble.Batch, rec *ObjectRecord) error {
	for _, e := range rec.Indexes {
		k := m.indexKey(rec.Type, e, rec.PK)
		if e.Unique {
			v, closer, err := b.Get(k)
			if errors.Is(err, pebble.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			mine := string(v) == rec.PK
			closer.Close()
			if !mine {
				continue
			}
		}
		if err := b.Delete(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// keepHistory adds old to its object's history if keep > 0, and trims
// the history to its newest keep versions.
func (m *Machine) keepHistory(b *pebble.Batch, old *ObjectRecord, keep int) error {
	p := m.historyPrefix(old.Type, old.PK)
	if keep > 0 {
		if err := b.Set(binary.BigEndian.AppendUint64(bytes.Clone(p), old.Revision), encodeRecord(old), nil); err != nil {
			return err
		}
	}
	var revs []uint64
	err := iterPrefix(b, p, func(rest, _ []byte) (bool, error) {
		if len(rest) != 8 {
			return false, fmt.Errorf("kv: group %d: a history key of %s %q ends in %d bytes", m.group, old.Type, old.PK, len(rest))
		}
		revs = append(revs, binary.BigEndian.Uint64(rest))
		return true, nil
	})
	if err != nil {
		return err
	}
	for i := 0; i < len(revs)-keep; i++ {
		if err := b.Delete(binary.BigEndian.AppendUint64(bytes.Clone(p), revs[i]), nil); err != nil {
			return err
		}
	}
	return nil
}

// GetObject reads the object of type typ with primary key pk as of the
// last applied entry. A type or key no write could have stored (empty,
// too long, a type with a zero byte) finds nothing.
func (m *Machine) GetObject(typ, pk string) (ObjectRecord, bool, error) {
	if checkType(typ) != nil || checkPK(pk) != nil {
		return ObjectRecord{}, false, nil
	}
	return m.getObject(m.reader(), typ, pk)
}

// ScanObjects reads up to limit (> 0) objects of type typ in primary key
// order, starting after the key after ("": from the first).
func (m *Machine) ScanObjects(typ, after string, limit int) ([]ObjectRecord, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("kv: scanning objects: limit %d", limit)
	}
	if checkType(typ) != nil {
		return nil, nil
	}
	p := m.objectPrefix(typ)
	lo := p
	if after != "" {
		lo = append(m.objectKey(typ, after), 0) // the first key after it
	}
	it, err := m.reader().NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	var out []ObjectRecord
	for it.First(); it.Valid() && len(out) < limit; it.Next() {
		rec, err := decodeRecord(typ, string(it.Key()[len(p):]), it.Value())
		if err != nil {
			it.Close()
			return nil, fmt.Errorf("kv: group %d: %w", m.group, err)
		}
		out = append(out, rec)
	}
	if err := it.Error(); err != nil {
		it.Close()
		return nil, err
	}
	return out, it.Close()
}

// LookupIndex reads the primary keys of up to limit (> 0) objects of type
// typ that have key in index, in order.
func (m *Machine) LookupIndex(typ, index, key string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("kv: looking up an index: limit %d", limit)
	}
	if checkType(typ) != nil || checkIndexName(index) != nil || len(key) > MaxIndexKeyLen {
		return nil, nil
	}
	// A unique entry sorts first, then the others in key order; an index
	// whose uniqueness changed between model versions may hold both.
	var pks []string
	unique := false
	err := iterPrefix(m.reader(), m.indexPrefix(typ, index, key), func(rest, v []byte) (bool, error) {
		if len(rest) == 0 {
			pks = append(pks, string(v))
			unique = true
			return true, nil
		}
		pks = append(pks, string(rest))
		return len(pks) < limit+1, nil
	})
	if err != nil {
		return nil, err
	}
	if unique {
		slices.Sort(pks)
		pks = slices.Compact(pks)
	}
	if len(pks) > limit {
		pks = pks[:limit]
	}
	return pks, nil
}

// ObjectHistory reads the previous versions kept of an object, oldest
// first. A deleted object keeps its history until it is written again.
func (m *Machine) ObjectHistory(typ, pk string) ([]ObjectRecord, error) {
	if checkType(typ) != nil || checkPK(pk) != nil {
		return nil, nil
	}
	var out []ObjectRecord
	err := iterPrefix(m.reader(), m.historyPrefix(typ, pk), func(rest, v []byte) (bool, error) {
		rec, err := decodeRecord(typ, pk, v)
		if err != nil {
			return false, fmt.Errorf("kv: group %d: history: %w", m.group, err)
		}
		out = append(out, rec)
		return true, nil
	})
	return out, err
}

// ObjectTypes lists the types that have at least one object, in order.
// It seeks from type to type, reading one object of each.
func (m *Machine) ObjectTypes() ([]string, error) {
	p := m.prefix(tagObject)
	it, err := m.reader().NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, err
	}
	var types []string
	for valid := it.First(); valid; {
		rest := it.Key()[len(p):]
		i := bytes.IndexByte(rest, 0)
		if i <= 0 {
			it.Close()
			return nil, fmt.Errorf("kv: group %d: an object key without its type: %q", m.group, rest)
		}
		types = append(types, string(rest[:i]))
		// Past every key of this type: its name, then 0x01.
		valid = it.SeekGE(append(append(bytes.Clone(p), rest[:i]...), 1))
	}
	if err := it.Error(); err != nil {
		it.Close()
		return nil, err
	}
	return types, it.Close()
}

// checkStored checks a record of a snapshot: its key (after the tag) is
// one this machine could have written, and its value decodes.
func checkStored(tag byte, k, v []byte) error {
	switch tag {
	case tagKey:
		return nil
	case tagDedup:
		_, err := decodeAnswer(v)
		return err
	case tagObject, tagIndex, tagHistory, tagTombstone:
	case tagQueue, tagRepair, tagID, tagWindow, tagMeta:
		return checkQueueStored(tag, k, v)
	case tagOutbound, tagDestination, tagOutRepair:
		return checkOutboxStored(tag, k, v)
	case tagSend, tagAway, tagChange, tagFloor, tagEpoch:
		return checkMoveStored(tag, k, v)
	default:
		return fmt.Errorf("tag %q", tag)
	}
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return errors.New("a key without its object type")
	}
	typ, rest := string(k[:i]), k[i+1:]
	if err := checkType(typ); err != nil {
		return err
	}
	switch tag {
	case tagObject:
		if err := checkPK(string(rest)); err != nil {
			return err
		}
		_, err := decodeRecord(typ, string(rest), v)
		return err
	case tagTombstone:
		if err := checkPK(string(rest)); err != nil {
			return err
		}
		d := decoder{b: v}
		s := d.stamp()
		if d.err == nil && (len(d.b) > 0 || s.Time <= 0) {
			d.fail(fmt.Errorf("tombstone of %s %q: a malformed stamp", typ, rest))
		}
		return d.err
	case tagIndex:
		j := bytes.IndexByte(rest, 0)
		if j < 0 {
			return errors.New("an index key without its index")
		}
		index := string(rest[:j])
		if err := checkIndexName(index); err != nil {
			return err
		}
		key, pk, ok := readEscaped(rest[j+1:])
		switch {
		case !ok:
			return fmt.Errorf("index %s of %s: a malformed key", index, typ)
		case len(key) > MaxIndexKeyLen:
			return fmt.Errorf("index %s of %s: a key of %d bytes", index, typ, len(key))
		case len(pk) == 0:
			return checkPK(string(v)) // a unique entry
		case len(v) > 0:
			return fmt.Errorf("index %s of %s: a value on a non-unique entry", index, typ)
		}
		return checkPK(string(pk))
	default: // tagHistory
		pk, rev, ok := readEscaped(rest)
		if !ok || len(rev) != 8 {
			return fmt.Errorf("a malformed history key of %s", typ)
		}
		if err := checkPK(pk); err != nil {
			return err
		}
		rec, err := decodeRecord(typ, pk, v)
		if err == nil && rec.Revision != binary.BigEndian.Uint64(rev) {
			err = fmt.Errorf("history of %s %q: revision %d kept under %d", typ, pk, rec.Revision, binary.BigEndian.Uint64(rev))
		}
		return err
	}
}
