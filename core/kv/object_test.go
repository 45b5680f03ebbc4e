package kv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/store"
	"github.com/shoaldb/shoal/simnet"
)

// objectCommands are object writes with edge values; the round-trip test
// and the fuzzer's seeds use them.
func objectCommands() []Command {
	return []Command{
		{Client: "c", Seq: 1, Op: OpPutObject, Key: "tenant-1", Object: &ObjectWrite{Type: "user", PK: "u1", Version: 2, Value: []byte(`{"id":"u1"}`)}},
		{Client: "c", Seq: 2, Op: OpPutObject, Key: "", Object: &ObjectWrite{Type: "user", PK: "\x00\xff", Version: 1, Value: []byte(`{}`),
			Indexes: []IndexEntry{{Index: "by_email", Key: "a@b", Unique: true}, {Index: "by_group", Key: ""}, {Index: "by_group", Key: "\x00"}},
			History: MaxHistory, IfRevision: 1 << 40}},
		{Client: "c", Seq: 3, Op: OpPutObject, Key: "k", Object: &ObjectWrite{Type: "t", PK: "p", IfAbsent: true}},
		{Client: "c", Seq: 4, Op: OpPutObject, Key: "k", Object: &ObjectWrite{Type: "t", PK: "p", Version: 3, Value: []byte("{}"), IfRevision: 7, Rewrite: true}},
		{Client: "c", Seq: 5, Op: OpDeleteObject, Key: "k", Object: &ObjectWrite{Type: "t", PK: "p"}},
		{Client: "c", Seq: 6, Op: OpDeleteObject, Key: "k", Object: &ObjectWrite{Type: "t", PK: "p", History: 3, IfRevision: 9}},
		{Client: "c", Seq: 7, Op: OpPutObject, Key: "k", Object: &ObjectWrite{
			Type: strings.Repeat("t", MaxTypeLen), PK: strings.Repeat("p", MaxPKLen), Version: 1<<31 - 1,
			Value: bytes.Repeat([]byte("v"), MaxObjectValue), Indexes: manyEntries(MaxIndexes)}},
	}
}

func manyEntries(n int) []IndexEntry {
	es := make([]IndexEntry, n)
	for i := range es {
		es[i] = IndexEntry{Index: strings.Repeat("i", MaxTypeLen), Key: strings.Repeat("k", MaxIndexKeyLen), Unique: i%2 == 0}
	}
	return es
}

