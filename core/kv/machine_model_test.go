package kv

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/store"
	"github.com/shoaldb/shoal/simnet"
	"pgregory.net/rapid"
)

// model is what a Machine should hold: the keys, the objects (by type,
// 0x00 and primary key) and their kept versions (oldest first), each
// client's last sequence number and answer, and the applied index. floor
// is the index of the last entry that wrote something (a command that
// changed the state, a skipped entry, a restored snapshot): see
// TestPropMachineModel. Records are never changed in place, so clones
// share them.
type model struct {
	keys    map[string]string
	objects map[string]ObjectRecord
	history map[string][]ObjectRecord
	dedup   map[string]answer
	applied uint64
	floor   uint64
}

func newModel() model {
	return model{keys: map[string]string{}, objects: map[string]ObjectRecord{}, history: map[string][]ObjectRecord{}, dedup: map[string]answer{}}
}

func (m model) clone() model {
	h := make(map[string][]ObjectRecord, len(m.history))
	for k, v := range m.history {
		h[k] = slices.Clone(v)
	}
	return model{keys: maps.Clone(m.keys), objects: maps.Clone(m.objects), history: h, dedup: maps.Clone(m.dedup), applied: m.applied, floor: m.floor}
}

// apply is Machine.Apply, written for a map: each (client, sequence)
// applied at most once, a retry answered as the first time, an older
// request answered ok and ignored; a migration's rewrite bypasses the
// table.
func (m *model) apply(index uint64, c Command) Result {
	m.applied = index
	rewrite := c.Object != nil && c.Object.Rewrite
	if prev, seen := m.dedup[c.Client]; seen && c.Seq <= prev.seq && !rewrite {
		if c.Seq < prev.seq {
			return Result{Status: StatusOK, Index: index}
		}
		return prev.result
	}
	m.floor = index
	res := Result{Status: StatusOK, Index: index}
	switch c.Op {
	case OpPut:
		m.keys[c.Key] = c.Value
	case OpDelete:
		delete(m.keys, c.Key)
	case OpCAS:
		v, ok := m.keys[c.Key]
		if ok {
			res.Value = Some(v)
		}
		if res.Value != c.Expected {
			res.Status = StatusMismatch
		} else {
			m.keys[c.Key] = c.Value
		}
	case OpPutObject, OpDeleteObject:
		res = m.applyObject(index, c.Op, c.Object)
	}
	if rewrite {
		return res
	}
	m.dedup[c.Client] = answer{seq: c.Seq, result: res}
	return res
}

// applyObject is Machine.applyObject, written for maps.
func (m *model) applyObject(index uint64, op Op, w *ObjectWrite) Result {
	k := w.Type + "\x00" + w.PK
	old, exists := m.objects[k]
	res := Result{Status: StatusOK, Index: index, Revision: old.Revision}
	switch {
	case w.IfAbsent && exists:
		res.Status, res.Error = StatusMismatch, fmt.Sprintf("object exists at revision %d", old.Revision)
	case w.IfRevision != 0 && !exists:
		res.Status, res.Error = StatusMismatch, fmt.Sprintf("no object, expected revision %d", w.IfRevision)
	case w.IfRevision != 0 && old.Revision != w.IfRevision:
		res.Status, res.Error = StatusMismatch, fmt.Sprintf("revision %d, expected %d", old.Revision, w.IfRevision)
	}
	if res.Status != StatusOK {
		return res
	}
	if op == OpDeleteObject {
		if exists {
			delete(m.objects, k)
			m.keep(k, old, w.History)
		}
		return res
	}
	for _, e := range w.Indexes {
		if !e.Unique {
			continue
		}
		if h := m.holder(w.Type, e, w.PK); h != "" {
			res.Status, res.Error = StatusConflict, fmt.Sprintf("unique index %s: key held by %q", e.Index, h)
			return res
		}
	}
	rec := ObjectRecord{Type: w.Type, PK: w.PK, Version: w.Version, Revision: index, Value: w.Value, Indexes: w.Indexes}
	switch {
	case exists && w.Rewrite:
		rec.Revision = old.Revision
	case exists:
		m.keep(k, old, w.History)
	}
	m.objects[k] = rec
	res.Revision = rec.Revision
	return res
}

