package disk

import (
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// PebbleOptions returns options for opening pebble on fs in the simulator,
// under which pebble starts no flush or compaction by itself, so that what
// reaches the disk, and so what survives FS.Crash, follows from the calls
// the engine makes, provided the engine keeps to the rules below. Call it
// for every Open: the options hold a compaction scheduler that cannot serve
// two DBs.
//
// What the options turn off:
//
//   - Automatic compactions of every kind (score-based, read-triggered,
//     delete-only, elision-only), read sampling and table-stats collection;
//     one compaction at a time, and a scheduler without its 100 ms ticker.
//   - Write stalls on L0: with no automatic compactions, writes would wait
//     forever for one.
//   - Timing-dependent WAL syncs: WALBytesPerSync (with no file descriptor,
//     pebble would fully sync the WAL at offsets that depend on when its
//     flusher goroutine wakes) and WALMinSyncInterval (a timer).
//   - Delayed flushes of range deletions and range keys, deletion pacing,
//     and ingestion as a flushable (an overlapping ingest flushes
//     synchronously instead).
//   - WAL sync chunks: from pebble.FormatWALSyncChunks on, every WAL record
//     carries the offset the WAL flusher goroutine had synced when the
//     record was written, which varies from run to run; the format is
//     therefore the one just before it, pebble.FormatColumnarBlocks.
//   - Logging: Infof and Errorf are silent; Fatalf panics.
//
// What remains the engine's job:
//
//   - Flush (db.Flush, which is synchronous) before the memtable fills.
//     The first memtable is 256 KiB whatever MemTableSize says, and when it
//     fills is random: pebble draws skiplist node heights from the unseeded
//     global source, so the same writes fill it at a different one each
//     run. Filling it rotates the WAL, which syncs it, making unsynced
//     writes durable at that random point. A memtable entry costs at most
//     len(key)+len(value)+195 bytes; flushing before these reach 128 KiB
//     also keeps every later memtable at 256 KiB. MemTableSize is 64 MiB so
//     that nothing else (automatic flushes of queued memtables at half of
//     it, large-batch handling) comes near.
//   - Compact with db.Compact(ctx, start, end, false): synchronous, one
//     compaction at a time, file numbers in a fixed order.
//   - Call db.TestOnlyWaitForCleaning() after Open, db.Flush, db.Compact,
//     and after closing the last iterator or snapshot that pinned files.
//     pebble removes obsolete files (WALs, sstables, manifests, OPTIONS) on
//     its cleanup goroutine, and no option makes that synchronous. A removal
//     survives a crash only once a later directory sync records it, so
//     without the wait, whether an obsolete file is still on the crashed
//     disk depends on that goroutine's timing. Recovery ignores obsolete
//     files, so the keys do not depend on it; the set of files does.
//     Flushes and compactions queue their removals before they return, and
//     the wait covers everything queued.
//
// With that, the crashed disk is the same in every run, file for file and
// byte for byte, except the MANIFEST's bytes (not its size): pebble records
// the wall-clock second each sstable was written (TableMetadata.CreationTime,
// from time.Now), and encodes the tables a compaction deletes in Go map
// order. Neither changes what pebble recovers.
func PebbleOptions(fs vfs.FS) *pebble.Options {
	o := &pebble.Options{
		FS:                 fs,
		FormatMajorVersion: pebble.FormatColumnarBlocks,
		Logger:             simLogger{},

		MemTableSize:                64 << 20,
		DisableAutomaticCompactions: true,
		DisableTableStats:           true,
		CompactionConcurrencyRange:  func() (int, int) { return 1, 1 },
		L0StopWritesThreshold:       math.MaxInt32,

		WALBytesPerSync:        0,
		WALMinSyncInterval:     nil,
		FlushDelayDeleteRange:  0,
		FlushDelayRangeKey:     0,
		TargetByteDeletionRate: 0,
	}
	o.Experimental.ReadSamplingMultiplier = -1
	o.Experimental.CompactionScheduler = pebble.NewConcurrencyLimitSchedulerWithNoPeriodicGrantingForTest()
	o.Experimental.DisableIngestAsFlushable = func() bool { return true }
	// The default is GOMAXPROCS, which would make the OPTIONS file, and how
	// soon open sstables are evicted, depend on the machine.
	o.Experimental.FileCacheShards = 1
	return o
}

// simLogger is pebble's Logger in the simulator. Informational and error
// messages carry wall-clock durations and goroutine-dependent ordering, so
// they are dropped; a fatal error is a bug and panics.
type simLogger struct{}

func (simLogger) Infof(string, ...any)  {}
func (simLogger) Errorf(string, ...any) {}
func (simLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: fatal: "+format, args...))
}
