// Package disk is the simulator's disk: an in-memory pebble vfs.FS that can
// crash, keeping exactly what was synced.
//
// Its semantics are those of pebble's vfs.NewCrashableMem with
// CrashClone(vfs.CrashCloneCfg{}): a file's contents survive a crash as of
// its last Sync, and a directory's entries as of its last sync through
// OpenDir(dir).Sync(). A file removed or renamed after its directory was
// synced is back under its old name after a crash, with the contents it had
// at its own last Sync. The difference is cost: vfs.MemFS copies the whole
// file on every Sync, so a synced commit costs time proportional to the size
// of the WAL; here a Sync copies only the bytes written since the previous
// one.
//
// One deliberate departure from MemFS: a Rename whose destination cannot be
// resolved (a missing parent directory, a directory moved into itself) fails
// without removing the source, as on a real file system. MemFS unlinks the
// source first and loses the file.
package disk

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync" //detlint:allow sync pebble calls the FS from its own goroutines (WAL flusher, flushes, cleanup)

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FS is a crashable in-memory file system implementing pebble's vfs.FS. It
// is safe for concurrent use. The zero value is not usable; call New.
type FS struct {
	mu     sync.Mutex
	root   *node
	locks  map[string]bool
	inject Injector
}

var _ vfs.FS = (*FS)(nil)

// node is a file or a directory. Directory entries point at nodes, so a hard
// link is two entries sharing a node, and a directory's synced entries keep
// a removed file's node, and with it the file's synced contents, alive.
type node struct {
	isDir bool

	// Directories.
	children       map[string]*node
	syncedChildren map[string]*node // nil until the directory is first synced

	// Files. synced is the image a crash keeps; it never shares memory with
	// data. [dirtyLo, dirtyHi) covers every byte of data that may differ from
	// synced, including any growth since the last sync; it is empty when
	// dirtyLo >= dirtyHi.
	data             []byte
	synced           []byte
	dirtyLo, dirtyHi int
}

func newDir() *node { return &node{isDir: true, children: make(map[string]*node)} }

// New returns an empty file system holding only its root directory.
func New() *FS {
	return &FS{root: newDir(), locks: make(map[string]bool)}
}

// Crash returns a new file system holding what would survive if the machine
// lost power now: each directory's entries as of its last sync and each
// file's contents as of its last sync. The receiver is unaffected and keeps
// working, so an abandoned incarnation holding files open does no harm; it
// can no longer change the returned file system. Locks and the injector are
// not carried over.
//
// As with MemFS, the entries of a hard-linked file become independent
// copies in the returned file system.
func (fs *FS) Crash() *FS {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return &FS{root: fs.root.crashClone(), locks: make(map[string]bool)}
}

func (n *node) crashClone() *node {
	if !n.isDir {
		return &node{data: slices.Clone(n.synced), synced: slices.Clone(n.synced)}
	}
	c := &node{isDir: true, children: make(map[string]*node, len(n.syncedChildren))}
	for name, child := range n.syncedChildren { //detlint:unordered fills a map; the order of insertion is not observable
		c.children[name] = child.crashClone()
	}
	c.syncedChildren = maps.Clone(c.children)
	return c
}

// Injector decides whether an operation fails. It is called before op on
// path takes effect; a non-nil error is returned by the operation, which
// then has no effect. For operations on two names (Link, Rename,
// ReuseForWrite) path is the old name; for operations on an open file it is
// the name the file was opened under. The injector is called without the
// file system's lock held and, because pebble uses the file system from
// several goroutines, possibly concurrently.
type Injector func(op Op, path string) error

// Op names an operation an Injector can fail.
type Op uint8

// The operations an Injector is consulted on.
const (
	OpCreate        Op = iota + 1 // FS.Create
	OpLink                        // FS.Link
	OpOpen                        // FS.Open, FS.OpenReadWrite
	OpOpenDir                     // FS.OpenDir
	OpRemove                      // FS.Remove, FS.RemoveAll
	OpRename                      // FS.Rename
	OpReuseForWrite               // FS.ReuseForWrite
	OpMkdirAll                    // FS.MkdirAll
	OpLock                        // FS.Lock
	OpList                        // FS.List
	OpStat                        // FS.Stat, File.Stat
	OpRead                        // File.Read, File.ReadAt
	OpWrite                       // File.Write, File.WriteAt
	OpSync                        // File.Sync, File.SyncData, File.SyncTo, on files and directories
	OpClose                       // File.Close
)

var opNames = [...]string{
	OpCreate:        "create",
	OpLink:          "link",
	OpOpen:          "open",
	OpOpenDir:       "opendir",
	OpRemove:        "remove",
	OpRename:        "rename",
	OpReuseForWrite: "reuseforwrite",
	OpMkdirAll:      "mkdirall",
	OpLock:          "lock",
	OpList:          "list",
	OpStat:          "stat",
	OpRead:          "read",
	OpWrite:         "write",
	OpSync:          "sync",
	OpClose:         "close",
}

