package raftlog

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/shoaldb/shoal/simnet/disk"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"pgregory.net/rapid"
)

// image is what a group's storage holds, for comparison.
type image struct {
	hs    pb.HardState
	snap  pb.Snapshot
	ents  []pb.Entry // after the snapshot
	first uint64
}

func imageOf(t *rapid.T, s raft.Storage) image {
	hs, _, err := s.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Snapshot()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	var ents []pb.Entry
	if last >= first {
		ents, err = s.Entries(first, last+1, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
	}
	return image{hs: hs, snap: snap, ents: slices.Clone(ents), first: first}
}

func (a image) equal(b image) error {
	switch {
	case a.hs != b.hs:
		return fmt.Errorf("hard state %v vs %v", a.hs, b.hs)
	case a.first != b.first:
		return fmt.Errorf("first index %d vs %d", a.first, b.first)
	case a.snap.Metadata.Index != b.snap.Metadata.Index || a.snap.Metadata.Term != b.snap.Metadata.Term ||
		string(a.snap.Data) != string(b.snap.Data) || !slices.Equal(a.snap.Metadata.ConfState.Voters, b.snap.Metadata.ConfState.Voters):
		return fmt.Errorf("snapshot %v vs %v", a.snap.Metadata, b.snap.Metadata)
	case len(a.ents) != len(b.ents):
		return fmt.Errorf("%d entries vs %d", len(a.ents), len(b.ents))
	}
	for i := range a.ents {
		x, y := a.ents[i], b.ents[i]
		if x.Index != y.Index || x.Term != y.Term || string(x.Data) != string(y.Data) {
			return fmt.Errorf("entry %d: %v vs %v", i, x, y)
		}
	}
	return nil
}

var groups = []uint64{0, 7}

// walMachine drives two groups' logs sharing one WAL on a crashable disk,
// alongside raft.MemoryStorage as the model of each, and keeps each
// model's image as of the last durable point.
type walMachine struct {
	fs      *disk.FS
	wal     *WAL
	batch   Batch
	model   map[uint64]*raft.MemoryStorage
	durable map[uint64]image // as of the last synced commit or rotation
}

func (m *walMachine) open(t *rapid.T) {
	w, err := Open(m.fs, "wal")
	if err != nil {
		t.Fatal(err)
	}
	w.rotateAt = 300 // rotate often: every few commits
	m.wal = w
	m.batch.Reset()
}

func (m *walMachine) Init(t *rapid.T) {
	m.fs = disk.New()
	m.open(t)
	m.model = map[uint64]*raft.MemoryStorage{}
	m.durable = map[uint64]image{}
	for _, g := range groups {
		m.model[g] = raft.NewMemoryStorage()
		m.durable[g] = imageOf(t, m.model[g])
	}
}

func (m *walMachine) group(t *rapid.T) (*Log, *raft.MemoryStorage) {
	g := rapid.SampledFrom(groups).Draw(t, "group")
	return m.wal.Log(g), m.model[g]
}

func (m *walMachine) Append(t *rapid.T) {
	l, model := m.group(t)
	first, _ := model.FirstIndex()
	last, _ := model.LastIndex()
	at := rapid.Uint64Range(max(first, 1), last+1).Draw(t, "at")
	term := rapid.Uint64Range(1, 5).Draw(t, "term")
	var ents []pb.Entry
	for i := range rapid.IntRange(1, 5).Draw(t, "n") {
		data := []byte(rapid.StringN(0, 80, -1).Draw(t, "data"))
		ents = append(ents, pb.Entry{Index: at + uint64(i), Term: term, Data: data})
	}
	l.Append(&m.batch, ents)
	model.Append(ents)
}

func (m *walMachine) SetHardState(t *rapid.T) {
	l, model := m.group(t)
	hs := pb.HardState{Term: rapid.Uint64Range(0, 9).Draw(t, "term"), Vote: rapid.Uint64Range(0, 5).Draw(t, "vote"),
		Commit: rapid.Uint64Range(0, 50).Draw(t, "commit")}
	l.SetHardState(&m.batch, hs)
	model.SetHardState(hs)
}

func (m *walMachine) CreateSnapshot(t *rapid.T) {
	l, model := m.group(t)
	first, _ := model.FirstIndex()
	last, _ := model.LastIndex()
	if last < first {
		t.Skip("no entry to snapshot")
	}
	i := rapid.Uint64Range(first, last).Draw(t, "index")
	cs := pb.ConfState{Voters: []uint64{1, 2, rapid.Uint64Range(3, 9).Draw(t, "voter")}}
	data := []byte(fmt.Sprintf("state@%d", i))
	if _, err := l.CreateSnapshot(&m.batch, i, cs, data); err != nil {
		t.Fatal(err)
	}
	if _, err := model.CreateSnapshot(i, &cs, data); err != nil {
		t.Fatal(err)
	}
	if err := model.Compact(i); err != nil {
		t.Fatal(err)
	}
}

func (m *walMachine) ApplySnapshot(t *rapid.T) {
	l, model := m.group(t)
	snap, _ := model.Snapshot()
	i := snap.Metadata.Index + rapid.Uint64Range(1, 20).Draw(t, "ahead")
	s := pb.Snapshot{Data: []byte(fmt.Sprintf("received@%d", i)), Metadata: pb.SnapshotMetadata{
		Index: i, Term: rapid.Uint64Range(1, 9).Draw(t, "term"), ConfState: pb.ConfState{Voters: []uint64{4, 5, 6}}}}
	if err := l.ApplySnapshot(&m.batch, s); err != nil {
		t.Fatal(err)
	}
	if err := model.ApplySnapshot(s); err != nil {
		t.Fatal(err)
	}
}

// Commit writes the batch, synced or not. A sync makes every earlier write
// durable, and so does a rotation, which syncs a checkpoint of everything.
func (m *walMachine) Commit(t *rapid.T) {
	sync := rapid.Bool().Draw(t, "sync")
	empty := m.batch.Empty()
	rotations := m.wal.Rotations()
	if err := m.wal.Commit(&m.batch, sync); err != nil {
		t.Fatal(err)
	}
	if (sync && !empty) || m.wal.Rotations() != rotations {
		for _, g := range groups {
			m.durable[g] = imageOf(t, m.model[g])
		}
	}
}

// Crash loses memory and everything not synced, then reopens the WAL.
func (m *walMachine) Crash(t *rapid.T) {
	m.fs = m.fs.Crash()
	m.wal.Close()
	m.open(t)
	for _, g := range groups {
		if err := imageOf(t, m.wal.Log(g)).equal(m.durable[g]); err != nil {
			t.Fatalf("after a crash group %d differs from what was last made durable: %v", g, err)
		}
		model := raft.NewMemoryStorage()
		model.ApplySnapshot(m.durable[g].snap)
		model.SetHardState(m.durable[g].hs)
		model.Append(m.durable[g].ents)
		m.model[g] = model
	}
}

// Check compares each log with its model after every step.
func (m *walMachine) Check(t *rapid.T) {
	for _, g := range groups {
		l, model := m.wal.Log(g), m.model[g]
		if err := imageOf(t, l).equal(imageOf(t, model)); err != nil {
			t.Fatalf("group %d: log and model differ: %v", g, err)
		}
		for _, i := range []uint64{0, 1, 5, 30} {
			a, errA := l.Term(i)
			b, errB := model.Term(i)
			if a != b || (errA == nil) != (errB == nil) {
				t.Fatalf("group %d: Term(%d): log %d, %v; model %d, %v", g, i, a, errA, b, errB)
			}
		}
	}
}

func TestPropLogMatchesModelThroughCrashes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &walMachine{}
		m.Init(t)
		defer func() { m.wal.Close() }()
		t.Repeat(rapid.StateMachineActions(m))
	})
}

