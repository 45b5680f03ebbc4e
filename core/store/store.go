// Package store is a node's pebble database, used so that what survives a
// crash in the simulator depends only on the engine's own calls.
//
// The simulator's pebble options (env.PebbleOptions) forbid background
// flushes and compactions; the rules that remain are kept here, once, for
// every user of pebble in the engine: flush before the memtable could fill
// (pebble's first memtable fills at a random point past 128 KiB, and
// filling it syncs the write-ahead log), compact the flushed tables
// explicitly, wait for pebble's cleaner after both, and sync the
// directory the store lives in.
package store

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/shoaldb/shoal/core/env"
)

// flushBudget bounds the memtable cost written between explicit flushes.
const flushBudget = 96 << 10

// memtableOverhead is pebble's worst-case memtable cost per record beyond
// its key and value.
const memtableOverhead = 195

// compactAfterFlushes bounds the sstables that flushes pile up in L0.
// Every point read opens each of them, so fewer is cheaper up to a
// point: on the library's queue and replication scenarios 4 ran 17%
// faster than 16, and 1 (a compaction per flush) 8% slower.
const compactAfterFlushes = 4

// Store is an open pebble database.
type Store struct {
	db        *pebble.DB
	unflushed int // memtable cost since the last flush
	flushes   int // since the last compaction
}

// Open opens (creating if needed) the store in dir on e's disk.
func Open(e env.Env, dir string) (*Store, error) {
	db, err := pebble.Open(dir, e.PebbleOptions())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	db.TestOnlyWaitForCleaning()
	fs := e.FS()
	parent, err := fs.OpenDir(fs.PathDir(dir))
	if err == nil {
		err = parent.Sync()
		parent.Close()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: sync the directory of %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

// Reader reads the committed state.
func (s *Store) Reader() pebble.Reader { return s.db }

// NewBatch returns an indexed batch: reads through it see its own writes.
func (s *Store) NewBatch() *pebble.Batch { return s.db.NewIndexedBatch() }

// Commit commits a batch, synced if asked, and closes it. It flushes when
// the memtable nears its budget, which makes everything committed so far
// durable too, and compacts now and then.
func (s *Store) Commit(b *pebble.Batch, sync bool) error {
	defer b.Close()
	if b.Empty() {
		return nil
	}
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	s.unflushed += b.Len() + int(b.Count())*memtableOverhead
	if err := b.Commit(opts); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	if s.unflushed >= flushBudget {
		return s.Flush()
	}
	return nil
}

// Sync makes everything committed so far durable, by syncing the
// write-ahead log behind a record that carries no data.
func (s *Store) Sync() error {
	if err := s.db.LogData([]byte{0}, pebble.Sync); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	return nil
}

// Flush makes everything committed durable, in sstables.
func (s *Store) Flush() error {
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("store: flush: %w", err)
	}
	s.unflushed = 0
	s.flushes++
	if s.flushes >= compactAfterFlushes {
		if err := s.db.Compact(context.Background(), []byte{0}, []byte{0xff}, false); err != nil {
			return fmt.Errorf("store: compact: %w", err)
		}
		s.flushes = 0
	}
	s.db.TestOnlyWaitForCleaning()
	return nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }
