package kv

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// moveBuckets is the bucket count of the move tests: few, so that every
// bucket holds several keys.
const moveBuckets = 8

// placeByPK places a test object by its primary key, as a type whose
// affinity field is its whole key would.
func placeByPK(_, pk string) (int, bool) { return Bucket(pk, moveBuckets), true }

// keysIn returns n keys of bucket b (of moveBuckets), prefixed p.
func keysIn(p string, b, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		if k := fmt.Sprintf("%s%d", p, i); Bucket(k, moveBuckets) == b {
			out = append(out, k)
		}
	}
	return out
}

type mover struct {
	t     *testing.T
	m     *Machine
	index uint64
}

func (o *mover) apply(c Command) Result {
	o.t.Helper()
	o.index++
	r, err := o.m.Apply(o.index, c)
	if err != nil {
		o.t.Fatalf("applying %s at %d: %v", c.Op, o.index, err)
	}
	return r
}

func (o *mover) step(kind StepKind, move uint64, bucket int, keys []string, objects []ObjectRef) Result {
	o.t.Helper()
	return o.apply(Command{Op: OpBucket, Bucket: &BucketStep{Kind: kind, Move: move, Bucket: bucket, Buckets: moveBuckets, Keys: keys, Objects: objects}})
}

func (o *mover) put(client string, seq uint64, key, value string) Result {
	o.t.Helper()
	return o.apply(Command{Client: client, Seq: seq, Op: OpPut, Key: key, Value: value})
}

func (o *mover) putObject(client string, seq uint64, w ObjectWrite) Result {
	o.t.Helper()
	return o.apply(Command{Client: client, Seq: seq, Op: OpPutObject, Key: w.PK, Object: &w})
}

func (o *mover) delObject(client string, seq uint64, typ, pk string) Result {
	o.t.Helper()
	return o.apply(Command{Client: client, Seq: seq, Op: OpDeleteObject, Key: pk, Object: &ObjectWrite{Type: typ, PK: pk, History: 2}})
}

// items reads every item of bucket b, page by page, as a destination
// would.
func (o *mover) items(b int) []Item {
	o.t.Helper()
	var all []Item
	var cur BucketCursor
	for pages := 0; ; pages++ {
		page, next, done, err := o.m.BucketItems(b, moveBuckets, cur, 2, 3, placeByPK)
		if err != nil {
			o.t.Fatal(err)
		}
		all = append(all, page...)
		if done {
			return all
		}
		if pages > 1000 {
			o.t.Fatal("BucketItems never ends")
		}
		cur = next
	}
}

// changes reads the change log from cur to its end.
func (o *mover) changes(cur ChangeCursor) ([]Item, ChangeCursor) {
	o.t.Helper()
	var all []Item
	for {
		page, next, done, err := o.m.BucketChanges(cur, 2, 3, placeByPK)
		if err != nil {
			o.t.Fatal(err)
		}
		all = append(all, page...)
		cur = next
		if done {
			return all, cur
		}
	}
}

func (o *mover) importItems(move uint64, b int, items []Item, dedup []DedupEntry) Result {
	o.t.Helper()
	return o.apply(Command{Op: OpImport, Import: &Import{Move: move, Bucket: b, Buckets: moveBuckets, Items: items, Dedup: dedup}})
}

// state is what a machine holds of bucket b: its keys' values and its
// objects as ObjectStates, with the primary keys of each index key.
func (o *mover) state(b int) map[string]any {
	o.t.Helper()
	out := map[string]any{}
	for _, it := range o.items(b) {
		if it.Object == nil {
			out["k/"+it.Key] = it.Value
			continue
		}
		out["o/"+it.Object.PK] = *it.Object
		if it.Object.Record == nil {
			continue
		}
		for _, e := range it.Object.Record.Indexes {
			out["x/"+e.Index+"/"+e.Key] = fmt.Sprint(o.lookup(e.Index, e.Key))
		}
	}
	return out
}