func TestEntriesRespectsMaxSizeAndProtectsTheLog(t *testing.T) {
	l := New(1)
	var b Batch
	var ents []pb.Entry
	for i := uint64(1); i <= 5; i++ {
		ents = append(ents, pb.Entry{Index: i, Term: 1, Data: make([]byte, 100)})
	}
	l.Append(&b, ents)
	got, err := l.Entries(1, 6, 250)
	if err != nil || len(got) != 2 {
		t.Fatalf("Entries(1, 6, 250) = %d entries, %v; want 2", len(got), err)
	}
	if got, _ := l.Entries(1, 6, 1); len(got) != 1 {
		t.Fatalf("Entries with a tiny limit returned %d entries, want at least one", len(got))
	}
	// An append to a returned slice must not reach the log, and a later
	// overwrite of the log must not change a returned slice.
	held, _ := l.Entries(2, 4, 1<<20)
	_ = append(held, pb.Entry{Index: 99})
	if e, _ := l.Term(4); e != 1 {
		t.Fatal("appending to a returned slice changed the log")
	}
	l.Append(&b, []pb.Entry{{Index: 3, Term: 2}})
	if held[1].Term != 1 {
		t.Fatal("overwriting the log changed a slice handed out earlier")
	}
	if last, _ := l.LastIndex(); last != 3 {
		t.Fatalf("after overwriting at 3 the last index is %d", last)
	}
	if _, err := l.Entries(0, 2, 1<<20); err != raft.ErrCompacted {
		t.Fatalf("Entries below the first index: %v, want ErrCompacted", err)
	}
}

