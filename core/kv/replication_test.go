package kv

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/store"
	"github.com/shoaldb/shoal/simnet"
	"pgregory.net/rapid"
)

// openStore opens one store in a world of its own, for tests that open
// many machines (a process runs one world at a time).
func openStore(t *testing.T) *store.Store {
	w, err := simnet.New(simnet.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	var st *store.Store
	err = w.AddNode("n1", func(e env.Env) (env.Node, error) {
		st, err = store.Open(e, "data")
		return holder{e}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// received is a change from another cluster as its write.
func received(pk string, at int64, origin, value string) ObjectWrite {
	w := ObjectWrite{Type: "user", PK: pk, At: at, Origin: origin, Replica: true}
	if value != "" {
		w.Version, w.Value = 1, []byte(value)
		w.Indexes = []IndexEntry{{Index: "by_name", Key: value}}
	}
	return w
}

// receive applies a received change as a settled message would: a put,
// or a delete when it has no value.
func (o *objects) receive(w ObjectWrite) Result {
	o.t.Helper()
	if len(w.Value) == 0 {
		return o.del(w)
	}
	return o.put(w)
}

func TestStampedEncoding(t *testing.T) {
	for _, c := range []Command{
		{Client: "c", Seq: 1, Op: OpPutObject, Key: "r", Object: &ObjectWrite{Type: "user", PK: "u1", Version: 1, Value: []byte(`{}`),
			At: 1, Origin: "dc1", Route: "r", Replicate: []string{"to-dc2", "to-dc3"}}},
		{Client: "c", Seq: 2, Op: OpDeleteObject, Key: "r", Object: &ObjectWrite{Type: "user", PK: "u1", At: 1 << 62, Origin: "dc1", Route: "r"}},
		{Client: "c", Seq: 3, Op: OpPutObject, Key: "r", Object: &ObjectWrite{Type: "user", PK: "u1", Version: 1, Value: []byte(`{}`),
			At: 5, Origin: strings.Repeat("d", MaxClusterName), Replica: true}},
		{Client: "c", Seq: 4, Op: OpDeleteObject, Key: "r", Object: &ObjectWrite{Type: "user", PK: "u1", At: 5, Origin: "dc2", Replica: true}},
	} {
		got, err := DecodeCommand(c.Encode())
		if err != nil || !got.Equal(c) {
			t.Errorf("round trip of %s %+v: %+v, %v", c.Op, c.Object, got.Object, err)
		}
	}
	// An unstamped write encodes as it did before stamps: its flags byte
	// ends it.
	plain := (&Command{Client: "c", Seq: 1, Op: OpPutObject, Key: "k", Object: &ObjectWrite{Type: "t", PK: "p", Version: 1, Value: []byte("{}")}}).Encode()
	if plain[len(plain)-1] != 0 {
		t.Errorf("an unstamped write ends in %#x, want its flags byte 0", plain[len(plain)-1])
	}
	ok := ObjectWrite{Type: "t", PK: "p", Version: 1, Value: []byte("{}"), At: 10, Origin: "dc1", Route: "r", Replicate: []string{"d"}}
	with := func(f func(w *ObjectWrite)) []byte {
		w := ok
		f(&w)
		return (&Command{Client: "c", Seq: 1, Op: OpPutObject, Key: "k", Object: &w}).Encode()
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"time 0", with(func(w *ObjectWrite) { w.At = 0 }), "time 0 is not in 1.."},
		{"negative time", with(func(w *ObjectWrite) { w.At = -1 }), "is not in 1.."},
		{"bad origin", with(func(w *ObjectWrite) { w.Origin = "DC1" }), `cluster name "DC1"`},
		{"time beyond", with(func(w *ObjectWrite) { w.At = MaxChangeTime + 1 }), "not in 1.."},
		{"received flag alone", func() []byte {
			b := (&Command{Client: "c", Seq: 1, Op: OpPutObject, Key: "k", Object: &ObjectWrite{Type: "t", PK: "p", Version: 1, Value: []byte("{}")}}).Encode()
			b[len(b)-1] = writeReplica
			return b
		}(), "flagged received carries no stamp"},
		{"long route", with(func(w *ObjectWrite) { w.Route = strings.Repeat("r", MaxPKLen+1) }), "over 4096"},
		{"destination twice", with(func(w *ObjectWrite) { w.Replicate = []string{"d", "d"} }), "listed twice"},
		{"empty destination", with(func(w *ObjectWrite) { w.Replicate = []string{""} }), "is empty"},
		{"too many destinations", with(func(w *ObjectWrite) {
			w.Replicate = nil
			for i := range MaxReplicate + 1 {
				w.Replicate = append(w.Replicate, fmt.Sprint(i))
			}
		}), "17 replication destinations are over 16"},
		{"received and sent on", with(func(w *ObjectWrite) { w.Replica = true }), "goes nowhere"},
		{"received without origin", with(func(w *ObjectWrite) { w.Replica, w.Replicate, w.Origin = true, nil, "" }), "names its origin"},
		{"received on condition", with(func(w *ObjectWrite) { w.Replica, w.Replicate, w.IfAbsent = true, nil, true }), "on no condition"},
		{"stamped rewrite", with(func(w *ObjectWrite) { w.Rewrite, w.IfRevision = true, 3 }), "a rewrite keeps"},
		{"stamped flag alone", func() []byte {
			b := (&Command{Client: "c", Seq: 1, Op: OpPutObject, Key: "k", Object: &ObjectWrite{Type: "t", PK: "p", Version: 1, Value: []byte("{}")}}).Encode()
			b[len(b)-1] = writeStamped
			return append(b, 0, 0, 0, 0)
		}(), "carries no stamp"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeCommand(c.b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("DecodeCommand: %+v, %v; want an error about %q", got.Object, err, c.want)
			}
		})
	}
}

// TestLocalStamps: a local write is stamped with its leader's clock,
// raised past the object's stamp (a clock that went back, or a change
// from another cluster stamped ahead), and queued for its destinations as
// a Change; a rewrite keeps the stamp and goes nowhere.
func TestLocalStamps(t *testing.T) {
	o := newObjects(t)
	local := func(v string, at int64) ObjectWrite {
		w := user("u1", "", "")
		w.Value = []byte(v)
		w.At, w.Origin, w.Route, w.Replicate = at, "dc1", "tenant", []string{"to-dc2", "to-dc3"}
		return w
	}
	o.put(local(`{"n":1}`, 100))
	rec, _ := o.get("user", "u1")
	want(t, "first stamp", rec.Stamp, Stamp{Time: 100, Origin: "dc1"})
	o.put(local(`{"n":2}`, 50))
	rec, _ = o.get("user", "u1")
	want(t, "stamp after the clock went back", rec.Stamp, Stamp{Time: 101, Origin: "dc1"})
	if r := o.receive(received("u1", 500, "dc2", `{"n":3}`)); r.Stale {
		t.Fatal("a later change from dc2 was stale")
	}
	o.put(local(`{"n":4}`, 200))
	rec, _ = o.get("user", "u1")
	want(t, "stamp after a change stamped ahead", rec.Stamp, Stamp{Time: 501, Origin: "dc1"})
	o.del(ObjectWrite{Type: "user", PK: "u1", At: 300, Origin: "dc1", Route: "tenant", Replicate: []string{"to-dc2"}})
	rw := user("u1", "", "")
	if r := o.put(ObjectWrite{Type: "user", PK: "u2", Version: 1, Value: []byte(`{}`)}); r.Status != StatusOK {
		t.Fatal(r)
	}
	rw.PK, rw.IfRevision, rw.Rewrite = "u2", o.index, true
	o.put(rw)
	if rec, _ := o.get("user", "u2"); rec.Stamp != (Stamp{}) {
		t.Errorf("a rewrite stamped the object %v", rec.Stamp)
	}

	var got []string
	for _, dest := range []string{"to-dc2", "to-dc3"} {
		es, err := o.m.Outbox(dest, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			c, err := ParseChange(e.Value)
			if err != nil {
				t.Fatalf("%s %d: %v", dest, e.Seq, err)
			}
			if e.Key != "tenant" {
				t.Errorf("%s %d: order key %q, want the route", dest, e.Seq, e.Key)
			}
			got = append(got, fmt.Sprintf("%s %s %s %s deleted=%v", dest, c.Stamp(), c.Route, c.Value, c.Deleted))
		}
	}
	want(t, "changes queued", got, []string{
		`to-dc2 100@dc1 tenant {"n":1} deleted=false`,
		`to-dc2 101@dc1 tenant {"n":2} deleted=false`,
		`to-dc2 501@dc1 tenant {"n":4} deleted=false`,
		`to-dc2 502@dc1 tenant  deleted=true`,
		`to-dc3 100@dc1 tenant {"n":1} deleted=false`,
		`to-dc3 101@dc1 tenant {"n":2} deleted=false`,
		`to-dc3 501@dc1 tenant {"n":4} deleted=false`,
	})
}

// TestReceivedChanges: a received change applies only if it is later
// than what the object holds: its stamp, or its deletion's.
func TestReceivedChanges(t *testing.T) {
	o := newObjects(t)
	var heard []string
	o.m.OnReceived = func(w *ObjectWrite, later bool) {
		heard = append(heard, fmt.Sprintf("%d@%s:%v", w.At, w.Origin, later))
	}
	steps := []struct {
		w     ObjectWrite
		stale bool
		value string // what the object holds after, "" for none
	}{
		{received("u1", 200, "dc2", `"a"`), false, `"a"`},
		{received("u1", 150, "dc2", `"b"`), true, `"a"`},
		{received("u1", 200, "dc1", `"c"`), true, `"a"`}, // same time: dc1 < dc2
		{received("u1", 200, "dc2", `"a"`), true, `"a"`}, // the same change again
		{received("u1", 200, "dc3", `"d"`), false, `"d"`},
		{received("u1", 300, "dc2", ""), false, ""},
		{received("u1", 250, "dc3", `"e"`), true, ""}, // overtaken by the deletion
		{received("u1", 300, "dc2", ""), true, ""},
		{received("u1", 301, "dc1", `"f"`), false, `"f"`},
		{received("u9", 10, "dc2", ""), false, ""}, // the deletion of an object never seen still counts
		{received("u9", 5, "dc3", `"g"`), true, ""},
	}
	for i, s := range steps {
		r := o.receive(s.w)
		if r.Status != StatusOK || r.Stale != s.stale {
			t.Fatalf("step %d (%d@%s): %+v, want stale %v", i+1, s.w.At, s.w.Origin, r, s.stale)
		}
		rec, ok := o.get("user", s.w.PK)
		if got := map[bool]string{true: string(rec.Value)}[ok]; got != s.value {
			t.Fatalf("step %d: the object holds %q, want %q", i+1, got, s.value)
		}
		if ok && rec.Stamp != (Stamp{Time: s.w.At, Origin: s.w.Origin}) && !s.stale {
			t.Fatalf("step %d: stamp %v", i+1, rec.Stamp)
		}
	}
	if len(heard) != len(steps) || heard[0] != "200@dc2:true" || heard[1] != "150@dc2:false" {
		t.Errorf("OnReceived heard %v", heard)
	}
	if got := o.lookup("user", "by_name", `"f"`, 10); !slices.Equal(got, []string{"u1"}) {
		t.Errorf("index after the changes: %v", got)
	}
	if got := o.lookup("user", "by_name", `"d"`, 10); len(got) != 0 {
		t.Errorf("a deleted version's index entry stayed: %v", got)
	}
	es, err := o.m.Outbox("to-dc1", 0, 10)
	if err != nil || len(es) != 0 {
		t.Errorf("received changes were queued to be sent on: %v, %v", es, err)
	}
}

// TestPropChangesConverge: whatever order the changes of an object arrive
// in, and however often each arrives, every machine ends holding the
// change with the greatest stamp (nothing, if it is a deletion), and
// applies each change at most once.
func TestPropChangesConverge(t *testing.T) {
	st := openStore(t)
	group := uint64(0)
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 12).Draw(rt, "changes")
		var changes []ObjectWrite
		seen := map[Stamp]bool{}
		for i := range n {
			at := rapid.Int64Range(1, 6).Draw(rt, fmt.Sprintf("time%d", i))
			origin := rapid.SampledFrom([]string{"dc1", "dc2", "dc3"}).Draw(rt, fmt.Sprintf("origin%d", i))
			if seen[Stamp{at, origin}] {
				continue // one cluster makes one change at a time
			}
			seen[Stamp{at, origin}] = true
			value := ""
			if !rapid.Bool().Draw(rt, fmt.Sprintf("deleted%d", i)) {
				value = fmt.Sprintf(`"v%d"`, i)
			}
			changes = append(changes, received("u1", at, origin, value))
		}
		latest := slices.MaxFunc(changes, func(a, b ObjectWrite) int {
			return Stamp{a.At, a.Origin}.Compare(Stamp{b.At, b.Origin})
		})
		for r := range 2 {
			group++
			m, err := Open(st, group)
			if err != nil {
				rt.Fatal(err)
			}
			applied := map[Stamp]int{}
			m.OnReceived = func(w *ObjectWrite, later bool) {
				if later {
					applied[Stamp{w.At, w.Origin}]++
				}
			}
			var order []ObjectWrite
			for _, i := range rapid.Permutation(slices.Collect(func(yield func(int) bool) {
				for i := range changes {
					if !yield(i) {
						return
					}
				}
			})).Draw(rt, fmt.Sprintf("order%d", r)) {
				order = append(order, changes[i])
				if rapid.Bool().Draw(rt, fmt.Sprintf("again%d-%d", r, i)) {
					order = append(order, changes[i])
				}
			}
			for i, w := range order {
				op := OpPutObject
				if len(w.Value) == 0 {
					op = OpDeleteObject
				}
				if _, err := m.Apply(uint64(i+1), Command{Client: "c", Seq: uint64(i + 1), Op: op, Key: "r", Object: &w}); err != nil {
					rt.Fatal(err)
				}
			}
			for s, k := range applied {
				if k > 1 {
					rt.Fatalf("replica %d applied %v %d times", r, s, k)
				}
			}
			rec, ok, err := m.GetObject("user", "u1")
			if err != nil {
				rt.Fatal(err)
			}
			switch {
			case len(latest.Value) == 0 && ok:
				rt.Fatalf("replica %d holds %s, want it deleted by %d@%s", r, rec.Value, latest.At, latest.Origin)
			case len(latest.Value) > 0 && (!ok || !bytes.Equal(rec.Value, latest.Value) || rec.Stamp != Stamp{latest.At, latest.Origin}):
				rt.Fatalf("replica %d holds %s at %v (found %v), want %s at %d@%s", r, rec.Value, rec.Stamp, ok, latest.Value, latest.At, latest.Origin)
			}
		}
	})
}

