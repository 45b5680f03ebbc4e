// Package raftlog is the storage of a node's Raft groups: for each group
// an in-memory log that serves etcd raft's raft.Storage, and one
// write-ahead log on the node's disk (WAL) that makes every group's changes
// durable. A node records all its groups' changes of an event in one Batch
// and commits it with one write and at most one sync.
//
// Every mutation of a Log is applied to memory and recorded in the batch
// at the same time. The caller must commit the batch (synced where
// raft.MustSync says so) before it sends any message that depends on the
// change, and must treat a failed commit as a crash of the node: memory is
// then ahead of the disk.
//
// The Raft log lives in its own append-only files rather than in pebble:
// on the simulator's disk a synced pebble commit, with the flushes and
// compactions the simulator must run explicitly, cost several times a
// synced append to a file (README.md has the figures).
package raftlog

import (
	"fmt"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Log is one group's raft.Storage.
type Log struct {
	group uint64
	hs    pb.HardState
	snap  pb.Snapshot
	// ents[0] is a dummy holding the index and term of the snapshot; the
	// entries after it follow without gaps. Entries are immutable once
	// stored: slices handed to raft may still refer to them, and in the
	// simulator a message carrying them may still be in flight, so changes
	// always build a new backing array rather than overwrite one.
	ents []pb.Entry
}

var _ raft.Storage = (*Log)(nil)

// New returns the empty log of a group that has never run.
func New(group uint64) *Log {
	return &Log{group: group, ents: []pb.Entry{{}}}
}

// Group is the Raft group the log belongs to.
func (l *Log) Group() uint64 { return l.group }

// InitialState implements raft.Storage.
func (l *Log) InitialState() (pb.HardState, pb.ConfState, error) {
	return l.hs, l.snap.Metadata.ConfState, nil
}

// HardState is the last hard state stored.
func (l *Log) HardState() pb.HardState { return l.hs }

// Entries implements raft.Storage.
func (l *Log) Entries(lo, hi, maxSize uint64) ([]pb.Entry, error) {
	offset := l.ents[0].Index
	if lo <= offset {
		return nil, raft.ErrCompacted
	}
	if hi > l.lastIndex()+1 {
		panic(fmt.Sprintf("raftlog: group %d: entries [%d, %d) beyond the last index %d", l.group, lo, hi, l.lastIndex()))
	}
	if len(l.ents) == 1 {
		return nil, raft.ErrUnavailable
	}
	ents := l.ents[lo-offset : hi-offset]
	var size uint64
	for i := range ents {
		size += uint64(ents[i].Size())
		if i > 0 && size > maxSize {
			ents = ents[:i]
			break
		}
	}
	// The full slice expression makes an append by the caller copy rather
	// than overwrite the entries after these.
	return ents[:len(ents):len(ents)], nil
}

// Term implements raft.Storage.
func (l *Log) Term(i uint64) (uint64, error) {
	offset := l.ents[0].Index
	if i < offset {
		return 0, raft.ErrCompacted
	}
	if i-offset >= uint64(len(l.ents)) {
		return 0, raft.ErrUnavailable
	}
	return l.ents[i-offset].Term, nil
}

// LastIndex implements raft.Storage.
func (l *Log) LastIndex() (uint64, error) { return l.lastIndex(), nil }

func (l *Log) lastIndex() uint64 { return l.ents[0].Index + uint64(len(l.ents)) - 1 }

// FirstIndex implements raft.Storage.
func (l *Log) FirstIndex() (uint64, error) { return l.ents[0].Index + 1, nil }

// Snapshot implements raft.Storage: the latest snapshot, created locally or
// received from a leader.
func (l *Log) Snapshot() (pb.Snapshot, error) { return l.snap, nil }

// SetHardState stores hs.
func (l *Log) SetHardState(b *Batch, hs pb.HardState) {
	l.hs = hs
	b.hardState(l.group, &l.hs)
}

// Append stores entries, replacing any stored entries from the first new
// index on (a new leader may overwrite an uncommitted suffix). Entries at
// or below the snapshot are ignored.
func (l *Log) Append(b *Batch, entries []pb.Entry) {
	if entries = l.append(entries); len(entries) > 0 {
		b.entries(l.group, entries)
	}
}

// append applies entries to memory and returns those it kept.
func (l *Log) append(entries []pb.Entry) []pb.Entry {
	if len(entries) == 0 {
		return nil
	}
	first := l.ents[0].Index + 1
	if last := entries[len(entries)-1].Index; last < first {
		return nil
	}
	if entries[0].Index < first {
		entries = entries[first-entries[0].Index:]
	}
	offset := entries[0].Index - l.ents[0].Index
	switch {
	case offset > uint64(len(l.ents)):
		panic(fmt.Sprintf("raftlog: group %d: appending at %d leaves a gap after %d", l.group, entries[0].Index, l.lastIndex()))
	case offset < uint64(len(l.ents)):
		// Overwriting a suffix: build a new array so that nothing handed
		// out changes.
		l.ents = append(l.ents[:offset:offset], entries...)
	default:
		l.ents = append(l.ents, entries...)
	}
	return entries
}

// ApplySnapshot replaces the log with snap, received from a leader.
func (l *Log) ApplySnapshot(b *Batch, snap pb.Snapshot) error {
	if snap.Metadata.Index <= l.snap.Metadata.Index {
		return raft.ErrSnapOutOfDate
	}
	l.install(snap)
	b.snapshot(kindInstall, l.group, &snap)
	return nil
}

func (l *Log) install(snap pb.Snapshot) {
	l.snap = snap
	l.ents = []pb.Entry{{Index: snap.Metadata.Index, Term: snap.Metadata.Term}}
}

// CreateSnapshot records a snapshot of the state machine at applied index i
// with configuration cs, and discards the entries up to i: a follower that
// needs them gets the snapshot instead.
func (l *Log) CreateSnapshot(b *Batch, i uint64, cs pb.ConfState, data []byte) (pb.Snapshot, error) {
	if i <= l.ents[0].Index {
		return pb.Snapshot{}, raft.ErrSnapOutOfDate
	}
	if i > l.lastIndex() {
		panic(fmt.Sprintf("raftlog: group %d: snapshot at %d beyond the last index %d", l.group, i, l.lastIndex()))
	}
	snap := pb.Snapshot{Data: data, Metadata: pb.SnapshotMetadata{Index: i, Term: l.ents[i-l.ents[0].Index].Term, ConfState: cs}}
	l.compact(snap)
	b.snapshot(kindCompact, l.group, &snap)
	return snap, nil
}

// compact makes snap, taken at an index the log holds, the log's snapshot
// and drops the entries it covers.
func (l *Log) compact(snap pb.Snapshot) {
	k := snap.Metadata.Index - l.ents[0].Index
	ents := make([]pb.Entry, 1, uint64(len(l.ents))-k)
	ents[0] = pb.Entry{Index: snap.Metadata.Index, Term: snap.Metadata.Term}
	l.snap = snap
	l.ents = append(ents, l.ents[k+1:]...)
}

// replay applies one record read back from the WAL.
func (l *Log) replay(r *record) error {
	switch r.kind {
	case kindEntries:
		if len(r.ents) > 0 && r.ents[0].Index > l.lastIndex()+1 {
			return fmt.Errorf("entries from %d leave a gap after %d", r.ents[0].Index, l.lastIndex())
		}
		l.append(r.ents)
	case kindHardState:
		l.hs = r.hs
	case kindInstall:
		l.install(r.snap)
	case kindCompact:
		if i := r.snap.Metadata.Index; i <= l.ents[0].Index || i > l.lastIndex() {
			return fmt.Errorf("compaction at %d outside the log (%d, %d]", i, l.ents[0].Index, l.lastIndex())
		}
		l.compact(r.snap)
	}
	return nil
}

// checkpoint records the whole log: what a new WAL segment starts with so
// that older segments can go. It records the hard state even when empty:
// a crash can undo the removal of an older segment, whose replay comes
// first and must be overwritten, whatever it said.
func (l *Log) checkpoint(b *Batch) {
	b.snapshot(kindInstall, l.group, &l.snap)
	b.hardState(l.group, &l.hs)
	if len(l.ents) > 1 {
		b.entries(l.group, l.ents[1:])
	}
}