func (o *mover) lookup(index, key string) []string {
	o.t.Helper()
	pks, err := o.m.LookupIndex("user", index, key, 10)
	if err != nil {
		o.t.Fatal(err)
	}
	return pks
}

func newMovers(t *testing.T) (*mover, *mover) {
	a, b := newObjectPair(t)
	return &mover{t: t, m: a.m}, &mover{t: t, m: b.m}
}

// A bucket moves whole while its writes go on: the destination copies
// it, catches up through the change log, the source freezes it, and
// after the last changes and the dedup entries the destination holds
// exactly what the source held, a write retried across the move applies
// once, and the source refuses the bucket until it comes back.
func TestBucketMove(t *testing.T) {
	src, dst := newMovers(t)
	const b = 3
	keys, others := keysIn("k", b, 6), keysIn("k", b+1, 2)
	pks := keysIn("u", b, 4)
	for i, k := range append(slices.Clone(keys), others...) {
		src.put("w", uint64(i+1), k, "v1-"+k)
	}
	for i, pk := range pks {
		src.putObject("w", uint64(100+i), user(pk, pk+"@x", "g"))
		src.putObject("w", uint64(200+i), user(pk, pk+"@y", "g")) // a kept version
	}
	dst.put("d", 1, others[0], "the destination's own")
	// Deleted before the move: a tombstone (a stamped delete), and kept
	// versions without a record.
	gone := keysIn("g", b, 2)
	stamped := user(gone[0], "", "")
	stamped.At, stamped.Origin, stamped.History = 10, "dc1", 1
	src.putObject("w", 400, stamped)
	stamped.At = 20
	src.apply(Command{Client: "w", Seq: 401, Op: OpDeleteObject, Key: gone[0], Object: &ObjectWrite{Type: "user", PK: gone[0], At: 30, Origin: "dc1", History: 1}})
	src.putObject("w", 402, user(gone[1], "", ""))
	src.delObject("w", 403, "user", gone[1])

	if r := src.step(StepSend, 7, b, nil, nil); r.Status != StatusOK {
		t.Fatalf("send: %+v", r)
	}
	s, ok := src.m.Sending()
	want(t, "sending", s, Sending{Move: 7, Bucket: b, Buckets: moveBuckets, Since: src.index})
	want(t, "sending ok", ok, true)
	src.step(StepSend, 7, b, nil, nil) // again: changes nothing
	if s2, _ := src.m.Sending(); s2 != s {
		t.Fatalf("a second send moved the start: %+v", s2)
	}

	// The copy, with writes between its pages' reads.
	copied := src.items(b)
	src.put("w", 300, keys[0], "v2")                                      // changed
	src.apply(Command{Client: "w", Seq: 301, Op: OpDelete, Key: keys[1]}) // deleted
	src.put("w", 302, "k-new-"+keys[2], "x")                              // another bucket, probably
	src.put("w", 303, keysIn("n", b, 1)[0], "new")                        // added
	src.delObject("w", 304, "user", pks[0])
	src.putObject("w", 305, user(pks[1], pks[1]+"@z", "h"))
	src.putObject("w", 306, user(keysIn("u", b+1, 1)[0], "other@x", "")) // another bucket: not logged
	if r := dst.importItems(7, b, copied, nil); r.Status != StatusOK || r.Error != "" {
		t.Fatalf("import: %+v", r)
	}
	changes, cur := src.changes(ChangeCursor{Index: s.Since})
	for _, it := range changes {
		if it.Object != nil && Bucket(it.Object.PK, moveBuckets) != b || it.Object == nil && Bucket(it.Key, moveBuckets) != b {
			t.Errorf("a change of another bucket: %+v", it)
		}
	}
	dst.importItems(7, b, changes, nil)

	// A client's write applied before the freeze, retried after it and at
	// the destination: one write.
	orig := src.put("q", 1, keys[3], "once")
	if r := src.step(StepFreeze, 7, b, nil, nil); r.Status != StatusOK || r.Revision != src.index {
		t.Fatalf("freeze: %+v at %d", r, src.index)
	}
	frozenAt := src.index
	if r := src.put("q", 1, keys[3], "once"); r != orig {
		t.Fatalf("a retry of a write applied before the freeze: %+v", r)
	}
	if r := src.put("r", 2, keys[4], "refused"); r.Status != StatusRedirect {
		t.Fatalf("a write to the frozen bucket: %+v", r)
	}
	if r := src.putObject("p", 1, user(pks[2], "", "")); r.Status != StatusRedirect {
		t.Fatalf("an object write to the frozen bucket: %+v", r)
	}
	if r := src.put("o", 1, others[1], "elsewhere"); r.Status != StatusOK {
		t.Fatalf("a write to another bucket: %+v", r)
	}
	if r := src.step(StepFreeze, 7, b, nil, nil); r.Revision != frozenAt {
		t.Fatalf("a second freeze moved the freeze: %+v", r)
	}
	if r := src.step(StepFreeze, 8, b, nil, nil); r.Status != StatusNotFound {
		t.Fatalf("a freeze of another move: %+v", r)
	}
	last, _ := src.changes(cur)
	dst.importItems(7, b, last, src.m.Dedup("", 2))
	dst.importItems(7, b, nil, src.m.Dedup(src.m.Dedup("", 2)[1].Client, 100))

	want(t, "the destination's copy", dst.state(b), src.state(b))
	for _, pk := range gone {
		st, err := dst.m.objectState("user", pk)
		if err != nil || st.Record != nil || len(st.History) != 1 {
			t.Fatalf("deleted %s at the destination: %+v, %v", pk, st, err)
		}
	}
	if st, _ := dst.m.objectState("user", gone[0]); st.Tombstone != (Stamp{Time: 30, Origin: "dc1"}) {
		t.Fatalf("the tombstone at the destination: %+v", st.Tombstone)
	}
	if got, _ := get(dst.m.reader(), dst.m.key(tagKey, others[0])); got != Some("the destination's own") {
		t.Fatalf("the destination's key of another bucket: %v", got)
	}
	if r := dst.put("q", 1, keys[3], "once"); r != orig {
		t.Fatalf("the retry at the destination: %+v, want the source's answer %+v", r, orig)
	}
	if r := dst.put("r", 2, keys[4], "now"); r.Status != StatusOK || r.Index != dst.index {
		t.Fatalf("the refused write at the destination: %+v", r)
	}
	// Revisions only go up at the destination, whose log is behind.
	rec, _, _ := dst.m.GetObject("user", pks[1])
	r := dst.putObject("r", 5, user(pks[1], "", ""))
	if r.Revision <= rec.Revision {
		t.Fatalf("a write at the destination went from revision %d to %d", rec.Revision, r.Revision)
	}

	// The source drops the bucket and refuses it from then on.
	var refs []ObjectRef
	var plain []string
	for _, it := range src.items(b) {
		if it.Object != nil {
			refs = append(refs, ObjectRef{it.Object.Type, it.Object.PK})
		} else {
			plain = append(plain, it.Key)
		}
	}
	src.step(StepDrop, 7, b, plain, refs)
	if left := src.items(b); len(left) != 0 {
		t.Fatalf("the source kept %d items of the dropped bucket: %+v", len(left), left)
	}
	if _, ok := src.m.Sending(); ok || !src.m.Away(b) {
		t.Fatalf("after the drop: sending %v, away %v", ok, src.m.Away(b))
	}
	if n := len(src.lookup("by_email", pks[1]+"@z")); n != 0 {
		t.Fatalf("a dropped object's index entry stayed")
	}
	if r := src.put("z", 1, keys[5], "late"); r.Status != StatusRedirect {
		t.Fatalf("a write to a bucket given away: %+v", r)
	}
	if _, ok := src.m.dedup["z"]; ok {
		t.Fatal("a refused write was remembered")
	}
	// It comes back by an import.
	src.importItems(9, b, dst.items(b), nil)
	if src.m.Away(b) {
		t.Fatal("a bucket brought back is still refused")
	}
	if r := src.put("z", 1, keys[5], "back"); r.Status != StatusOK {
		t.Fatalf("a write to a bucket brought back: %+v", r)
	}
}

