package disk

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// write is one key written by a committed batch; a deletion has del set.
type write struct {
	key, value string
	del        bool
}

// crashRun is what one run of the crash scenario left behind.
type crashRun struct {
	disk      map[string]string // every file of the crashed disk, by path
	log       []write           // every write, in commit order
	durable   int               // log[:durable] had to survive the crash
	recovered map[string]string // what pebble read back after the crash
}

// runCrashScenario writes to pebble on a fresh FS with a seeded mix of
// synced and unsynced batches, flushes and one compaction, crashes the disk
// and reopens pebble on it.
func runCrashScenario(t *testing.T, seed uint64) crashRun {
	t.Helper()
	fs := New()
	if err := fs.MkdirAll("db", 0o755); err != nil {
		t.Fatal(err)
	}
	// pebble syncs its own directory but not the parent, as on a real disk.
	syncDir(t, fs, "")
	db := openDB(t, fs)

	rng := rand.New(rand.NewPCG(seed, 0))
	var r crashRun
	commit := func(i int, sync bool) {
		b := db.NewBatch()
		for j := range 1 + rng.IntN(2) {
			w := write{key: fmt.Sprintf("key%04d", rng.IntN(1000)), value: fmt.Sprintf("v%d.%d", i, j)}
			if rng.IntN(10) == 0 {
				w = write{key: w.key, del: true}
				must(t, b.Delete([]byte(w.key), nil))
			} else {
				must(t, b.Set([]byte(w.key), []byte(w.value), nil))
			}
			r.log = append(r.log, w)
		}
		opt := pebble.NoSync
		if sync {
			opt = pebble.Sync
		}
		must(t, b.Commit(opt))
		must(t, b.Close())
		// A synced commit syncs the WAL up to its own record, and with it
		// every earlier record.
		if sync {
			r.durable = len(r.log)
		}
	}
	for i := range 3000 {
		commit(i, rng.IntN(5) == 0)
		switch {
		case i%300 == 299:
			// 300 batches of at most two small keys stay within the 128 KiB
			// of memtable PebbleOptions allows between flushes. Flushing
			// rotates the WAL, which closes and syncs the old one:
			// everything written so far becomes durable.
			must(t, db.Flush())
			db.TestOnlyWaitForCleaning()
			r.durable = len(r.log)
		case i == 1900:
			// The range covers the memtable, so Compact flushes it first.
			must(t, db.Compact(context.Background(), []byte("key"), []byte("key9999"), false))
			db.TestOnlyWaitForCleaning()
			r.durable = len(r.log)
		}
	}
	// An unsynced tail that the crash must lose.
	for i := range 200 {
		commit(3000+i, false)
	}

	crashed := fs.Crash()
	r.disk = diskImage(t, crashed, "")
	// The old incarnation is abandoned; closing it must not reach the
	// crashed disk.
	must(t, db.Close())
	if after := diskImage(t, crashed, ""); !maps.Equal(after, r.disk) {
		t.Fatal("closing the abandoned DB changed the crashed disk")
	}

	db = openDB(t, crashed)
	defer db.Close()
	r.recovered = scan(t, db)
	return r
}

func openDB(t *testing.T, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", PebbleOptions(fs))
	if err != nil {
		t.Fatal(err)
	}
	db.TestOnlyWaitForCleaning()
	return db
}