// TestDamagedWAL: a torn tail of the newest segment is the write a crash
// interrupted and is ignored; damage anywhere else stops the node from
// starting, with a message that names the segment and offset.
func TestDamagedWAL(t *testing.T) {
	build := func() *disk.FS {
		fs := disk.New()
		w, err := Open(fs, "wal")
		if err != nil {
			t.Fatal(err)
		}
		var b Batch
		w.Log(1).Append(&b, []pb.Entry{{Index: 1, Term: 1, Data: []byte("one")}})
		w.Log(1).Append(&b, []pb.Entry{{Index: 2, Term: 1, Data: []byte("two")}})
		if err := w.Commit(&b, true); err != nil {
			t.Fatal(err)
		}
		w.Close()
		return fs
	}
	segment := func(fs *disk.FS) string {
		names, _ := fs.List("wal")
		return fs.PathJoin("wal", names[len(names)-1])
	}
	truncate := func(fs *disk.FS, name string, cut int) {
		f, _ := fs.Open(name)
		st, _ := f.Stat()
		buf := make([]byte, st.Size())
		f.ReadAt(buf, 0)
		f.Close()
		g, _ := fs.Create(name, vfs.WriteCategoryUnspecified)
		g.Write(buf[:len(buf)-cut])
		g.Sync()
		g.Close()
	}

	fs := build()
	truncate(fs, segment(fs), 3)
	w, err := Open(fs, "wal")
	if err != nil {
		t.Fatalf("a torn tail stopped the WAL from opening: %v", err)
	}
	if last, _ := w.Log(1).LastIndex(); last != 1 {
		t.Fatalf("after a torn tail the log ends at %d, want 1", last)
	}
	w.Close()

	fs = build()
	older := segment(fs)
	truncate(fs, older, 3)
	// A newer segment after the damaged one.
	g, _ := fs.Create(fs.PathJoin("wal", segmentName(99)), vfs.WriteCategoryUnspecified)
	g.Close()
	if _, err := Open(fs, "wal"); err == nil {
		t.Fatal("a damaged segment followed by a newer one opened")
	} else if want := "damaged record at offset"; !strings.Contains(err.Error(), older) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name %s and %q", err, older, want)
	}
}

// FuzzSegment opens a WAL whose only segment holds arbitrary bytes: it
// must open or fail with an error, never panic.
func FuzzSegment(f *testing.F) {
	var b Batch
	l := New(3)
	l.Append(&b, []pb.Entry{{Index: 1, Term: 1, Data: []byte("x")}, {Index: 2, Term: 1}})
	l.SetHardState(&b, pb.HardState{Term: 1, Commit: 2})
	l.CreateSnapshot(&b, 1, pb.ConfState{Voters: []uint64{1}}, []byte("s"))
	f.Add(append([]byte(nil), b.buf...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, seg []byte) {
		fs := disk.New()
		fs.MkdirAll("wal", 0o755)
		g, _ := fs.Create(fs.PathJoin("wal", segmentName(1)), vfs.WriteCategoryUnspecified)
		g.Write(seg)
		g.Sync()
		g.Close()
		if w, err := Open(fs, "wal"); err == nil {
			w.Close()
		}
	})
}

// A hard state set back to empty must survive a rotation and a crash that
// undoes the removal of the segment before it (found by the property test).
func TestCheckpointOverwritesAnOlderHardStateEvenWithAnEmptyOne(t *testing.T) {
	fs := disk.New()
	w, err := Open(fs, "wal")
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	w.Log(7).SetHardState(&b, pb.HardState{Commit: 1})
	if err := w.Commit(&b, true); err != nil {
		t.Fatal(err)
	}
	w.Log(7).SetHardState(&b, pb.HardState{})
	if err := w.Commit(&b, false); err != nil {
		t.Fatal(err)
	}
	if err := w.rotate(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w, err = Open(fs.Crash(), "wal")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if hs := w.Log(7).HardState(); !raft.IsEmptyHardState(hs) {
		t.Fatalf("after rotation and crash the hard state is %v, want the empty one the checkpoint made durable", hs)
	}
}