// An aborted move resumes the bucket's writes and forgets its change log.
func TestBucketMoveResume(t *testing.T) {
	src, _ := newMovers(t)
	const b = 5
	k := keysIn("k", b, 1)[0]
	src.step(StepSend, 1, b, nil, nil)
	src.put("c", 1, k, "a")
	src.step(StepFreeze, 1, b, nil, nil)
	if r := src.put("c", 2, k, "b"); r.Status != StatusRedirect {
		t.Fatalf("frozen: %+v", r)
	}
	src.step(StepResume, 2, b, nil, nil) // another move's: nothing
	if _, ok := src.m.Sending(); !ok {
		t.Fatal("a resume of another move ended this one")
	}
	src.step(StepResume, 1, b, nil, nil)
	if r := src.put("c", 2, k, "b"); r.Status != StatusOK {
		t.Fatalf("resumed: %+v", r)
	}
	if items, _, done, err := src.m.BucketChanges(ChangeCursor{}, 10, 10, placeByPK); len(items) != 0 || !done || err != nil {
		t.Fatalf("the change log after a resume: %v %v %v", items, done, err)
	}
	// A new send starts a new change log.
	src.step(StepSend, 3, b, nil, nil)
	src.put("c", 3, k, "c")
	items, _, _, _ := src.m.BucketChanges(ChangeCursor{}, 10, 10, placeByPK)
	want(t, "the new move's changes", items, []Item{{Key: k, Value: Some("c")}})
}