// holder is the object other than pk with an entry under e's index and
// key: the one whose entry is unique, else the first in key order.
func (m *model) holder(typ string, e IndexEntry, pk string) string {
	var held []string
	for _, r := range m.objects {
		if r.Type != typ || r.PK == pk {
			continue
		}
		for _, x := range r.Indexes {
			if x.Index == e.Index && x.Key == e.Key {
				if x.Unique {
					return r.PK
				}
				held = append(held, r.PK)
			}
		}
	}
	if len(held) == 0 {
		return ""
	}
	return slices.Min(held)
}

func (m *model) keep(k string, old ObjectRecord, n int) {
	h := m.history[k]
	if n > 0 {
		h = append(h, old)
	}
	if h = h[max(0, len(h)-n):]; len(h) == 0 {
		delete(m.history, k)
	} else {
		m.history[k] = h
	}
}

// lookup is Machine.LookupIndex, written for maps.
func (m *model) lookup(typ, index, key string) []string {
	var pks []string
	for _, r := range m.objects {
		if r.Type == typ && slices.ContainsFunc(r.Indexes, func(e IndexEntry) bool { return e.Index == index && e.Key == key }) {
			pks = append(pks, r.PK)
		}
	}
	slices.Sort(pks)
	return pks
}

// The keys, clients and values commands draw from. The large value (30
// KB) outgrows the machine's batch budget, so that a flush without sync
// commits, and four of them the store's, which then flushes pebble's
// memtable and so makes everything committed durable: a crash may then
// come back to a flush that was not synced.
var (
	modelKeys    = []string{"x", "y", "z"}
	modelClients = []string{"a", "b", "c"}
	modelValues  = []string{"1", "2", "3", strings.Repeat("large", 6000)}
	// Objects: two types, one a prefix of the other, and primary and
	// index keys with zero bytes, which the keys' encoding must keep
	// apart.
	modelTypes      = []string{"u", "us"}
	modelPKs        = []string{"p", "p\x00", "q"}
	modelEmails     = []string{"e", "e\x00"} // by_email, unique
	modelGroups     = []string{"g", "h"}     // by_group
	modelJSON       = []string{`{}`, `{"a":1}`, `{"big":"` + strings.Repeat("x", 20000) + `"}`}
	modelIndexNames = []string{"by_email", "by_group"}
)

// machineWorld is one instance whose store holds two groups' machines:
// the one under test and one that snapshots are restored into.
type machineWorld struct {
	w          *simnet.World
	m, replica *Machine
}

func newMachineWorld(t *rapid.T) *machineWorld {
	w, err := simnet.New(simnet.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	mw := &machineWorld{w: w}
	err = w.AddNode("n1", func(e env.Env) (env.Node, error) {
		st, err := store.Open(e, "data")
		if err != nil {
			return nil, err
		}
		if mw.m, err = Open(st, 1); err != nil {
			return nil, err
		}
		mw.replica, err = Open(st, 2)
		return holder{e}, err
	})
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	return mw
}

// same fails unless m holds what the model says.
func same(t *rapid.T, what string, m *Machine, want model) {
	t.Helper()
	if m.Applied() != want.applied {
		t.Fatalf("%s: applied %d, want %d", what, m.Applied(), want.applied)
	}
	for _, k := range modelKeys {
		got, err := m.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := want.keys[k]
		if exp := (Value{S: v, Present: ok}); got != exp {
			t.Fatalf("%s: %s = %v, want %v", what, k, got, exp)
		}
	}
	if !maps.Equal(m.dedup, want.dedup) {
		t.Fatalf("%s: answers %v, want %v", what, m.dedup, want.dedup)
	}
	sameObjects(t, what, m, want)
}

// sameObjects fails unless m's objects, index entries, history and types
// are the model's.
func sameObjects(t *rapid.T, what string, m *Machine, want model) {
	t.Helper()
	var types []string
	for _, typ := range modelTypes {
		var recs []ObjectRecord
		for _, pk := range modelPKs {
			r, ok := want.objects[typ+"\x00"+pk]
			got, found, err := m.GetObject(typ, pk)
			if err != nil {
				t.Fatal(err)
			}
			if found != ok || !got.Equal(&r) {
				t.Fatalf("%s: object %s %q: %+v (%v), want %+v (%v)", what, typ, pk, got, found, r, ok)
			}
			if ok {
				recs = append(recs, r)
			}
			h, err := m.ObjectHistory(typ, pk)
			if err != nil {
				t.Fatal(err)
			}
			exp := want.history[typ+"\x00"+pk]
			if !slices.EqualFunc(h, exp, func(a, b ObjectRecord) bool { return a.Equal(&b) }) {
				t.Fatalf("%s: history of %s %q: %v, want %v", what, typ, pk, revisions(h), revisions(exp))
			}
		}
		slices.SortFunc(recs, func(a, b ObjectRecord) int { return strings.Compare(a.PK, b.PK) })
		got, err := m.ScanObjects(typ, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, recs, func(a, b ObjectRecord) bool { return a.Equal(&b) }) {
			t.Fatalf("%s: scan of %s: %+v, want %+v", what, typ, got, recs)
		}
		if len(recs) > 0 {
			types = append(types, typ)
		}
		for _, index := range modelIndexNames {
			for _, key := range slices.Concat(modelEmails, modelGroups) {
				got, err := m.LookupIndex(typ, index, key, 100)
				if err != nil {
					t.Fatal(err)
				}
				if exp := want.lookup(typ, index, key); !slices.Equal(got, exp) {
					t.Fatalf("%s: %s %s %q: %q, want %q", what, typ, index, key, got, exp)
				}
			}
		}
	}
	got, err := m.ObjectTypes()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, types) {
		t.Fatalf("%s: types %q, want %q", what, got, types)
	}
}

