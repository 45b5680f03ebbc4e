package simnet

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet/disk"
)

// ErrInjected is wrapped by every error a disk fault injects (SetDiskFaults):
// errors.Is(err, ErrInjected) tells an injected fault from a real one.
var ErrInjected = errors.New("simnet: injected I/O error")

// DiskFaults makes a node's disk fail operations (SetDiskFaults).
//
// Only files that the node touches solely from its event loop (Receive,
// Handle, Start) may be faulted: the world decides every fault, and draws
// it from the node's seeded stream, while the node's code runs, and a file
// that a goroutine touches would make those decisions depend on goroutine
// timing. The engine's Raft write-ahead log ("wal") qualifies; pebble's
// files ("data") do not, since pebble writes its own WAL from a goroutine.
// The injector returns at once, touching nothing shared, for every path
// outside Under, so pebble's goroutines may keep calling it.
type DiskFaults struct {
	// Ops are the operations that fail; DiskOps maps the words write,
	// sync and read to them. No Ops clears the faults.
	Ops []disk.Op
	// Probability that each such operation fails, drawn independently for
	// every call: 1 fails every one, 0 none.
	Probability float64
	// Under is the directory whose files (and itself) are faulted, such as
	// "wal", relative to the disk's root. It may not be the root.
	Under string
}

// diskOps lists every operation a fault may name, in disk.Op order.
var diskOps = []disk.Op{
	disk.OpCreate, disk.OpLink, disk.OpOpen, disk.OpOpenDir, disk.OpRemove, disk.OpRename,
	disk.OpReuseForWrite, disk.OpMkdirAll, disk.OpLock, disk.OpList, disk.OpStat,
	disk.OpRead, disk.OpWrite, disk.OpSync, disk.OpClose,
}

// DiskOps returns the disk operations that words name: "write" is
// File.Write and File.WriteAt (disk.OpWrite); "sync" is File.Sync,
// SyncData and SyncTo, on files and directories (disk.OpSync); "read" is
// File.Read and File.ReadAt (disk.OpRead). Any other disk.Op is named as
// its String method spells it ("open", "create", "remove", ...).
func DiskOps(words ...string) ([]disk.Op, error) {
	ops := make([]disk.Op, 0, len(words))
	for _, word := range words {
		i := slices.IndexFunc(diskOps, func(op disk.Op) bool { return op.String() == word })
		if i < 0 {
			return nil, fmt.Errorf("simnet: unknown disk operation %q (want write, sync, read or another disk.Op name)", word)
		}
		ops = append(ops, diskOps[i])
	}
	return ops, nil
}

// diskFaults is a node's DiskFaults, checked and ready for the injector.
// It never changes once installed: pebble's goroutines read it.
type diskFaults struct {
	n     *node
	ops   uint32 // bit 1<<op for every faulted op
	p     float64
	under string // cleaned, without leading or trailing separators
}

// SetDiskFaults makes the node's disk fail, from now on, the operations in
// f.Ops on the files under f.Under, each with f.Probability, drawn from the
// node's own stream (derived from the seed and the node's name). Each
// failure returns an error wrapping ErrInjected, naming the operation and
// the path; it is traced as disk.error and counted (DiskErrors). The
// faults stay through Kill, Restart and crashes until the zero DiskFaults
// (or any with no Ops) clears them. Every call is traced as disk.faults.
func (w *World) SetDiskFaults(id env.NodeID, f DiskFaults) error {
	n := w.mustNode(id)
	if len(f.Ops) == 0 {
		n.faults = nil
		n.disk.SetInjector(nil)
		w.trace(n.id, "disk.faults", env.Str("ops", ""), env.Float("probability", 0), env.Str("under", ""))
		return nil
	}
	if !(f.Probability >= 0 && f.Probability <= 1) {
		return fmt.Errorf("simnet: disk fault probability %v must be between 0 and 1", f.Probability)
	}
	under := path.Clean(strings.TrimLeft(f.Under, "/"))
	if under == "." || under == ".." || strings.HasPrefix(under, "../") {
		return fmt.Errorf("simnet: disk faults under %q: name a directory below the root, such as \"wal\"", f.Under)
	}
	df := &diskFaults{n: n, p: f.Probability, under: under}
	for _, op := range f.Ops {
		if !slices.Contains(diskOps, op) {
			return fmt.Errorf("simnet: unknown disk operation %s", op)
		}
		df.ops |= 1 << op
	}
	var names []string
	for _, op := range diskOps {
		if df.ops&(1<<op) != 0 {
			names = append(names, op.String())
		}
	}
	if n.faultRand == nil {
		n.faultRand = NewRand(w.seed, "disk", string(n.id))
	}
	n.faults = df
	n.disk.SetInjector(df.inject)
	w.trace(n.id, "disk.faults", env.Str("ops", strings.Join(names, ",")),
		env.Float("probability", f.Probability), env.Str("under", under))
	return nil
}

// DiskErrors counts the errors injected into the node's disk so far.
func (w *World) DiskErrors(id env.NodeID) int64 { return w.mustNode(id).diskErrors }

// inject is the disk.Injector of a node's faults. Until it knows the path
// is under the faulted directory it reads only f's constant fields: pebble
// calls it from its goroutines.
func (f *diskFaults) inject(op disk.Op, name string) error {
	if op >= 32 || f.ops&(1<<op) == 0 || !f.covers(name) {
		return nil
	}
	// The path is one the node touches only from its event loop
	// (DiskFaults), so this runs on the world's goroutine, inside the
	// node's code.
	n := f.n
	if f.p < 1 && (f.p <= 0 || !(n.faultRand.Float64() < f.p)) {
		return nil
	}
	n.diskErrors++
	n.w.trace(n.id, "disk.error", env.Str("op", op.String()), env.Str("path", name))
	return &os.PathError{Op: op.String(), Path: name, Err: ErrInjected}
}

// covers reports whether name is f.under or a path below it.
func (f *diskFaults) covers(name string) bool {
	if len(name) > 0 && name[0] == '/' {
		name = strings.TrimLeft(name, "/")
	}
	return strings.HasPrefix(name, f.under) && (len(name) == len(f.under) || name[len(f.under)] == '/')
}