// The move's state survives a snapshot and a restart.
func TestBucketMoveSnapshot(t *testing.T) {
	src, other := newMovers(t)
	src.step(StepDrop, 1, 2, nil, nil)
	src.step(StepSend, 2, 4, nil, nil)
	src.put("c", 1, keysIn("k", 4, 1)[0], "v")
	src.step(StepFreeze, 2, 4, nil, nil)
	if err := src.m.Flush(true); err != nil {
		t.Fatal(err)
	}
	snap, err := src.m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.m.Restore(snap, src.index); err != nil {
		t.Fatal(err)
	}
	s1, _ := src.m.Sending()
	s2, ok := other.m.Sending()
	if !ok || s1 != s2 || !other.m.Away(2) || other.m.Away(4) {
		t.Fatalf("restored: %+v %v, away %v %v; want %+v", s2, ok, other.m.Away(2), other.m.Away(4), s1)
	}
	c1, _, _, _ := src.m.BucketChanges(ChangeCursor{}, 10, 10, placeByPK)
	c2, _, _, _ := other.m.BucketChanges(ChangeCursor{}, 10, 10, placeByPK)
	want(t, "restored changes", c2, c1)
	d1, _ := src.m.Digest()
	d2, _ := other.m.Digest()
	if d1 != d2 {
		t.Fatal("the restored state differs")
	}
}

// A dedup entry merges only if it is later than the client's own here.
func TestImportDedupMerge(t *testing.T) {
	_, dst := newMovers(t)
	dst.put("a", 5, "x", "1")
	dst.importItems(1, 0, nil, []DedupEntry{
		{Client: "a", Seq: 4, Result: Result{Status: StatusOK, Index: 99}},
		{Client: "b", Seq: 2, Result: Result{Status: StatusMismatch, Value: Some("q"), Index: 98}},
	})
	if got := dst.m.dedup["a"].seq; got != 5 {
		t.Fatalf("client a's entry went back to seq %d", got)
	}
	if r := dst.apply(Command{Client: "b", Seq: 2, Op: OpCAS, Key: "x", Value: "z", Expected: Some("1")}); r.Status != StatusMismatch || r.Index != 98 {
		t.Fatalf("client b's retry: %+v, want the merged answer", r)
	}
}