func revisions(recs []ObjectRecord) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.Revision)
	}
	return out
}

// TestPropMachineModel runs random commands (retries and stale requests
// among them), skipped entries, flushes with and without sync, crashes,
// and snapshots restored into another group and into the machine itself,
// against the model. After a crash the machine holds the state of its
// last synced flush or of a later flush (a flush that committed may have
// been made durable by the store's own flush), never a state between two
// flushes: the applied index travels with the data.
//
// One allowance: the applied index found after a crash may trail the
// flush's by entries that changed nothing (retries answered from the
// dedup table, requests older than their client's last). Apply opens no
// batch for them, so a Flush(true) with nothing else pending syncs
// without writing their index. The engine re-applies them from its log,
// or, when the log was compacted past them, restores its snapshot
// (node.addGroup); the state is the same either way.
func TestPropMachineModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mw := newMachineWorld(t)
		defer mw.w.Close()
		want := newModel()
		durable := want.clone()
		var flushed []model // states flushed without sync since the last sync
		seqs := map[string]uint64{}
		clientSeq := func(t *rapid.T) (string, uint64) {
			client := rapid.SampledFrom(modelClients).Draw(t, "client")
			seq := seqs[client] + 1
			switch rapid.IntRange(0, 3).Draw(t, "seq") {
			case 0:
				seq = max(seqs[client], 1) // a retry
			case 1:
				seq = max(seqs[client], 2) - 1 // a request overtaken by a later one
			}
			seqs[client] = max(seqs[client], seq)
			return client, seq
		}
		apply := func(t *rapid.T, c Command) {
			// Through the log's encoding, as the engine applies it.
			c, err := DecodeCommand(c.Encode())
			if err != nil {
				t.Fatal(err)
			}
			index := want.applied + 1
			got, err := mw.m.Apply(index, c)
			if err != nil {
				t.Fatal(err)
			}
			if exp := want.apply(index, c); got != exp {
				t.Fatalf("apply %d %+v %+v = %+v, want %+v", index, c, c.Object, got, exp)
			}
		}

		t.Repeat(map[string]func(*rapid.T){
			"apply": func(t *rapid.T) {
				client, seq := clientSeq(t)
				c := Command{Client: client, Seq: seq, Op: rapid.SampledFrom([]Op{OpPut, OpDelete, OpCAS}).Draw(t, "op"),
					Key: rapid.SampledFrom(modelKeys).Draw(t, "key")}
				if c.Op != OpDelete {
					c.Value = rapid.SampledFrom(modelValues).Draw(t, "value")
				}
				if c.Op == OpCAS && rapid.Bool().Draw(t, "expect present") {
					c.Expected = Some(rapid.SampledFrom(modelValues).Draw(t, "expected"))
				}
				apply(t, c)
			},
			"apply object": func(t *rapid.T) {
				client, seq := clientSeq(t)
				c := Command{Client: client, Seq: seq, Op: rapid.SampledFrom([]Op{OpPutObject, OpPutObject, OpDeleteObject}).Draw(t, "op"),
					Key: "route"}
				w := &ObjectWrite{Type: rapid.SampledFrom(modelTypes).Draw(t, "type"), PK: rapid.SampledFrom(modelPKs).Draw(t, "pk"),
					History: rapid.IntRange(0, 2).Draw(t, "history")}
				c.Object = w
				cur := want.objects[w.Type+"\x00"+w.PK].Revision
				switch rapid.IntRange(0, 4).Draw(t, "condition") {
				case 1: // at the current revision (or expecting one when there is none)
					w.IfRevision = max(cur, 1)
				case 2: // at a revision the object no longer has
					w.IfRevision = uint64(rapid.IntRange(1, int(want.applied)+1).Draw(t, "revision"))
				case 3:
					if c.Op == OpPutObject {
						w.IfAbsent = true
					}
				case 4: // a migration's rewrite (or a conditional delete)
					w.IfRevision = max(cur, 1)
					w.Rewrite = c.Op == OpPutObject
				}
				if c.Op == OpPutObject {
					w.Version = rapid.IntRange(1, 3).Draw(t, "version")
					w.Value = []byte(rapid.SampledFrom(modelJSON).Draw(t, "json"))
					if e := rapid.IntRange(-1, len(modelEmails)-1).Draw(t, "email"); e >= 0 {
						w.Indexes = append(w.Indexes, IndexEntry{Index: "by_email", Key: modelEmails[e], Unique: true})
					}
					for _, g := range rapid.SliceOfNDistinct(rapid.SampledFrom(modelGroups), 0, 2, rapid.ID[string]).Draw(t, "groups") {
						w.Indexes = append(w.Indexes, IndexEntry{Index: "by_group", Key: g})
					}
				}
				apply(t, c)
			},
			"skip": func(t *rapid.T) {
				want.applied++
				want.floor = want.applied
				mw.m.Skip(want.applied)
			},
			"flush": func(t *rapid.T) {
				sync := rapid.Bool().Draw(t, "sync")
				if err := mw.m.Flush(sync); err != nil {
					t.Fatal(err)
				}
				if sync {
					durable, flushed = want.clone(), nil
				} else {
					flushed = append(flushed, want.clone())
				}
			},
			"crash": func(t *rapid.T) {
				mw.w.Kill("n1")
				if !mw.w.Restart("n1") {
					t.Fatal("n1 did not restart")
				}
				got := mw.m.Applied()
				points := append([]model{durable}, flushed...)
				i := slices.IndexFunc(points, func(f model) bool { return f.floor <= got && got <= f.applied })
				if i < 0 {
					t.Fatalf("after a crash applied is %d: neither the last synced flush (%d) nor a later flush %v", got, durable.applied, appliedOf(flushed))
				}
				back := points[i].clone()
				back.applied = got
				same(t, "after a crash", mw.m, back)
				want, durable, flushed = back.clone(), back.clone(), nil
			},
			"snapshot to a replica": func(t *rapid.T) {
				snap, err := mw.m.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				if err := mw.replica.Restore(snap, want.applied); err != nil {
					t.Fatal(err)
				}
				same(t, "the replica restored from a snapshot", mw.replica, want)
				a, _ := mw.m.Digest()
				b, _ := mw.replica.Digest()
				if a != b {
					t.Fatalf("digests %s and %s of the same state", a, b)
				}
			},
			"restore own snapshot": func(t *rapid.T) {
				snap, err := mw.m.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				// A snapshot installed at a later index: the entries between
				// are in it.
				want.applied += uint64(rapid.IntRange(0, 3).Draw(t, "later by"))
				if err := mw.m.Restore(snap, want.applied); err != nil {
					t.Fatal(err)
				}
				want.floor = want.applied
				durable, flushed = want.clone(), nil
			},
			"": func(t *rapid.T) {
				same(t, "the machine", mw.m, want)
			},
		})
	})
}

func appliedOf(ms []model) string {
	var out []uint64
	for _, m := range ms {
		out = append(out, m.applied)
	}
	return fmt.Sprint(out)
}