func TestParseChange(t *testing.T) {
	good := Change{Type: "user", PK: "u1", Route: "r", Version: 1, Value: []byte(`{"a":1}`), Time: 5, Origin: "dc1"}
	if c, err := ParseChange(good.Encode()); err != nil || c.Stamp() != (Stamp{5, "dc1"}) || string(c.Value) != `{"a":1}` {
		t.Fatalf("ParseChange(%s): %+v, %v", good.Encode(), c, err)
	}
	// A route may be empty (a key field may be ""), and the value goes
	// as it is: no HTML escaping grows it past what ChangeFits allowed.
	html := Change{Type: "user", PK: "p", Version: 1, Value: []byte(`"<&>"`), Time: 5, Origin: "dc1"}
	if b := html.Encode(); !bytes.Contains(b, []byte(`"value":"<&>"`)) {
		t.Errorf("Encode escaped the value: %s", b)
	} else if c, err := ParseChange(b); err != nil || c.Route != "" {
		t.Errorf("ParseChange(%s): %+v, %v", b, c, err)
	}
	// Keys are encoded keys, any bytes: not UTF-8, they still come back
	// as they went.
	binary := Change{Type: "Shipment", PK: "0k0\x00\x01\x80\xff", Route: "\xfe", Deleted: true, Time: 5, Origin: "dc1"}
	if c, err := ParseChange(binary.Encode()); err != nil || c.PK != binary.PK || c.Route != binary.Route {
		t.Fatalf("ParseChange(%s): %q %q, %v", binary.Encode(), c.PK, c.Route, err)
	}
	for _, c := range []struct{ in, want string }{
		{``, "not valid JSON"},
		{`[]`, "not valid JSON"},
		{`{"type":"user","pk":"dTE=","route":"cg==","version":1,"value":{},"time":5,"origin":"dc1","extra":1}`, `unknown field "extra"`},
		{`{"type":"user","pk":"dTE=","route":"cg==","version":1,"value":{},"time":5,"origin":"dc1"} {}`, "followed by more JSON"},
		{`{"type":"","pk":"dTE=","route":"cg==","version":1,"value":{},"time":5,"origin":"dc1"}`, "object type is empty"},
		{`{"type":"user","pk":"","route":"cg==","version":1,"value":{},"time":5,"origin":"dc1"}`, "primary key is empty"},
		{`{"type":"user","pk":"dTE=","route":"cg==","version":1,"value":{},"time":5}`, `origin: cluster name ""`},
		{`{"type":"user","pk":"dTE=","route":"cg==","version":1,"value":{},"time":5,"origin":"DC1"}`, `origin: cluster name "DC1"`},
		{`{"type":"user","pk":"dTE=","route":"cg==","version":1,"value":{},"time":9223372036854775807,"origin":"dc1"}`, "beyond"},
		{`{"type":"user","pk":"dTE=","route":"cg==","deleted":true,"value":{},"time":5,"origin":"dc1"}`, "a deletion carries a value"},
		{`{"type":"user","pk":"dTE=","route":"cg==","version":1,"time":5,"origin":"dc1"}`, "neither a value nor a deletion"},
		{`{"type":"user","pk":"dTE=","route":"cg==","version":1,"value":null,"time":5,"origin":"dc1"}`, "neither a value nor a deletion"},
		{`{"type":"user","pk":"dTE=","route":"cg==","value":{},"time":5,"origin":"dc1"}`, "has no model version"},
		{`{"type":"user","pk":"dTE=","route":"cg==","version":-1,"value":{},"time":5,"origin":"dc1"}`, "out of range"},
		{`{"type":"user","pk":"dTE=","route":"cg==","version":1,"value":{},"time":0,"origin":"dc1"}`, "time 0 is not positive"},
	} {
		if _, err := ParseChange([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseChange(%s): %v, want an error about %q", c.in, err, c.want)
		}
	}
}

func FuzzParseChange(f *testing.F) {
	f.Add((&Change{Type: "user", PK: "u1", Route: "r", Version: 1, Value: []byte(`{"a":1}`), Time: 5, Origin: "dc1"}).Encode())
	f.Add((&Change{Type: "user", PK: "u1", Route: "r", Deleted: true, Time: 5, Origin: "dc1"}).Encode())
	f.Add([]byte(`{"type":"t","pk":"AA==","route":"","version":2147483647,"value":[1],"time":4611686018427387904,"origin":"a"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseChange(b)
		if err != nil {
			return
		}
		again, err := ParseChange(c.Encode())
		if err != nil || again.Stamp() != c.Stamp() || again.PK != c.PK || again.Route != c.Route || again.Deleted != c.Deleted {
			t.Fatalf("a parsed change does not parse again the same: %+v, %+v, %v", c, again, err)
		}
	})
}

// TestReceivedUniqueKeys: changes of different objects may arrive in
// another order than they were made. dc2 made c1 give up the email x
// (to y) and then gave x to c2; here c2's change arrives first. It takes
// x from c1, whose own change then gives x up without taking it from c2:
// the index ends as dc2's.
func TestReceivedUniqueKeys(t *testing.T) {
	o := newObjects(t)
	change := func(pk, email string, at int64) ObjectWrite {
		w := user(pk, email, "")
		w.At, w.Origin, w.Replica = at, "dc2", true
		return w
	}
	for _, w := range []ObjectWrite{change("c1", "x", 1), change("c2", "x", 4), change("c1", "y", 3)} {
		if r := o.receive(w); r.Status != StatusOK || r.Stale {
			t.Fatalf("receiving %s %s: %+v", w.PK, w.Value, r)
		}
		if got := o.lookup("user", "by_email", "x", 10); len(got) != 1 {
			t.Fatalf("after %s %s: x is held by %v, want one object", w.PK, w.Value, got)
		}
	}
	want(t, "x", o.lookup("user", "by_email", "x", 10), []string{"c2"})
	want(t, "y", o.lookup("user", "by_email", "y", 10), []string{"c1"})
	// A migration's rewrite of an object whose key was taken keeps the
	// key with its new holder, and applies.
	o.receive(change("c4", "z", 10))
	o.receive(change("c5", "z", 11)) // takes z from c4
	rec, _ := o.get("user", "c4")
	rw := user("c4", "z", "")
	rw.IfRevision, rw.Rewrite = rec.Revision, true
	if r := o.put(rw); r.Status != StatusOK {
		t.Fatalf("rewriting c4, whose key z c5 took: %+v", r)
	}
	want(t, "z after the rewrite", o.lookup("user", "by_email", "z", 10), []string{"c5"})
	// A local write still meets the key's holder.
	local := user("c3", "x", "")
	if r := o.put(local); r.Status != StatusConflict {
		t.Errorf("a local write of a held key: %+v, want a conflict", r)
	}
	// The holder's own deletion frees the key; the one who lost it cannot.
	o.receive(ObjectWrite{Type: "user", PK: "c1", At: 5, Origin: "dc2", Replica: true})
	want(t, "x after c1 went", o.lookup("user", "by_email", "x", 10), []string{"c2"})
}

// TestReplicateSurvivesRestart: the changes a client's writes queue keep
// their positions across a restart, and the next ones follow them rather
// than take their places.
func TestReplicateSurvivesRestart(t *testing.T) {
	st := openStore(t)
	m, err := Open(st, 1)
	if err != nil {
		t.Fatal(err)
	}
	put := func(m *Machine, index uint64, pk string) {
		t.Helper()
		w := user(pk, "", "")
		w.At, w.Origin, w.Route, w.Replicate = int64(index), "dc1", "r", []string{"to-dc2"}
		if _, err := m.Apply(index, Command{Client: "c", Seq: index, Op: OpPutObject, Key: "r", Object: &w}); err != nil {
			t.Fatal(err)
		}
	}
	put(m, 1, "a")
	put(m, 2, "b")
	if err := m.Flush(true); err != nil {
		t.Fatal(err)
	}
	again, err := Open(st, 1) // as a restarted replica does
	if err != nil {
		t.Fatal(err)
	}
	put(again, 3, "c")
	es, err := again.Outbox("to-dc2", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		c, _ := ParseChange(e.Value)
		got = append(got, fmt.Sprintf("%d:%s", e.Seq, c.PK))
	}
	want(t, "the queue after a restart", got, []string{"1:a", "2:b", "3:c"})
}

// A change at the latest time a stamp may have still leaves room for a
// local write after it.
func TestStampAtTheBound(t *testing.T) {
	o := newObjects(t)
	o.receive(received("u1", MaxChangeTime, "dc2", `"a"`))
	w := user("u1", "", "")
	w.At, w.Origin = 1000, "dc1"
	o.put(w)
	rec, _ := o.get("user", "u1")
	if rec.Stamp.Compare(Stamp{MaxChangeTime, "dc2"}) <= 0 {
		t.Errorf("the local write's stamp %v is not later than the received %d@dc2", rec.Stamp, int64(MaxChangeTime))
	}
}

func TestChangeFits(t *testing.T) {
	w := &ObjectWrite{Type: "user", PK: strings.Repeat("p", 3000), Route: strings.Repeat("r", 3000)}
	w.Value = make([]byte, MaxChange-(4000+4000+len(w.Type)+len("dc1")+128))
	if !ChangeFits(w, "dc1") {
		t.Fatal("a change at the bound does not fit")
	}
	c := Change{Type: w.Type, PK: w.PK, Route: w.Route, Version: 1, Value: bytes.Repeat([]byte("1"), len(w.Value)), Time: MaxChangeTime, Origin: strings.Repeat("d", MaxClusterName)}
	if n := len(c.Encode()); n > MaxChange+len(c.Origin) {
		t.Errorf("a change ChangeFits allows encodes to %d bytes, over %d", n, MaxChange)
	}
	w.Value = append(w.Value, 'x')
	if ChangeFits(w, "dc1") {
		t.Error("a change a byte over the bound fits")
	}
}