// String returns the operation's lower-case name, such as "sync".
func (op Op) String() string {
	if int(op) < len(opNames) && opNames[op] != "" {
		return opNames[op]
	}
	return "op(" + strconv.Itoa(int(op)) + ")"
}

// SetInjector makes inj decide, from now on, which operations fail. A nil
// inj lets every operation through.
func (fs *FS) SetInjector(inj Injector) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.inject = inj
}

// check consults the injector. It runs without fs.mu so that an injector
// may itself use the file system.
func (fs *FS) check(op Op, name string) error {
	fs.mu.Lock()
	inj := fs.inject
	fs.mu.Unlock()
	if inj == nil {
		return nil
	}
	return inj(op, name)
}

var (
	errEmptyName  = errors.New("disk: empty file name")
	errNotDir     = errors.New("disk: not a directory")
	errNotEmpty   = fmt.Errorf("disk: directory not empty: %w", os.ErrExist) // as ENOTEMPTY is
	errLocked     = errors.New("disk: file already locked")
	errIntoItself = errors.New("disk: cannot move a directory into itself")
)

// walk resolves fullname the way MemFS does, calling f for every component
// with the directory holding it; final is set for the last one. A trailing
// separator yields a last component of "". fs.mu must be held.
func (fs *FS) walk(fullname string, f func(dir *node, frag string, final bool) error) error {
	fullname = strings.TrimLeft(fullname, "/")
	if fullname == "." {
		fullname = ""
	}
	dir := fs.root
	for {
		frag, rest, found := strings.Cut(fullname, "/")
		if err := f(dir, frag, !found); err != nil {
			return err
		}
		if !found {
			return nil
		}
		rest = strings.TrimLeft(rest, "/")
		child := dir.children[frag]
		if child == nil {
			return &os.PathError{Op: "open", Path: fullname, Err: os.ErrNotExist}
		}
		if !child.isDir {
			return &os.PathError{Op: "open", Path: fullname, Err: errNotDir}
		}
		dir, fullname = child, rest
	}
}

// lookup resolves fullname to the directory holding its last component and
// that component. fs.mu must be held.
func (fs *FS) lookup(fullname string) (dir *node, frag string, err error) {
	err = fs.walk(fullname, func(d *node, f string, final bool) error {
		if final {
			dir, frag = d, f
		}
		return nil
	})
	return dir, frag, err
}

// Create implements vfs.FS. Like MemFS, it replaces whatever the name
// pointed at with a new, empty file.
func (fs *FS) Create(name string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	if err := fs.check(OpCreate, name); err != nil {
		return nil, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.create(name)
}

func (fs *FS) create(name string) (*file, error) {
	dir, frag, err := fs.lookup(name)
	if err != nil {
		return nil, err
	}
	if frag == "" {
		return nil, errEmptyName
	}
	n := &node{}
	dir.children[frag] = n
	return &file{fs: fs, n: n, name: frag, path: name, read: true, write: true}, nil
}

// Link implements vfs.FS.
func (fs *FS) Link(oldname, newname string) error {
	if err := fs.check(OpLink, oldname); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, frag, err := fs.lookup(oldname)
	if err != nil {
		return err
	}
	if frag == "" {
		return errEmptyName
	}
	n := dir.children[frag]
	if n == nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: os.ErrNotExist}
	}
	dir, frag, err = fs.lookup(newname)
	if err != nil {
		return err
	}
	if frag == "" {
		return errEmptyName
	}
	if _, ok := dir.children[frag]; ok {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: os.ErrExist}
	}
	dir.children[frag] = n
	return nil
}

// open returns a handle on an existing node. As in MemFS, a name ending in a
// separator opens the directory itself, neither readable nor writable, and
// directories open like files. fs.mu must be held.
func (fs *FS) open(name string, write bool) (*file, error) {
	dir, frag, err := fs.lookup(name)
	if err != nil {
		return nil, err
	}
	if frag == "" {
		return &file{fs: fs, n: dir, name: "/", path: name}, nil
	}
	n := dir.children[frag]
	if n == nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}
	return &file{fs: fs, n: n, name: frag, path: name, read: true, write: write}, nil
}

// Open implements vfs.FS.
func (fs *FS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	if err := fs.check(OpOpen, name); err != nil {
		return nil, err
	}
	fs.mu.Lock()
	f, err := fs.open(name, false)
	fs.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o.Apply(f)
	}
	return f, nil
}

// OpenReadWrite implements vfs.FS.
func (fs *FS) OpenReadWrite(
	name string, _ vfs.DiskWriteCategory, opts ...vfs.OpenOption,
) (vfs.File, error) {
	if err := fs.check(OpOpen, name); err != nil {
		return nil, err
	}
	fs.mu.Lock()
	f, err := fs.open(name, true)
	if errors.Is(err, os.ErrNotExist) {
		f, err = fs.create(name)
	}
	fs.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		o.Apply(f)
	}
	return f, nil
}

