package kv

import (
	"bytes"
	"testing"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/store"
	"github.com/shoaldb/shoal/simnet"
)

// TestBucketGolden pins the key → bucket hash: it is part of the storage
// format, and changing it moves every key. The values are FNV-1a 64-bit
// modulo the bucket count, as computed independently of this code.
func TestBucketGolden(t *testing.T) {
	for key, want := range map[string]int{
		"": 37, "k0": 14, "k1": 193, "k7": 39, "user:42": 194, "é": 1, "a much longer key with spaces": 46,
	} {
		if got := Bucket(key, DefaultBuckets); got != want {
			t.Errorf("Bucket(%q, 256) = %d, want %d", key, got, want)
		}
	}
	if got := Bucket("k0", 7); got != 4 {
		t.Errorf("Bucket(k0, 7) = %d, want 4", got)
	}
}

func TestCommandEncoding(t *testing.T) {
	for _, c := range []Command{
		{Client: "c1", Seq: 1, Op: OpPut, Key: "k", Value: "v"},
		{Client: "c2", Seq: 1 << 40, Op: OpDelete, Key: ""},
		{Client: "c3", Seq: 7, Op: OpCAS, Key: "k", Value: "new", Expected: Some("")},
		{Client: "c3", Seq: 8, Op: OpCAS, Key: "k", Value: "new", Expected: None},
	} {
		got, err := DecodeCommand(c.Encode())
		if err != nil || !got.Equal(c) {
			t.Errorf("round trip of %+v: %+v, %v", c, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {byte(OpGet), 0, 1, 0, 0, 0, 0}, {byte(OpPut), 5, 'a'}, append((&Command{Op: OpPut}).Encode(), 0)} {
		if _, err := DecodeCommand(bad); err == nil {
			t.Errorf("DecodeCommand(%x) accepted it", bad)
		}
	}
}

type holder struct{ e env.Env }

func (holder) Receive(env.NodeID, env.Message) {}
func (holder) Handle(env.Event)                {}

func openMachine(t *testing.T) (*simnet.World, func() *Machine) {
	w, err := simnet.New(simnet.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	var m *Machine
	err = w.AddNode("n1", func(e env.Env) (env.Node, error) {
		st, err := store.Open(e, "data")
		if err != nil {
			return nil, err
		}
		m, err = Open(st, 1)
		return holder{e}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return w, func() *Machine { return m }
}

func TestMachine(t *testing.T) {
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
	steps := []struct {
		index uint64
		cmd   Command
		want  Result
	}{
		{2, Command{Client: "a", Seq: 1, Op: OpPut, Key: "x", Value: "1"}, Result{Status: StatusOK, Value: None, Index: 2}},
		{3, Command{Client: "b", Seq: 1, Op: OpCAS, Key: "x", Value: "2", Expected: Some("0")}, Result{Status: StatusMismatch, Value: Some("1"), Index: 3}},
		{4, Command{Client: "b", Seq: 2, Op: OpCAS, Key: "x", Value: "2", Expected: Some("1")}, Result{Status: StatusOK, Value: Some("1"), Index: 4}},
		// a's retry: applied already, answered as the first time, changes nothing.
		{5, Command{Client: "a", Seq: 1, Op: OpPut, Key: "x", Value: "1"}, Result{Status: StatusOK, Value: None, Index: 2}},
		{6, Command{Client: "b", Seq: 3, Op: OpCAS, Key: "y", Value: "3", Expected: None}, Result{Status: StatusOK, Value: None, Index: 6}},
		{7, Command{Client: "a", Seq: 2, Op: OpDelete, Key: "y"}, Result{Status: StatusOK, Index: 7}},
	}
	for _, s := range steps {
		if got := apply(s.index, s.cmd); got != s.want {
			t.Fatalf("apply %d %+v = %+v, want %+v", s.index, s.cmd, got, s.want)
		}
	}
	if v, _ := m.Get("x"); v != Some("2") {
		t.Fatalf("x = %v, want 2", v)
	}
	if v, _ := m.Get("y"); v != None {
		t.Fatalf("y = %v, want absent", v)
	}
	m.Skip(8)
	if m.Applied() != 8 {
		t.Fatalf("applied %d, want 8", m.Applied())
	}
	snap, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := m.Digest()
	if err := m.Flush(true); err != nil {
		t.Fatal(err)
	}

	// After a crash the durable state and applied index come back.
	w.Kill("n1")
	w.Restart("n1")
	m = current()
	if m.Applied() != 8 {
		t.Fatalf("after a crash applied is %d, want 8", m.Applied())
	}
	if d, _ := m.Digest(); d != digest {
		t.Fatalf("after a crash the digest is %s, want %s", d, digest)
	}
	// Unsynced applies are lost with the crash, applied index included.
	apply(9, Command{Client: "c", Seq: 1, Op: OpPut, Key: "z", Value: "9"})
	m.Flush(false)
	w.Kill("n1")
	w.Restart("n1")
	m = current()
	if v, _ := m.Get("z"); m.Applied() != 8 || v != None {
		t.Fatalf("an unsynced apply survived the crash: applied %d, z = %v", m.Applied(), v)
	}
	// A snapshot restores the state it was taken from.
	apply(9, Command{Client: "c", Seq: 1, Op: OpPut, Key: "z", Value: "9"})
	if err := m.Restore(snap, 20); err != nil {
		t.Fatal(err)
	}
	if d, _ := m.Digest(); d != digest || m.Applied() != 20 {
		t.Fatalf("restored: digest %s applied %d, want %s and 20", d, m.Applied(), digest)
	}
	if r := apply(21, Command{Client: "b", Seq: 3, Op: OpCAS, Key: "y", Value: "3", Expected: None}); r.Index != 6 || r.Status != StatusOK {
		t.Fatalf("the restored dedup table forgot a's last write: %+v", r)
	}
	if err := m.Restore([]byte{1, 200}, 30); err == nil {
		t.Fatal("a malformed snapshot restored")
	}
}

// FuzzDecodeCommand: any log payload decodes or fails cleanly, and what
// decodes re-encodes to the same bytes.
func FuzzDecodeCommand(f *testing.F) {
	f.Add((&Command{Client: "c", Seq: 3, Op: OpCAS, Key: "k", Value: "v", Expected: Some("e")}).Encode())
	f.Add([]byte{})
	for _, c := range append(append(objectCommands(), queueCommands()...), moveCommands()...) {
		if b := c.Encode(); len(b) < 1<<10 { // the largest slow the fuzzer down
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		if again := c.Encode(); !bytes.Equal(again, b) {
			t.Fatalf("%x decodes to %+v but re-encodes as %x", b, c, again)
		}
	})
}

// FuzzRestore: any snapshot restores or fails cleanly, never panics, and a
// failed restore leaves the state as it was.
func FuzzRestore(f *testing.F) {
	f.Add([]byte{5, 1, tagKey, 1, 'k', 1, 'v'})
	f.Add([]byte{})
	f.Add(objectSnapshot())
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := simnet.New(simnet.Config{Seed: 1})
		if err != nil {
			t.Skip(err)
		}
		defer w.Close()
		var m *Machine
		w.AddNode("n1", func(e env.Env) (env.Node, error) {
			st, err := store.Open(e, "data")
			if err != nil {
				return nil, err
			}
			m, err = Open(st, 1)
			return holder{e}, err
		})
		m.Apply(2, Command{Client: "a", Seq: 1, Op: OpPut, Key: "x", Value: "1"})
		before, _ := m.Digest()
		if err := m.Restore(data, 10); err != nil {
			if after, _ := m.Digest(); after != before || m.Applied() != 2 {
				t.Fatalf("a failed restore changed the state")
			}
		}
	})
}