func syncDir(t *testing.T, fs vfs.FS, name string) {
	t.Helper()
	d, err := fs.OpenDir(name)
	if err != nil {
		t.Fatal(err)
	}
	must(t, d.Sync())
	must(t, d.Close())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func scan(t *testing.T, db *pebble.DB) map[string]string {
	t.Helper()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	kv := make(map[string]string)
	for it.First(); it.Valid(); it.Next() {
		kv[string(it.Key())] = string(it.Value())
	}
	must(t, it.Close())
	return kv
}

// diskImage returns the contents of every file under dir, by path.
func diskImage(t *testing.T, fs vfs.FS, dir string) map[string]string {
	t.Helper()
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := make(map[string]string)
	for _, name := range names {
		p := fs.PathJoin(dir, name)
		st, err := fs.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.IsDir() {
			img[p+"/"] = ""
			maps.Copy(img, diskImage(t, fs, p))
			continue
		}
		f, err := fs.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		must(t, err)
		must(t, f.Close())
		img[p] = string(b)
	}
	return img
}

func apply(log []write) map[string]string {
	kv := make(map[string]string)
	for _, w := range log {
		if w.del {
			delete(kv, w.key)
		} else {
			kv[w.key] = w.value
		}
	}
	return kv
}

// TestPebbleCrash checks that pebble on a crashed FS recovers exactly the
// writes that were durable, and that the crashed disk is the same in two
// runs of the same scenario.
func TestPebbleCrash(t *testing.T) {
	first := runCrashScenario(t, 1)
	if want := apply(first.log[:first.durable]); !maps.Equal(first.recovered, want) {
		t.Fatalf("recovered %d keys, want the %d of the first %d of %d writes; first difference: %s",
			len(first.recovered), len(want), first.durable, len(first.log), firstDiff(first.recovered, want))
	}
	if first.durable == len(first.log) {
		t.Fatal("the scenario lost nothing: its unsynced tail is missing")
	}

	second := runCrashScenario(t, 1)
	if !slices.Equal(slices.Sorted(maps.Keys(first.disk)), slices.Sorted(maps.Keys(second.disk))) {
		t.Fatalf("crashed disks hold different files:\n%q\n%q",
			slices.Sorted(maps.Keys(first.disk)), slices.Sorted(maps.Keys(second.disk)))
	}
	for _, p := range slices.Sorted(maps.Keys(first.disk)) {
		a, b := first.disk[p], second.disk[p]
		if len(a) != len(b) {
			t.Errorf("%s: %d bytes, then %d", p, len(a), len(b))
			continue
		}
		// The MANIFEST holds the wall-clock second each sstable was
		// written, and lists the tables a compaction deleted in Go map
		// order (see PebbleOptions): its size is fixed, its bytes are not.
		if a != b && !strings.HasPrefix(path.Base(p), "MANIFEST-") {
			t.Errorf("%s: contents differ between runs", p)
		}
	}
}

func firstDiff(got, want map[string]string) string {
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok || g != want[k] {
			return fmt.Sprintf("%s = %q (present %v), want %q", k, g, ok, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("%s = %q, want absent", k, got[k])
		}
	}
	return "none"
}

// BenchmarkSync measures a synced two-key pebble batch after n unsynced
// writes, on this FS and on pebble's crashable MemFS, whose Sync copies the
// whole WAL. Every iteration lengthens the WAL, so MemFS's cost grows with
// b.N: run with a fixed count (-benchtime=1000x) to measure it at n.
func BenchmarkSync(b *testing.B) {
	disks := []struct {
		name string
		new  func() vfs.FS
	}{
		{"disk", func() vfs.FS { return New() }},
		{"memfs", func() vfs.FS { return vfs.NewCrashableMem() }},
	}
	for _, n := range []int{2_000, 100_000} {
		for _, d := range disks {
			b.Run(fmt.Sprintf("prior=%d/%s", n, d.name), func(b *testing.B) {
				fs := d.new()
				if err := fs.MkdirAll("db", 0o755); err != nil {
					b.Fatal(err)
				}
				db, err := pebble.Open("db", PebbleOptions(fs))
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				value := []byte("value-of-sixteen")
				for i := range n {
					if err := db.Set(fmt.Appendf(nil, "prior%08d", i), value, pebble.NoSync); err != nil {
						b.Fatal(err)
					}
				}
				// Keys are built in place so that allocs/op counts pebble's
				// and the file system's allocations only.
				ka, kb := make([]byte, 0, 16), make([]byte, 0, 16)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					ka = strconv.AppendInt(append(ka[:0], 'a'), int64(i), 10)
					kb = strconv.AppendInt(append(kb[:0], 'b'), int64(i), 10)
					batch := db.NewBatch()
					_ = batch.Set(ka, value, nil)
					_ = batch.Set(kb, value, nil)
					if err := batch.Commit(pebble.Sync); err != nil {
						b.Fatal(err)
					}
					_ = batch.Close()
				}
			})
		}
	}
}
