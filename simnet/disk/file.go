package disk

import (
	"errors"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// file is an open handle on a node. Every field but fs, name and path is
// guarded by fs.mu; n is nil once the handle is closed.
type file struct {
	fs   *FS
	n    *node
	name string // the base name, as Stat reports it
	path string // the name it was opened under, for the injector
	pos  int

	read, write bool
}

var _ vfs.File = (*file)(nil)

var (
	errNotReadable = errors.New("disk: file was not opened for reading")
	errNotWritable = errors.New("disk: file was not opened for writing")
	errIsDir       = errors.New("disk: is a directory")
	errNegOffset   = errors.New("disk: negative offset")
)

// usable reports why f cannot be read (write false) or written (write true).
// fs.mu must be held.
func (f *file) usable(write bool) error {
	switch {
	case f.n == nil:
		return os.ErrClosed
	case write && !f.write:
		return errNotWritable
	case !write && !f.read:
		return errNotReadable
	case f.n.isDir:
		return errIsDir
	}
	return nil
}

// Close implements vfs.File. Closing twice returns os.ErrClosed, as an
// os.File does.
func (f *file) Close() error {
	if err := f.fs.check(OpClose, f.path); err != nil {
		return err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.n == nil {
		return os.ErrClosed
	}
	f.n = nil
	return nil
}

// Read implements vfs.File.
func (f *file) Read(p []byte) (int, error) {
	if err := f.fs.check(OpRead, f.path); err != nil {
		return 0, err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable(false); err != nil {
		return 0, err
	}
	if f.pos >= len(f.n.data) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[f.pos:])
	f.pos += n
	return n, nil
}

// ReadAt implements vfs.File.
func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpRead, f.path); err != nil {
		return 0, err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable(false); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, errNegOffset
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Write implements vfs.File.
func (f *file) Write(p []byte) (int, error) {
	if err := f.fs.check(OpWrite, f.path); err != nil {
		return 0, err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable(true); err != nil {
		return 0, err
	}
	f.n.writeAt(p, f.pos)
	f.pos += len(p)
	return len(p), nil
}

// WriteAt implements vfs.File. It does not move the handle's position.
func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpWrite, f.path); err != nil {
		return 0, err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.usable(true); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, errNegOffset
	}
	f.n.writeAt(p, int(off))
	return len(p), nil
}

// writeAt writes p at off, filling any gap past the end with zeros, and
// widens the dirty range to cover both the write and the growth.
func (n *node) writeAt(p []byte, off int) {
	lo, hi := off, off+len(p)
	if old := len(n.data); hi > old {
		n.data = slices.Grow(n.data, hi-old)[:hi]
		if off > old {
			clear(n.data[old:off])
		}
		lo = min(lo, old)
	}
	copy(n.data[off:], p)
	if lo >= hi {
		return
	}
	if n.dirtyLo >= n.dirtyHi {
		n.dirtyLo, n.dirtyHi = lo, hi
		return
	}
	n.dirtyLo, n.dirtyHi = min(n.dirtyLo, lo), max(n.dirtyHi, hi)
}

// sync makes the synced image equal to data by copying only the dirty
// range: data never shrinks (Create makes a new node), so the growth since
// the last sync lies inside the dirty range.
func (n *node) sync() {
	if n.dirtyLo >= n.dirtyHi {
		return
	}
	if grow := len(n.data) - len(n.synced); grow > 0 {
		n.synced = slices.Grow(n.synced, grow)[:len(n.data)]
	}
	copy(n.synced[n.dirtyLo:n.dirtyHi], n.data[n.dirtyLo:n.dirtyHi])
	n.dirtyLo, n.dirtyHi = 0, 0
}

// Sync implements vfs.File. On a file it makes the current contents the
// ones a crash keeps; on a directory (see FS.OpenDir), the current entries.
func (f *file) Sync() error {
	if err := f.fs.check(OpSync, f.path); err != nil {
		return err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.n == nil {
		return os.ErrClosed
	}
	if f.n.isDir {
		f.n.syncedChildren = maps.Clone(f.n.children)
		return nil
	}
	f.n.sync()
	return nil
}

// SyncData implements vfs.File; it is Sync, as in MemFS.
func (f *file) SyncData() error { return f.Sync() }

// SyncTo implements vfs.File. Like MemFS it syncs nothing and says so
// (fullSync is false), which SyncTo's contract allows: it promises no
// durability.
func (f *file) SyncTo(int64) (fullSync bool, err error) {
	if err := f.fs.check(OpSync, f.path); err != nil {
		return false, err
	}
	return false, nil
}

// Preallocate implements vfs.File; it does nothing.
func (*file) Preallocate(offset, length int64) error { return nil }

// Prefetch implements vfs.File; it does nothing.
func (*file) Prefetch(offset, length int64) error { return nil }

// Fd implements vfs.File: there is no OS file descriptor.
func (*file) Fd() uintptr { return vfs.InvalidFd }

// Stat implements vfs.File.
func (f *file) Stat() (vfs.FileInfo, error) {
	if err := f.fs.check(OpStat, f.path); err != nil {
		return nil, err
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.n == nil {
		return nil, os.ErrClosed
	}
	return f.info(), nil
}

// info describes f's node. fs.mu must be held.
func (f *file) info() *fileInfo {
	return &fileInfo{name: f.name, size: int64(len(f.n.data)), isDir: f.n.isDir}
}

// fileInfo implements vfs.FileInfo. Modification times are not simulated:
// ModTime is the zero time, so nothing time-dependent reaches the engine.
type fileInfo struct {
	name  string
	size  int64
	isDir bool
}

func (fi *fileInfo) Name() string           { return fi.name }
func (fi *fileInfo) Size() int64            { return fi.size }
func (fi *fileInfo) ModTime() time.Time     { return time.Time{} }
func (fi *fileInfo) IsDir() bool            { return fi.isDir }
func (fi *fileInfo) Sys() any               { return nil }
func (fi *fileInfo) DeviceID() vfs.DeviceID { return vfs.DeviceID{} }
func (fi *fileInfo) Mode() os.FileMode {
	if fi.isDir {
		return os.ModeDir | 0o755
	}
	return 0o755
}