func moveCommands() []Command {
	rec := ObjectRecord{Type: "user", PK: "u1", Version: 1, Revision: 9, Value: []byte(`{}`), Indexes: []IndexEntry{{Index: "by_email", Key: "e", Unique: true}}}
	old := rec
	old.Revision = 4
	return []Command{
		{Op: OpBucket, Bucket: &BucketStep{Kind: StepSend, Move: 3, Bucket: 7, Buckets: 256}},
		{Op: OpBucket, Bucket: &BucketStep{Kind: StepFreeze, Move: 3, Bucket: 0, Buckets: 1}},
		{Op: OpBucket, Bucket: &BucketStep{Kind: StepDrop, Move: 3, Bucket: Bucket("a", 256), Buckets: 256, Keys: []string{"a"}, Objects: []ObjectRef{{"user", "u1"}}}},
		{Op: OpImport, Import: &Import{Move: 3, Bucket: Bucket("a", 2), Buckets: 2, Items: []Item{
			{Key: "a", Value: Some("v")}, {Key: "c"},
			{Object: &ObjectState{Type: "user", PK: "u1", Record: &rec, History: []ObjectRecord{old}, Tombstone: Stamp{Time: 5, Origin: "dc1"}}},
			{Object: &ObjectState{Type: "user", PK: "u2"}},
		}, Dedup: []DedupEntry{{Client: "c", Seq: 2, Result: Result{Status: StatusOK, Index: 3, Revision: 9}}}}},
	}
}

func TestMoveCommandEncoding(t *testing.T) {
	for _, c := range moveCommands() {
		got, err := DecodeCommand(c.Encode())
		if err != nil || !got.Equal(c) || !reflect.DeepEqual(got, c) {
			t.Errorf("round trip of %s: %+v, %v", c.Op, got, err)
		}
	}
	for name, c := range map[string]Command{
		"bucket past the count":           {Op: OpBucket, Bucket: &BucketStep{Kind: StepSend, Bucket: 2, Buckets: 2}},
		"unknown step":                    {Op: OpBucket, Bucket: &BucketStep{Kind: 9, Buckets: 2}},
		"send listing keys":               {Op: OpBucket, Bucket: &BucketStep{Kind: StepSend, Buckets: 2, Keys: []string{"a"}}},
		"a key of another bucket":         {Op: OpImport, Import: &Import{Bucket: 1 - Bucket("a", 2), Buckets: 2, Items: []Item{{Key: "a"}}}},
		"a dropped key of another bucket": {Op: OpBucket, Bucket: &BucketStep{Kind: StepDrop, Bucket: 1 - Bucket("a", 2), Buckets: 2, Keys: []string{"a"}}},
		"object without a type":           {Op: OpImport, Import: &Import{Buckets: 2, Items: []Item{{Object: &ObjectState{PK: "p"}}}}},
		"history out of order": {Op: OpImport, Import: &Import{Buckets: 2, Items: []Item{{Object: &ObjectState{Type: "t", PK: "p",
			History: []ObjectRecord{{Revision: 5, Version: 1}, {Revision: 4, Version: 1}}}}}}},
	} {
		if _, err := DecodeCommand(c.Encode()); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// An imported object takes its unique keys from the object here that
// holds them (the source held them unique), and says so.
func TestImportTakesUniqueKeys(t *testing.T) {
	src, dst := newMovers(t)
	const b = 1
	pk, other := keysIn("u", b, 1)[0], keysIn("u", b+1, 1)[0]
	src.putObject("c", 1, user(pk, "taken@x", "g"))
	dst.putObject("c", 1, user(other, "taken@x", ""))
	r := dst.importItems(1, b, src.items(b), nil)
	if r.Status != StatusOK || r.Error != "1 unique index keys taken from other objects here" {
		t.Fatalf("import: %+v", r)
	}
	want(t, "the unique key's holder", dst.lookup("by_email", "taken@x"), []string{pk})
	want(t, "the other entry", dst.lookup("by_group", "g"), []string{pk})
	// The object it was taken from keeps its record, and cannot take the
	// key back by a write.
	if r := dst.putObject("c", 2, user(other, "taken@x", "")); r.Status != StatusConflict {
		t.Fatalf("the former holder's write: %+v", r)
	}
}

// Two objects of the moving bucket swap a unique key while it moves: the
// change log names the one that takes it first, yet the destination ends
// with the key where the source has it, in one page or several.
func TestImportUniqueSwap(t *testing.T) {
	for _, limit := range []int{1, 2, 100} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			src, dst := newMovers(t)
			const b = 2
			pks := keysIn("u", b, 2)
			x, y := pks[0], pks[1]
			src.putObject("c", 1, user(x, "", ""))
			src.putObject("c", 2, user(y, "e@x", ""))
			src.step(StepSend, 1, b, nil, nil)
			dst.importItems(1, b, src.items(b), nil)
			src.putObject("c", 3, user(x, "x@x", "")) // X is named first in the change log
			src.putObject("c", 4, user(y, "", ""))    // Y gives e@x up
			src.putObject("c", 5, user(x, "e@x", "")) // and X takes it
			cur := ChangeCursor{Index: 1}
			for {
				page, next, done, err := src.m.BucketChanges(cur, limit, limit+1, placeByPK)
				if err != nil {
					t.Fatal(err)
				}
				dst.importItems(1, b, page, nil)
				if cur = next; done {
					break
				}
			}
			want(t, "e@x at the destination", dst.lookup("by_email", "e@x"), []string{x})
			want(t, "the copy", dst.state(b), src.state(b))
		})
	}
}