// OpenDir implements vfs.FS. The handle's Sync makes the directory's current
// entries the ones a crash keeps.
func (fs *FS) OpenDir(name string) (vfs.File, error) {
	if err := fs.check(OpOpenDir, name); err != nil {
		return nil, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.open(name, false)
}

// Remove implements vfs.FS.
func (fs *FS) Remove(name string) error {
	if err := fs.check(OpRemove, name); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, frag, err := fs.lookup(name)
	if err != nil {
		return err
	}
	if frag == "" {
		return errEmptyName
	}
	child, ok := dir.children[frag]
	if !ok {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	if len(child.children) > 0 {
		return &os.PathError{Op: "remove", Path: name, Err: errNotEmpty}
	}
	delete(dir.children, frag)
	return nil
}

// RemoveAll implements vfs.FS. Like os.RemoveAll, it succeeds when name or
// its parent does not exist.
func (fs *FS) RemoveAll(name string) error {
	if err := fs.check(OpRemove, name); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, frag, err := fs.lookup(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if frag == "" {
		return errEmptyName
	}
	delete(dir.children, frag)
	return nil
}

// Rename implements vfs.FS. It replaces whatever newname pointed at.
func (fs *FS) Rename(oldname, newname string) error {
	if err := fs.check(OpRename, oldname); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.rename(oldname, newname)
}

func (fs *FS) rename(oldname, newname string) error {
	oldDir, oldFrag, err := fs.lookup(oldname)
	if err != nil {
		return err
	}
	if oldFrag == "" {
		return errEmptyName
	}
	n := oldDir.children[oldFrag]
	if n == nil {
		return &os.PathError{Op: "open", Path: oldname, Err: os.ErrNotExist}
	}
	var newDir *node
	var newFrag string
	err = fs.walk(newname, func(d *node, f string, final bool) error {
		if d == n {
			return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: errIntoItself}
		}
		if final {
			newDir, newFrag = d, f
		}
		return nil
	})
	if err != nil {
		return err
	}
	if newFrag == "" {
		return errEmptyName
	}
	delete(oldDir.children, oldFrag)
	newDir.children[newFrag] = n
	return nil
}

// ReuseForWrite implements vfs.FS: it renames oldname to newname and opens
// it for writing from the start, without truncating it.
func (fs *FS) ReuseForWrite(oldname, newname string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	if err := fs.check(OpReuseForWrite, oldname); err != nil {
		return nil, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.rename(oldname, newname); err != nil {
		return nil, err
	}
	f, err := fs.open(newname, true)
	if err != nil {
		return nil, err
	}
	f.read = false
	return f, nil
}

// MkdirAll implements vfs.FS.
func (fs *FS) MkdirAll(dir string, _ os.FileMode) error {
	if err := fs.check(OpMkdirAll, dir); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.walk(dir, func(d *node, frag string, final bool) error {
		if frag == "" {
			if final {
				return nil
			}
			return errEmptyName
		}
		child := d.children[frag]
		if child == nil {
			d.children[frag] = newDir()
			return nil
		}
		if !child.isDir {
			return &os.PathError{Op: "mkdir", Path: dir, Err: errNotDir}
		}
		return nil
	})
}

// Lock implements vfs.FS. Like MemFS, it creates (and so truncates) the
// file, and a second Lock of the same name fails until the first is
// released.
func (fs *FS) Lock(name string) (io.Closer, error) {
	if err := fs.check(OpLock, name); err != nil {
		return nil, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.locks[name] {
		return nil, &os.PathError{Op: "lock", Path: name, Err: errLocked}
	}
	f, err := fs.create(name)
	if err != nil {
		return nil, err
	}
	fs.locks[name] = true
	return &lock{f: f, name: name}, nil
}

type lock struct {
	f    *file
	name string
}

func (l *lock) Close() error {
	if l.f == nil {
		return nil
	}
	fs := l.f.fs
	fs.mu.Lock()
	delete(fs.locks, l.name)
	l.f.n = nil
	fs.mu.Unlock()
	l.f = nil
	return nil
}

// List implements vfs.FS. Names are sorted.
func (fs *FS) List(dir string) ([]string, error) {
	if err := fs.check(OpList, dir); err != nil {
		return nil, err
	}
	if !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, _, err := fs.lookup(dir)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(d.children)), nil
}

// Stat implements vfs.FS.
func (fs *FS) Stat(name string) (vfs.FileInfo, error) {
	if err := fs.check(OpStat, name); err != nil {
		return nil, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, err := fs.open(name, false)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			pe.Op = "stat"
		}
		return nil, err
	}
	return f.info(), nil
}

// PathBase implements vfs.FS; paths use forward slashes.
func (*FS) PathBase(p string) string { return path.Base(p) }

// PathJoin implements vfs.FS; paths use forward slashes.
func (*FS) PathJoin(elem ...string) string { return path.Join(elem...) }

// PathDir implements vfs.FS; paths use forward slashes.
func (*FS) PathDir(p string) string { return path.Dir(p) }

// GetDiskUsage implements vfs.FS. Like MemFS, it reports
// vfs.ErrUnsupported, which pebble tolerates.
func (*FS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	return vfs.DiskUsage{}, vfs.ErrUnsupported
}

// Unwrap implements vfs.FS; FS wraps nothing.
func (*FS) Unwrap() vfs.FS { return nil }