func TestObjectCommandEncoding(t *testing.T) {
	for _, c := range objectCommands() {
		got, err := DecodeCommand(c.Encode())
		if err != nil || !got.Equal(c) {
			t.Errorf("round trip of %s %+v: %+v, %v", c.Op, c.Object, got.Object, err)
		}
	}
	put := func(w ObjectWrite) []byte {
		return (&Command{Client: "c", Seq: 1, Op: OpPutObject, Key: "k", Object: &w}).Encode()
	}
	del := func(w ObjectWrite) []byte {
		return (&Command{Client: "c", Seq: 1, Op: OpDeleteObject, Key: "k", Object: &w}).Encode()
	}
	ok := ObjectWrite{Type: "t", PK: "p", Version: 1, Value: []byte("{}")}
	with := func(f func(w *ObjectWrite)) ObjectWrite {
		w := ok
		f(&w)
		return w
	}
	plainPut := (&Command{Client: "c", Seq: 1, Op: OpPut, Key: "k"}).Encode()
	objectPart := put(ok)[len(plainPut):]
	// The version (1) as a padded varint.
	padded := bytes.Replace(put(ok), []byte{1, 't', 1, 'p', 1}, []byte{1, 't', 1, 'p', 0x81, 0}, 1)
	flags := func(f byte) []byte { b := put(ok); b[len(b)-1] = f; return b }
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"object part missing", append([]byte{byte(OpPutObject)}, plainPut[1:]...), "truncated"},
		{"object part on a put", append(bytes.Clone(plainPut), objectPart...), "stray bytes"},
		{"get-object", append([]byte{byte(OpGetObject)}, put(ok)[1:]...), "get-object is not a write"},
		{"trailing byte", append(put(ok), 0), "1 stray bytes"},
		{"padded version", padded, "not minimally encoded"},
		{"unknown flag", flags(16), "unknown object write flags 0x10"},
		{"empty type", put(with(func(w *ObjectWrite) { w.Type = "" })), "object type is empty"},
		{"long type", put(with(func(w *ObjectWrite) { w.Type = strings.Repeat("t", MaxTypeLen+1) })), "over 128"},
		{"type with zero", put(with(func(w *ObjectWrite) { w.Type = "a\x00b" })), "zero byte"},
		{"empty pk", put(with(func(w *ObjectWrite) { w.PK = "" })), "primary key is empty"},
		{"long pk", put(with(func(w *ObjectWrite) { w.PK = strings.Repeat("p", MaxPKLen+1) })), "over 4096"},
		{"too many entries", put(with(func(w *ObjectWrite) { w.Indexes = manyEntries(MaxIndexes + 1) })), "65 index entries are over 64"},
		{"empty index name", put(with(func(w *ObjectWrite) { w.Indexes = []IndexEntry{{Key: "k"}} })), "index name is empty"},
		{"index name with zero", put(with(func(w *ObjectWrite) { w.Indexes = []IndexEntry{{Index: "a\x00"}} })), "zero byte"},
		{"long index key", put(with(func(w *ObjectWrite) {
			w.Indexes = []IndexEntry{{Index: "i", Key: strings.Repeat("k", MaxIndexKeyLen+1)}}
		})), "over 4096"},
		{"unique flag 2", bytes.Replace(put(with(func(w *ObjectWrite) { w.Indexes = []IndexEntry{{Index: "i", Key: "k"}} })),
			[]byte{1, 'i', 1, 'k', 0}, []byte{1, 'i', 1, 'k', 2}, 1), "neither 0 nor 1"},
		{"history", put(with(func(w *ObjectWrite) { w.History = MaxHistory + 1 })), "history 1001 is over 1000"},
		{"value", put(with(func(w *ObjectWrite) { w.Value = make([]byte, MaxObjectValue+1) })), "over 1048576"},
		{"version", put(with(func(w *ObjectWrite) { w.Version = 1 << 31 })), "model version 2147483648 is out of range"},
		{"negative version", put(with(func(w *ObjectWrite) { w.Version = -1 })), "out of range"},
		{"absent and revision", put(with(func(w *ObjectWrite) { w.IfAbsent, w.IfRevision = true, 3 })), "both no object and a revision"},
		{"rewrite without revision", put(with(func(w *ObjectWrite) { w.Rewrite = true })), "a rewrite must expect a revision"},
		{"delete with value", del(ok), "a delete carries no value"},
		{"delete if absent", del(ObjectWrite{Type: "t", PK: "p", IfAbsent: true}), "a delete carries no value"},
		{"delete with entries", del(ObjectWrite{Type: "t", PK: "p", Indexes: []IndexEntry{{Index: "i"}}}), "a delete carries no value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeCommand(c.b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("DecodeCommand: %+v, %v; want an error about %q", got, err, c.want)
			}
		})
	}
	for _, c := range []Command{{Op: OpPutObject}, {Op: OpPut, Object: &ObjectWrite{}}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("encoding a %s with object part %v did not panic", c.Op, c.Object != nil)
				}
			}()
			c.Encode()
		}()
	}
}

func TestOpsAndStatuses(t *testing.T) {
	for o := OpGet; o <= lastOp; o++ {
		if p, ok := ParseOp(o.String()); !ok || p != o {
			t.Errorf("ParseOp(%q) = %v, %v", o.String(), p, ok)
		}
	}
	for _, c := range []struct {
		op                    Op
		name                  string
		read, write, isObject bool
	}{
		{OpGet, "get", true, false, false},
		{OpCAS, "cas", false, true, false},
		{OpPutObject, "put-object", false, true, true},
		{OpDeleteObject, "delete-object", false, true, true},
		{OpGetObject, "get-object", true, false, true},
		{Op(0), "op0", false, false, false},
		{OpEnqueue, "enqueue", false, true, false},
		{OpReadQueue, "read-queue", true, false, false},
		{OpOutbox, "outbox", false, true, false},
		{OpListObjects, "list-objects", true, false, false},
		{OpBucket, "bucket", false, true, false},
		{OpImport, "import", false, true, false},
		{Op(16), "op16", false, false, false},
	} {
		if c.op.String() != c.name || c.op.IsRead() != c.read || c.op.IsWrite() != c.write || c.op.IsObject() != c.isObject {
			t.Errorf("%d: %s read %v write %v object %v, want %s %v %v %v", uint8(c.op), c.op, c.op.IsRead(), c.op.IsWrite(), c.op.IsObject(),
				c.name, c.read, c.write, c.isObject)
		}
	}
	if StatusConflict.String() != "conflict" || StatusBusy.String() != "busy" || Status(8).Valid() {
		t.Errorf("statuses: %s %s %v", StatusConflict, StatusBusy, Status(8).Valid())
	}
}