// An object whose deletion, with its kept versions, was imported from a
// replicaset further on gets revisions above them when it is put again.
func TestRevisionsAfterImportedDeletion(t *testing.T) {
	src, dst := newMovers(t)
	const b = 3
	pk := keysIn("u", b, 1)[0]
	for i := range 50 {
		src.put("filler", uint64(i+1), "f", "x")
	}
	w := user(pk, "", "")
	w.History = 3
	src.putObject("c", 1, w)
	src.putObject("c", 2, w)
	src.apply(Command{Client: "c", Seq: 3, Op: OpDeleteObject, Key: pk, Object: &ObjectWrite{Type: "user", PK: pk, History: 3}})
	kept := src.items(b)
	if len(kept) != 1 || kept[0].Object == nil || len(kept[0].Object.History) != 2 {
		t.Fatalf("the deleted object's items: %+v", kept)
	}
	dst.importItems(1, b, kept, nil)
	r1 := dst.putObject("c", 10, w)
	r2 := dst.putObject("c", 11, w)
	top := kept[0].Object.History[1].Revision
	if r1.Revision <= top || r2.Revision <= r1.Revision {
		t.Fatalf("revisions %d then %d after kept versions up to %d", r1.Revision, r2.Revision, top)
	}
	want(t, "kept versions", len(dst.m.mustHistory(t, pk)), 3)
}

// A source does not send a second bucket while the first is frozen: the
// first would thaw before its drop.
func TestSendRefusedWhileFrozen(t *testing.T) {
	src, _ := newMovers(t)
	k := keysIn("k", 7, 1)[0]
	src.step(StepSend, 1, 7, nil, nil)
	src.step(StepFreeze, 1, 7, nil, nil)
	if r := src.step(StepSend, 2, 6, nil, nil); r.Status != StatusMismatch {
		t.Fatalf("a second send while frozen: %+v", r)
	}
	if r := src.put("c", 1, k, "late"); r.Status != StatusRedirect {
		t.Fatalf("a write to the frozen bucket after a refused send: %+v", r)
	}
	src.step(StepDrop, 1, 7, nil, nil)
	if r := src.step(StepSend, 2, 6, nil, nil); r.Status != StatusOK {
		t.Fatalf("a send after the drop: %+v", r)
	}
	if r := src.put("c", 2, k, "late"); r.Status != StatusRedirect {
		t.Fatalf("a write to the dropped bucket: %+v", r)
	}
}

