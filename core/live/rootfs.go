package live

import (
	"io"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// rootFS is the real disk seen from a data directory: the engine opens
// "wal" and "data" relative to it, as it does on its simulated disk.
type rootFS struct {
	vfs.FS
	root string
}

func newRootFS(root string) vfs.FS { return rootFS{FS: vfs.Default, root: root} }

func (f rootFS) path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(f.root, name)
}

func (f rootFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return f.FS.Create(f.path(name), c)
}
func (f rootFS) Link(oldname, newname string) error {
	return f.FS.Link(f.path(oldname), f.path(newname))
}
func (f rootFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return f.FS.Open(f.path(name), opts...)
}
func (f rootFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return f.FS.OpenReadWrite(f.path(name), c, opts...)
}
func (f rootFS) OpenDir(name string) (vfs.File, error) { return f.FS.OpenDir(f.path(name)) }
func (f rootFS) Remove(name string) error              { return f.FS.Remove(f.path(name)) }
func (f rootFS) RemoveAll(name string) error           { return f.FS.RemoveAll(f.path(name)) }
func (f rootFS) Rename(oldname, newname string) error {
	return f.FS.Rename(f.path(oldname), f.path(newname))
}
func (f rootFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return f.FS.ReuseForWrite(f.path(oldname), f.path(newname), c)
}
func (f rootFS) MkdirAll(dir string, perm os.FileMode) error { return f.FS.MkdirAll(f.path(dir), perm) }
func (f rootFS) Lock(name string) (io.Closer, error)         { return f.FS.Lock(f.path(name)) }
func (f rootFS) List(dir string) ([]string, error)           { return f.FS.List(f.path(dir)) }
func (f rootFS) Stat(name string) (vfs.FileInfo, error)      { return f.FS.Stat(f.path(name)) }
func (f rootFS) GetDiskUsage(path string) (vfs.DiskUsage, error) {
	return f.FS.GetDiskUsage(f.path(path))
}
func (f rootFS) Unwrap() vfs.FS { return f.FS }
