package raftlog

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// WAL is a node's write-ahead log: numbered segment files in one
// directory, each a sequence of records (record.go). The newest segment
// begins with a checkpoint, the whole state of every group's log, so a
// segment is never needed once a newer one is durable; rotation writes a
// checkpoint into a new segment and removes the older ones.
type WAL struct {
	fs        vfs.FS
	dir       string
	seq       uint64 // the current segment's number
	f         vfs.File
	size      int64 // bytes in the current segment
	baseSize  int64 // of the checkpoint that began it
	logs      []*Log
	scratch   Batch
	rotations int
	// rotateAt is the size past which a segment is rotated, unless its
	// checkpoint is a large share of it; tests lower it.
	rotateAt int64
}

// segmentMin is the size past which a segment is rotated, unless the
// checkpoint alone is a large share of it.
const segmentMin = 1 << 20

// segmentSuffix ends every segment's name: 16 hex digits, then ".wal".
const segmentSuffix = ".wal"

func segmentName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segmentSuffix) }

// Open opens the WAL in dir on fs, creating it if needed, and replays it
// into the logs of every group it holds (Log returns them). It then begins
// a new segment with a checkpoint, so nothing is ever appended after a
// record that a crash tore.
func Open(fs vfs.FS, dir string) (*WAL, error) {
	w := &WAL{fs: fs, dir: dir, rotateAt: segmentMin}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	if err := syncDir(fs, fs.PathDir(dir)); err != nil {
		return nil, err
	}
	segs, err := w.segments()
	if err != nil {
		return nil, err
	}
	for i, seq := range segs {
		if err := w.replaySegment(seq, i == len(segs)-1); err != nil {
			return nil, err
		}
	}
	if len(segs) > 0 {
		w.seq = segs[len(segs)-1]
	}
	if err := w.rotate(); err != nil {
		return nil, err
	}
	return w, nil
}

// segments lists the segment numbers in dir, oldest first.
func (w *WAL) segments() ([]uint64, error) {
	names, err := w.fs.List(w.dir)
	if err != nil {
		return nil, fmt.Errorf("raftlog: list %s: %w", w.dir, err)
	}
	var segs []uint64
	for _, name := range names {
		hex, ok := strings.CutSuffix(name, segmentSuffix)
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(hex, 16, 64)
		if err != nil || len(hex) != 16 {
			return nil, fmt.Errorf("raftlog: %s: %q is not a segment name", w.dir, name)
		}
		segs = append(segs, seq)
	}
	slices.Sort(segs)
	return segs, nil
}

// replaySegment applies a segment's records. A torn record may end only the
// newest segment; anywhere else the WAL is damaged and the node must not
// start on it.
func (w *WAL) replaySegment(seq uint64, newest bool) error {
	name := w.fs.PathJoin(w.dir, segmentName(seq))
	f, err := w.fs.Open(name)
	if err != nil {
		return fmt.Errorf("raftlog: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("raftlog: %w", err)
	}
	buf := make([]byte, st.Size())
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("raftlog: read %s: %w", name, err)
	}
	for off := 0; off < len(buf); {
		r, n, err := nextRecord(buf[off:])
		if errors.Is(err, errTorn) {
			if newest {
				return nil // the write a crash interrupted
			}
			return fmt.Errorf("raftlog: %s: damaged record at offset %d, and newer segments follow", name, off)
		}
		if err != nil {
			return fmt.Errorf("raftlog: %s: record at offset %d: %w", name, off, err)
		}
		if err := w.Log(r.group).replay(&r); err != nil {
			return fmt.Errorf("raftlog: %s: record at offset %d: group %d: %w", name, off, r.group, err)
		}
		off += n
	}
	return nil
}

// Log returns the log of a group, empty if the WAL holds nothing of it.
func (w *WAL) Log(group uint64) *Log {
	i, found := slices.BinarySearchFunc(w.logs, group, func(l *Log, g uint64) int { return cmpUint(l.group, g) })
	if !found {
		w.logs = slices.Insert(w.logs, i, New(group))
	}
	return w.logs[i]
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Commit writes the batch to the current segment, and syncs it if sync is
// set (which makes every earlier write durable too). A full segment is
// then rotated. The batch is reset for reuse.
func (w *WAL) Commit(b *Batch, sync bool) error {
	if b.Empty() {
		return nil
	}
	if _, err := w.f.Write(b.buf); err != nil {
		return fmt.Errorf("raftlog: write %s: %w", segmentName(w.seq), err)
	}
	w.size += int64(len(b.buf))
	b.Reset()
	if sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("raftlog: sync %s: %w", segmentName(w.seq), err)
		}
	}
	if w.size >= max(w.rotateAt, 4*w.baseSize) {
		return w.rotate()
	}
	return nil
}

// rotate begins a new segment with a checkpoint of every log, makes it
// durable, and removes the older segments, which it replaces.
func (w *WAL) rotate() error {
	old := w.f
	w.seq++
	name := w.fs.PathJoin(w.dir, segmentName(w.seq))
	f, err := w.fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("raftlog: %w", err)
	}
	b := &w.scratch
	for _, l := range w.logs {
		l.checkpoint(b)
	}
	size := int64(b.Len())
	if _, err := f.Write(b.buf); err != nil {
		return fmt.Errorf("raftlog: write %s: %w", name, err)
	}
	b.Reset()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("raftlog: sync %s: %w", name, err)
	}
	if err := syncDir(w.fs, w.dir); err != nil {
		return err
	}
	if old != nil {
		old.Close()
	}
	w.f, w.size, w.baseSize = f, size, size
	w.rotations++
	segs, err := w.segments()
	if err != nil {
		return err
	}
	for _, seq := range segs {
		if seq < w.seq {
			// A removal that a crash undoes is harmless: replay reads the
			// old segment first and the checkpoint replaces what it says.
			if err := w.fs.Remove(w.fs.PathJoin(w.dir, segmentName(seq))); err != nil {
				return fmt.Errorf("raftlog: %w", err)
			}
		}
	}
	return nil
}

// Rotations counts the segments begun since Open.
func (w *WAL) Rotations() int { return w.rotations }

// Close closes the current segment.
func (w *WAL) Close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("raftlog: open dir %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("raftlog: sync dir %q: %w", dir, err)
	}
	return nil
}