// objects drives a machine with object writes, one log index after
// another.
type objects struct {
	t     *testing.T
	m     *Machine
	index uint64
	seq   uint64
}

func newObjects(t *testing.T) *objects {
	_, current := openMachine(t)
	return &objects{t: t, m: current()}
}

// newObjectPair is two groups' machines in one store (a process runs
// one world at a time).
func newObjectPair(t *testing.T) (*objects, *objects) {
	w, err := simnet.New(simnet.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	var a, b *Machine
	err = w.AddNode("n1", func(e env.Env) (env.Node, error) {
		st, err := store.Open(e, "data")
		if err != nil {
			return nil, err
		}
		if a, err = Open(st, 1); err != nil {
			return nil, err
		}
		b, err = Open(st, 2)
		return holder{e}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return &objects{t: t, m: a}, &objects{t: t, m: b}
}

func (o *objects) apply(op Op, w ObjectWrite) Result {
	o.t.Helper()
	o.index++
	o.seq++
	r, err := o.m.Apply(o.index, Command{Client: "c", Seq: o.seq, Op: op, Key: "route", Object: &w})
	if err != nil {
		o.t.Fatal(err)
	}
	return r
}

func (o *objects) put(w ObjectWrite) Result {
	o.t.Helper()
	return o.apply(OpPutObject, w)
}

func (o *objects) del(w ObjectWrite) Result {
	o.t.Helper()
	return o.apply(OpDeleteObject, w)
}

func (o *objects) get(typ, pk string) (ObjectRecord, bool) {
	o.t.Helper()
	r, ok, err := o.m.GetObject(typ, pk)
	if err != nil {
		o.t.Fatal(err)
	}
	return r, ok
}

func (o *objects) lookup(typ, index, key string, limit int) []string {
	o.t.Helper()
	pks, err := o.m.LookupIndex(typ, index, key, limit)
	if err != nil {
		o.t.Fatal(err)
	}
	return pks
}

func (o *objects) history(typ, pk string) []uint64 {
	o.t.Helper()
	h, err := o.m.ObjectHistory(typ, pk)
	if err != nil {
		o.t.Fatal(err)
	}
	var revs []uint64
	for _, r := range h {
		revs = append(revs, r.Revision)
	}
	return revs
}

func want[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: %#v, want %#v", what, got, want)
	}
}

func user(pk, email, group string) ObjectWrite {
	w := ObjectWrite{Type: "user", PK: pk, Version: 1, Value: fmt.Appendf(nil, `{"id":%q,"email":%q}`, pk, email)}
	if email != "" {
		w.Indexes = append(w.Indexes, IndexEntry{Index: "by_email", Key: email, Unique: true})
	}
	if group != "" {
		w.Indexes = append(w.Indexes, IndexEntry{Index: "by_group", Key: group})
	}
	return w
}

func TestObjectPutGetScan(t *testing.T) {
	o := newObjects(t)
	if _, ok := o.get("user", "u1"); ok {
		t.Fatal("an object before any write")
	}
	want(t, "put", o.put(user("u1", "a@x", "g")), Result{Status: StatusOK, Index: 1, Revision: 1})
	rec, ok := o.get("user", "u1")
	want(t, "get", ok, true)
	want(t, "record", rec, ObjectRecord{Type: "user", PK: "u1", Version: 1, Revision: 1, Value: []byte(`{"id":"u1","email":"a@x"}`),
		Indexes: []IndexEntry{{Index: "by_email", Key: "a@x", Unique: true}, {Index: "by_group", Key: "g"}}})
	for _, pk := range []string{"u3", "u2", "u\x00", "u", "v"} {
		o.put(user(pk, "", ""))
	}
	o.put(ObjectWrite{Type: "us", PK: "x"})
	o.put(ObjectWrite{Type: "a", PK: "\xff"})
	o.put(ObjectWrite{Type: "user\x01", PK: "\xff"})

	scan := func(after string, limit int) []string {
		t.Helper()
		recs, err := o.m.ScanObjects("user", after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var pks []string
		for _, r := range recs {
			pks = append(pks, r.PK)
		}
		return pks
	}
	want(t, "scan all", scan("", 100), []string{"u", "u\x00", "u1", "u2", "u3", "v"})
	want(t, "scan first 2", scan("", 2), []string{"u", "u\x00"})
	want(t, "scan after u", scan("u", 2), []string{"u\x00", "u1"})
	want(t, "scan after u\\x00", scan("u\x00", 2), []string{"u1", "u2"})
	want(t, "scan after a missing key", scan("u15", 10), []string{"u2", "u3", "v"})
	want(t, "scan after the last", scan("v", 10), []string(nil))
	if _, err := o.m.ScanObjects("user", "", 0); err == nil {
		t.Fatal("a scan without a limit")
	}
	types, err := o.m.ObjectTypes()
	if err != nil {
		t.Fatal(err)
	}
	want(t, "types", types, []string{"a", "us", "user", "user\x01"})

	// Names no write could store find nothing.
	for _, c := range [][2]string{{"", "u1"}, {"user", ""}, {"us\x00er", "u1"}, {strings.Repeat("t", MaxTypeLen+1), "p"}} {
		if _, ok := o.get(c[0], c[1]); ok {
			t.Errorf("GetObject(%q, %q) found something", c[0], c[1])
		}
	}
}

func TestObjectIndexUpdate(t *testing.T) {
	o, o2 := newObjectPair(t)
	o.put(user("u1", "a@x", "g1"))
	want(t, "by email", o.lookup("user", "by_email", "a@x", 10), []string{"u1"})
	o.put(user("u1", "b@x", "g2"))
	want(t, "old email", o.lookup("user", "by_email", "a@x", 10), []string(nil))
	want(t, "old group", o.lookup("user", "by_group", "g1", 10), []string(nil))
	want(t, "new email", o.lookup("user", "by_email", "b@x", 10), []string{"u1"})
	want(t, "new group", o.lookup("user", "by_group", "g2", 10), []string{"u1"})
	// The same object may keep its unique key.
	want(t, "same key", o.put(user("u1", "b@x", "")).Status, StatusOK)
	want(t, "group dropped", o.lookup("user", "by_group", "g2", 10), []string(nil))
	o.del(ObjectWrite{Type: "user", PK: "u1"})
	want(t, "deleted", o.lookup("user", "by_email", "b@x", 10), []string(nil))
	// Nothing of the object is left but the dedup record.
	o2.m.Apply(o.index+1, Command{Client: "c", Seq: 99, Op: OpPut, Key: "x"})
	o.m.Apply(o.index+1, Command{Client: "c", Seq: 99, Op: OpPut, Key: "x"})
	a, _ := o.m.Digest()
	b, _ := o2.m.Digest()
	want(t, "digest after a delete", a, b)
}

func TestObjectUniqueConflict(t *testing.T) {
	o := newObjects(t)
	o.put(user("u1", "a@x", ""))
	r := o.put(user("u2", "a@x", "g"))
	want(t, "conflict", r, Result{Status: StatusConflict, Index: 2, Error: `unique index by_email: key held by "u1"`})
	if _, ok := o.get("user", "u2"); ok {
		t.Fatal("a conflicting put stored its object")
	}
	want(t, "group of the refused", o.lookup("user", "by_group", "g", 10), []string(nil))
	// An update of an existing object that conflicts leaves it as it was.
	o.put(user("u2", "b@x", "g"))
	r = o.put(user("u2", "a@x", ""))
	want(t, "update conflict", r, Result{Status: StatusConflict, Index: 4, Revision: 3, Error: `unique index by_email: key held by "u1"`})
	rec, _ := o.get("user", "u2")
	want(t, "u2 kept", rec.Revision, uint64(3))
	want(t, "u2's email", o.lookup("user", "by_email", "b@x", 10), []string{"u2"})
	want(t, "u2's group", o.lookup("user", "by_group", "g", 10), []string{"u2"})
	// Once u1 lets go of the key, u2 may take it.
	o.put(user("u1", "c@x", ""))
	want(t, "after u1 moved", o.put(user("u2", "a@x", "")).Status, StatusOK)
	want(t, "a@x", o.lookup("user", "by_email", "a@x", 10), []string{"u2"})
	// Other types and other indexes are other key spaces.
	want(t, "other type", o.put(ObjectWrite{Type: "admin", PK: "u9", Indexes: []IndexEntry{{Index: "by_email", Key: "a@x", Unique: true}}}).Status, StatusOK)
	want(t, "other index", o.put(ObjectWrite{Type: "user", PK: "u9", Indexes: []IndexEntry{{Index: "by_login", Key: "a@x", Unique: true}}}).Status, StatusOK)
	// A non-unique entry of another object holds the key too (an index
	// made unique in a later model version).
	o.put(ObjectWrite{Type: "user", PK: "u7", Indexes: []IndexEntry{{Index: "by_name", Key: "n"}}})
	r = o.put(ObjectWrite{Type: "user", PK: "u8", Indexes: []IndexEntry{{Index: "by_name", Key: "n", Unique: true}}})
	want(t, "held by a non-unique entry", r.Error, `unique index by_name: key held by "u7"`)
}

func TestObjectNonUniqueIndex(t *testing.T) {
	o := newObjects(t)
	var all []string
	for i := range 50 {
		pk := fmt.Sprintf("u%02d", 49-i)
		o.put(user(pk, "", "g"))
		all = append([]string{pk}, all...)
	}
	want(t, "all", o.lookup("user", "by_group", "g", 100), all)
	want(t, "first 10", o.lookup("user", "by_group", "g", 10), all[:10])
	if _, err := o.m.LookupIndex("user", "by_group", "g", 0); err == nil {
		t.Fatal("a lookup without a limit")
	}
	// Keys and primary keys with zero bytes stay apart: (key "a", pk
	// "\x00b") and (key "a\x00", pk "b") would meet under a plain
	// concatenation.
	// (A unique entry first: a unique entry conflicts with the others.)
	o.put(ObjectWrite{Type: "t", PK: "c", Indexes: []IndexEntry{{Index: "i", Key: "a\x00", Unique: true}}})
	o.put(ObjectWrite{Type: "t", PK: "\x00b", Indexes: []IndexEntry{{Index: "i", Key: "a"}}})
	o.put(ObjectWrite{Type: "t", PK: "b", Indexes: []IndexEntry{{Index: "i", Key: "a\x00"}}})
	want(t, "key a", o.lookup("t", "i", "a", 10), []string{"\x00b"})
	want(t, "key a\\x00", o.lookup("t", "i", "a\x00", 10), []string{"b", "c"})
	want(t, "key a\\x00 limit 1", o.lookup("t", "i", "a\x00", 1), []string{"b"})
	want(t, "key \"\"", o.lookup("t", "i", "", 10), []string(nil))
	// A unique entry and others under one key: in order all the same.
	o.put(ObjectWrite{Type: "t", PK: "a", Indexes: []IndexEntry{{Index: "i", Key: "a\x00"}}})
	want(t, "mixed, unique last", o.lookup("t", "i", "a\x00", 10), []string{"a", "b", "c"})
	want(t, "mixed, limit 2", o.lookup("t", "i", "a\x00", 2), []string{"a", "b"})
}

func TestObjectHistory(t *testing.T) {
	o := newObjects(t)
	w := user("u1", "a@x", "")
	w.History = 2
	for range 5 {
		o.put(w) // revisions 1..5
	}
	want(t, "history", o.history("user", "u1"), []uint64{3, 4})
	h, _ := o.m.ObjectHistory("user", "u1")
	want(t, "kept record", h[0], ObjectRecord{Type: "user", PK: "u1", Version: 1, Revision: 3, Value: w.Value, Indexes: w.Indexes})
	w.History = 3
	o.put(w) // 6
	want(t, "longer history", o.history("user", "u1"), []uint64{3, 4, 5})
	w.History = 1
	o.put(w) // 7
	want(t, "shorter history", o.history("user", "u1"), []uint64{6})
	// Another object's history, whose key extends this one's, is its own.
	w2 := user("u1\x00", "", "")
	w2.History = 5
	o.put(w2) // 8
	o.put(w2) // 9
	want(t, "other history", o.history("user", "u1\x00"), []uint64{8})
	want(t, "history", o.history("user", "u1"), []uint64{6})
	// A delete keeps the deleted version, and the history outlives it.
	o.del(ObjectWrite{Type: "user", PK: "u1", History: 2}) // 10
	want(t, "after a delete", o.history("user", "u1"), []uint64{6, 7})
	want(t, "re-created", o.put(w).Revision, uint64(11))
	want(t, "after re-creating", o.history("user", "u1"), []uint64{6, 7})
	o.put(w) // 12
	want(t, "after an update", o.history("user", "u1"), []uint64{11})
	// No history wanted: none kept.
	w.History = 0
	o.put(w)
	want(t, "history 0", o.history("user", "u1"), []uint64(nil))
	o.del(ObjectWrite{Type: "user", PK: "u1\x00"})
	want(t, "deleted without history", o.history("user", "u1\x00"), []uint64(nil))
}

func TestObjectConditional(t *testing.T) {
	o := newObjects(t)
	absent := user("u1", "", "")
	absent.IfAbsent = true
	want(t, "put if absent", o.put(absent), Result{Status: StatusOK, Index: 1, Revision: 1})
	want(t, "again", o.put(absent), Result{Status: StatusMismatch, Index: 2, Revision: 1, Error: "object exists at revision 1"})
	at := func(rev uint64) ObjectWrite { w := user("u1", "", ""); w.IfRevision = rev; return w }
	want(t, "put at a wrong revision", o.put(at(7)), Result{Status: StatusMismatch, Index: 3, Revision: 1, Error: "revision 1, expected 7"})
	want(t, "put at the revision", o.put(at(1)), Result{Status: StatusOK, Index: 4, Revision: 4})
	want(t, "delete at a wrong revision", o.del(ObjectWrite{Type: "user", PK: "u1", IfRevision: 1}),
		Result{Status: StatusMismatch, Index: 5, Revision: 4, Error: "revision 4, expected 1"})
	if _, ok := o.get("user", "u1"); !ok {
		t.Fatal("a refused delete deleted")
	}
	want(t, "delete at the revision", o.del(ObjectWrite{Type: "user", PK: "u1", IfRevision: 4}), Result{Status: StatusOK, Index: 6, Revision: 4})
	if _, ok := o.get("user", "u1"); ok {
		t.Fatal("a delete left the object")
	}
	want(t, "delete a missing object", o.del(ObjectWrite{Type: "user", PK: "u1"}), Result{Status: StatusOK, Index: 7})
	want(t, "delete a missing object at a revision", o.del(ObjectWrite{Type: "user", PK: "u1", IfRevision: 4}),
		Result{Status: StatusMismatch, Index: 8, Error: "no object, expected revision 4"})
	want(t, "put a missing object at a revision", o.put(at(4)), Result{Status: StatusMismatch, Index: 9, Error: "no object, expected revision 4"})
}

func TestObjectRewrite(t *testing.T) {
	o := newObjects(t)
	w := user("u1", "a@x", "g")
	w.History = 5
	o.put(w)
	o.put(w) // revision 2, history [1]
	rw := ObjectWrite{Type: "user", PK: "u1", Version: 2, Value: []byte(`{"v":2}`), History: 5, IfRevision: 2, Rewrite: true,
		Indexes: []IndexEntry{{Index: "by_mail", Key: "a@x", Unique: true}}}
	want(t, "rewrite", o.put(rw), Result{Status: StatusOK, Index: 3, Revision: 2})
	rec, _ := o.get("user", "u1")
	want(t, "rewritten", rec, ObjectRecord{Type: "user", PK: "u1", Version: 2, Revision: 2, Value: rw.Value, Indexes: rw.Indexes})
	want(t, "no history of a rewrite", o.history("user", "u1"), []uint64{1})
	want(t, "old index", o.lookup("user", "by_email", "a@x", 10), []string(nil))
	want(t, "new index", o.lookup("user", "by_mail", "a@x", 10), []string{"u1"})
	// A write between the migration's read and its rewrite wins.
	o.put(w) // 4
	want(t, "rewrite after a write", o.put(rw), Result{Status: StatusMismatch, Index: 5, Revision: 4, Error: "revision 4, expected 2"})
	rec, _ = o.get("user", "u1")
	want(t, "kept", rec.Version, 1)
	o.del(ObjectWrite{Type: "user", PK: "u1"})
	rw.IfRevision = 4
	want(t, "rewrite after a delete", o.put(rw).Status, StatusMismatch)
	if _, ok := o.get("user", "u1"); ok {
		t.Fatal("a rewrite brought a deleted object back")
	}
}

func TestObjectRetry(t *testing.T) {
	w, current := openMachine(t)
	m := current()
	apply := func(index uint64, c Command) Result {
		t.Helper()
		r, err := m.Apply(index, c)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	u1, u2 := user("u1", "a@x", ""), user("u2", "a@x", "")
	apply(1, Command{Client: "a", Seq: 1, Op: OpPutObject, Object: &u1})
	conflict := apply(2, Command{Client: "b", Seq: 1, Op: OpPutObject, Object: &u2})
	put := apply(3, Command{Client: "c", Seq: 1, Op: OpPutObject, Object: &ObjectWrite{Type: "t", PK: "p"}})
	want(t, "conflict", conflict.Status, StatusConflict)
	// u1 lets go of the key: b's retry would now succeed, but it is
	// answered as the first time.
	u1b := user("u1", "b@x", "")
	apply(4, Command{Client: "a", Seq: 2, Op: OpPutObject, Object: &u1b})
	want(t, "retried conflict", apply(5, Command{Client: "b", Seq: 1, Op: OpPutObject, Object: &u2}), conflict)
	if _, ok, _ := m.GetObject("user", "u2"); ok {
		t.Fatal("a retry applied")
	}
	// A retried put does not write again: the revision stays.
	want(t, "retried put", apply(6, Command{Client: "c", Seq: 1, Op: OpPutObject, Object: &ObjectWrite{Type: "t", PK: "p"}}), put)
	rec, _, _ := m.GetObject("t", "p")
	want(t, "revision", rec.Revision, uint64(3))
	// The answers survive a restart.
	if err := m.Flush(true); err != nil {
		t.Fatal(err)
	}
	w.Kill("n1")
	w.Restart("n1")
	m = current()
	want(t, "retried conflict after a restart", apply(7, Command{Client: "b", Seq: 1, Op: OpPutObject, Object: &u2}), conflict)
	want(t, "retried put after a restart", apply(8, Command{Client: "c", Seq: 1, Op: OpPutObject, Object: &ObjectWrite{Type: "t", PK: "p"}}), put)
}

// TestObjectSnapshot: a snapshot carries objects, index entries and
// history, and its restore reads and digests the same.
func TestObjectSnapshot(t *testing.T) {
	o, r := newObjectPair(t)
	w := user("u1", "a@x", "g")
	w.History = 3
	o.put(w)
	o.put(w)
	o.put(user("u2", "b@x", "g"))
	o.put(user("u3", "", ""))
	o.del(ObjectWrite{Type: "user", PK: "u3", History: 1})
	o.put(ObjectWrite{Type: "order", PK: "o1", Value: []byte("{}")})
	snap, err := o.m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.m.Restore(snap, 9); err != nil {
		t.Fatal(err)
	}
	a, _ := o.m.Digest()
	b, _ := r.m.Digest()
	want(t, "digest", b, a)
	for _, pk := range []string{"u1", "u2", "u3"} {
		x, okx := o.get("user", pk)
		y, oky := r.get("user", pk)
		want(t, "record "+pk, [2]any{y, oky}, [2]any{x, okx})
		want(t, "history "+pk, r.history("user", pk), o.history("user", pk))
	}
	want(t, "group", r.lookup("user", "by_group", "g", 10), []string{"u1", "u2"})
	want(t, "email", r.lookup("user", "by_email", "b@x", 10), []string{"u2"})
	types, _ := r.m.ObjectTypes()
	want(t, "types", types, []string{"order", "user"})
	// The restored dedup table answers retries as the original would.
	r.index, r.seq = 9, 5
	want(t, "retry after restore", r.put(ObjectWrite{Type: "order", PK: "o1", Value: []byte("{}")}), Result{Status: StatusOK, Index: 6, Revision: 6})
}

// objectSnapshot is a snapshot of one object, one index entry of each
// kind and one kept version.
func objectSnapshot() []byte {
	rec := encodeRecord(&ObjectRecord{Version: 1, Revision: 2, Value: []byte("{}"), Indexes: []IndexEntry{{Index: "i", Key: "k"}}})
	return snapshotOf(
		[3]string{"o", "t\x00p", string(rec)},
		[3]string{"x", "t\x00i\x00k\x00\x01p", ""},
		[3]string{"x", "t\x00u\x00k\x00\x01", "p"},
		[3]string{"h", "t\x00p\x00\x01" + string(binary.BigEndian.AppendUint64(nil, 2)), string(rec)},
	)
}

func snapshotOf(recs ...[3]string) []byte {
	b := binary.AppendUvarint(nil, 5)
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for _, r := range recs {
		b = append(b, r[0][0])
		b = appendString(b, r[1])
		b = appendString(b, r[2])
	}
	return b
}

func TestObjectRestoreRejects(t *testing.T) {
	o := newObjects(t)
	if err := o.m.Restore(objectSnapshot(), 5); err != nil {
		t.Fatalf("the good snapshot: %v", err)
	}
	rec := string(encodeRecord(&ObjectRecord{Version: 1, Revision: 2}))
	rev2 := string(binary.BigEndian.AppendUint64(nil, 2))
	for _, c := range []struct {
		name string
		rec  [3]string
		want string
	}{
		{"unknown tag", [3]string{"Z", "k", ""}, `tag 'Z'`},
		{"applied tag", [3]string{"a", "", "\x00\x00\x00\x00\x00\x00\x00\x01"}, `tag 'a'`},
		{"object without type", [3]string{"o", "tp", rec}, "without its object type"},
		{"object of empty type", [3]string{"o", "\x00p", rec}, "object type is empty"},
		{"object without pk", [3]string{"o", "t\x00", rec}, "primary key is empty"},
		{"object undecodable", [3]string{"o", "t\x00p", "\x01"}, "truncated"},
		{"object trailing", [3]string{"o", "t\x00p", rec + "\x02\x00x"}, "stray bytes"},
		{"object short stamp", [3]string{"o", "t\x00p", rec + "x"}, "truncated"},
		{"tombstone without pk", [3]string{"z", "t\x00", "\x02\x00"}, "primary key is empty"},
		{"tombstone malformed", [3]string{"z", "t\x00p", "\x02"}, "truncated"},
		{"tombstone at time 0", [3]string{"z", "t\x00p", "\x00\x00"}, "malformed stamp"},
		{"object revision 0", [3]string{"o", "t\x00p", string(encodeRecord(&ObjectRecord{Version: 1}))}, "revision 0"},
		{"object bad entry", [3]string{"o", "t\x00p", string(encodeRecord(&ObjectRecord{Revision: 1, Indexes: []IndexEntry{{}}}))}, "index name is empty"},
		{"index without name", [3]string{"x", "t\x00i", ""}, "without its index"},
		{"index bad escape", [3]string{"x", "t\x00i\x00k\x00\x02p", ""}, "malformed key"},
		{"index unended key", [3]string{"x", "t\x00i\x00k", ""}, "malformed key"},
		{"unique entry without pk", [3]string{"x", "t\x00i\x00k\x00\x01", ""}, "primary key is empty"},
		{"entry with a value", [3]string{"x", "t\x00i\x00k\x00\x01p", "p"}, "a value on a non-unique entry"},
		{"history without revision", [3]string{"h", "t\x00p\x00\x01", rec}, "malformed history key"},
		{"history unended pk", [3]string{"h", "t\x00p" + rev2, rec}, "malformed history key"},
		{"history other revision", [3]string{"h", "t\x00p\x00\x01" + string(binary.BigEndian.AppendUint64(nil, 3)), rec}, "revision 2 kept under 3"},
		{"history undecodable", [3]string{"h", "t\x00p\x00\x01" + rev2, ""}, "truncated"},
		{"dedup with an empty object part", [3]string{"d", "c", "\x00\x00\x00\x00\x00\x00\x00\x01" + "\x01\x00\x00\x05\x00\x00"}, "empty object part"},
		{"dedup trailing", [3]string{"d", "c", "\x00\x00\x00\x00\x00\x00\x00\x01" + "\x01\x00\x00\x05\x01\x00\x00"}, "stray bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, _ := o.m.Digest()
			err := o.m.Restore(snapshotOf(c.rec), 9)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("restore: %v, want an error about %q", err, c.want)
			}
			if after, _ := o.m.Digest(); after != before || o.m.Applied() != 5 {
				t.Fatal("a failed restore changed the state")
			}
		})
	}
}
