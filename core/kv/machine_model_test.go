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

// model is what a Machine should hold: the keys, each client's last
// sequence number and answer, and the applied index. floor is the index
// of the last entry that wrote something (a command that changed the
// state, a skipped entry, a restored snapshot): see TestPropMachineModel.
type model struct {
	keys    map[string]string
	dedup   map[string]answer
	applied uint64
	floor   uint64
}

func (m model) clone() model {
	return model{keys: maps.Clone(m.keys), dedup: maps.Clone(m.dedup), applied: m.applied, floor: m.floor}
}

// apply is Machine.Apply, written for a map: each (client, sequence)
// applied at most once, a retry answered as the first time, an older
// request answered ok and ignored.
func (m *model) apply(index uint64, c Command) Result {
	m.applied = index
	if prev, seen := m.dedup[c.Client]; seen && c.Seq <= prev.seq {
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
	}
	m.dedup[c.Client] = answer{seq: c.Seq, result: res}
	return res
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
		want := model{keys: map[string]string{}, dedup: map[string]answer{}}
		durable := want.clone()
		var flushed []model // states flushed without sync since the last sync
		seqs := map[string]uint64{}

		t.Repeat(map[string]func(*rapid.T){
			"apply": func(t *rapid.T) {
				client := rapid.SampledFrom(modelClients).Draw(t, "client")
				seq := seqs[client] + 1
				switch rapid.IntRange(0, 3).Draw(t, "seq") {
				case 0:
					seq = max(seqs[client], 1) // a retry
				case 1:
					seq = max(seqs[client], 2) - 1 // a request overtaken by a later one
				}
				seqs[client] = max(seqs[client], seq)
				c := Command{Client: client, Seq: seq, Op: rapid.SampledFrom([]Op{OpPut, OpDelete, OpCAS}).Draw(t, "op"),
					Key: rapid.SampledFrom(modelKeys).Draw(t, "key")}
				if c.Op != OpDelete {
					c.Value = rapid.SampledFrom(modelValues).Draw(t, "value")
				}
				if c.Op == OpCAS && rapid.Bool().Draw(t, "expect present") {
					c.Expected = Some(rapid.SampledFrom(modelValues).Draw(t, "expected"))
				}
				index := want.applied + 1
				got, err := mw.m.Apply(index, c)
				if err != nil {
					t.Fatal(err)
				}
				if exp := want.apply(index, c); got != exp {
					t.Fatalf("apply %d %+v = %+v, want %+v", index, c, got, exp)
				}
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