// Steps and imports are fenced by move: a step of a move older than one
// a step here was of, from a leader whose configuration is behind, and
// an import or a send of a move sealed here (the copy is whole, or
// dropped) are refused and change nothing; a seal brings a bucket back
// that no import brought. The fences survive a restart.
func TestMoveFences(t *testing.T) {
	src, dst := newMovers(t)
	k := keysIn("k", 7, 1)[0]
	src.put("c", 1, k, "v1")
	src.step(StepSend, 3, 7, nil, nil)
	items := src.items(7)
	// Move 3 is aborted; dst drops its partial copy.
	dst.importItems(3, 7, items, nil)
	dst.step(StepDrop, 3, 7, []string{k}, nil)
	if dst.m.Sealed(7, 3) {
		t.Fatal("a dropped copy passes for a whole one")
	}
	if dropped, superseded := dst.m.DroppedMove(7, 3); !dropped || superseded {
		t.Fatalf("after its drop, move 3's leftover: dropped %v, superseded %v", dropped, superseded)
	}
	if r := dst.importItems(3, 7, items, nil); r.Status != StatusMismatch || !strings.Contains(r.Error, "sealed") {
		t.Fatalf("a late import of a dropped move: %+v", r)
	}
	if got := dst.state(7); len(got) != 0 {
		t.Fatalf("the late import changed the dropped copy: %v", got)
	}
	src.step(StepResume, 3, 7, nil, nil)
	// Move 7 brings the bucket to dst for good.
	src.step(StepSend, 7, 7, nil, nil)
	dst.importItems(7, 7, src.items(7), nil)
	src.step(StepFreeze, 7, 7, nil, nil)
	if dst.m.Sealed(7, 7) {
		t.Fatal("sealed before the seal")
	}
	if r := dst.step(StepSeal, 7, 7, nil, nil); r.Status != StatusOK || dst.m.Away(7) || !dst.m.Sealed(7, 7) {
		t.Fatalf("the seal: %+v, away %v, sealed %v", r, dst.m.Away(7), dst.m.Sealed(7, 7))
	}
	if dropped, superseded := dst.m.DroppedMove(7, 3); dropped || !superseded {
		t.Fatalf("after move 7, move 3's leftover: dropped %v, superseded %v", dropped, superseded)
	}
	dst.put("d", 1, k, "v2") // the new owner takes a write
	for what, r := range map[string]Result{
		"an import of the sealed move":    dst.importItems(7, 7, items, nil),
		"a drop of the older move":        dst.step(StepDrop, 3, 7, []string{k}, nil),
		"an import of the older move":     dst.importItems(3, 7, items, nil),
		"a send of the sealed move":       dst.step(StepSend, 7, 7, nil, nil),
		"a freeze of the older move here": dst.step(StepFreeze, 3, 7, nil, nil),
	} {
		if r.Status != StatusMismatch {
			t.Errorf("%s: %+v, want refused", what, r)
		}
	}
	if v, _ := dst.m.Get(k); v.S != "v2" {
		t.Fatalf("after the refused steps %s holds %q, want v2", k, v.S)
	}
	// A seal brings back a bucket that came empty.
	dst.step(StepDrop, 8, 5, nil, nil)
	if !dst.m.Away(5) {
		t.Fatal("a drop did not send the bucket away")
	}
	dst.step(StepSeal, 9, 5, nil, nil)
	if dst.m.Away(5) {
		t.Fatal("a seal did not bring the bucket back")
	}
	if err := dst.m.Flush(true); err != nil {
		t.Fatal(err)
	}
	again, err := Open(dst.m.st, dst.m.group)
	if err != nil {
		t.Fatal(err)
	}
	dst.m = again
	if r := dst.importItems(7, 7, items, nil); r.Status != StatusMismatch {
		t.Fatalf("after a restart, an import of the sealed move: %+v", r)
	}
}

func (m *Machine) mustHistory(t *testing.T, pk string) []ObjectRecord {
	t.Helper()
	h, err := m.ObjectHistory("user", pk)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
