// Package toy is a small node that exercises everything the simulator
// offers before the real engine does: timers, messages to peers, seeded
// randomness, the wall clock, and durable writes that must survive a crash.
//
// Each node counts ticks. Every tick it appends the new count to a log on
// its disk (syncing every SyncEvery ticks), gossips the highest count it
// has heard of to random peers and pings one of them. After a crash it
// recovers its count from the synced log, so a lost synced write is
// visible in the trace: toy.recover must never report less than the last
// toy.sync of the previous incarnation.
package toy

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/shoaldb/shoal/core/env"
)

// Config shapes a toy node.
type Config struct {
	Peers     []env.NodeID  // the other nodes
	Tick      time.Duration // default 10ms
	SyncEvery int           // sync the log every this many ticks; default 5; negative: never
	Fanout    int           // gossip messages per tick; default 1
	Ping      bool          // also ping a random peer every tick
}

// Messages and events of the toy protocol.
type (
	// Gossip carries the highest count its sender has heard of.
	Gossip struct{ Max int64 }
	// Ping asks for a Pong.
	Ping struct{ Seq int64 }
	// Pong answers a Ping.
	Pong struct{ Seq int64 }
	tick struct{}
)

func (*Gossip) Kind() string { return "toy.gossip" }
func (*Ping) Kind() string   { return "toy.ping" }
func (*Pong) Kind() string   { return "toy.pong" }
func (tick) Kind() string    { return "toy.tick" }

const logName = "count.log"

// Node is one toy process.
type Node struct {
	cfg   Config
	e     env.Env
	log   vfs.File
	count int64 // ticks counted, across incarnations as far as the disk kept them
	max   int64 // highest count heard of
	seq   int64
	dirty int
}

// Start returns the env.Start of a toy node.
func Start(cfg Config) env.Start {
	if cfg.Tick <= 0 {
		cfg.Tick = 10 * time.Millisecond
	}
	if cfg.SyncEvery == 0 {
		cfg.SyncEvery = 5
	}
	if cfg.Fanout == 0 {
		cfg.Fanout = 1
	}
	return func(e env.Env) (env.Node, error) {
		n := &Node{cfg: cfg, e: e}
		if err := n.recover(); err != nil {
			return nil, err
		}
		e.After(cfg.Tick, tick{})
		return n, nil
	}
}

// recover reads the last complete count from the log and opens it for
// appending. A record torn by a crash is ignored and overwritten.
func (n *Node) recover() error {
	fs := n.e.FS()
	f, err := fs.OpenReadWrite(logName, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("toy: open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("toy: stat log: %w", err)
	}
	if size := st.Size(); size >= 8 {
		var b [8]byte
		if _, err := f.ReadAt(b[:], size/8*8-8); err != nil && err != io.EOF {
			return fmt.Errorf("toy: read log: %w", err)
		}
		n.count = int64(binary.LittleEndian.Uint64(b[:]))
	}
	// The log's directory entry must be durable too, or a crash could lose
	// the whole file.
	dir, err := fs.OpenDir("")
	if err != nil {
		return fmt.Errorf("toy: open dir: %w", err)
	}
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("toy: sync dir: %w", err)
	}
	dir.Close()
	n.log = f
	n.max = n.count
	n.e.Trace("toy.recover", env.Int("count", n.count))
	return nil
}

// Count is the node's own tick count.
func (n *Node) Count() int64 { return n.count }

// Max is the highest count the node has heard of.
func (n *Node) Max() int64 { return n.max }

// Receive handles a peer's message.
func (n *Node) Receive(from env.NodeID, m env.Message) {
	switch m := m.(type) {
	case *Gossip:
		n.max = max(n.max, m.Max)
	case *Ping:
		n.e.Send(from, &Pong{Seq: m.Seq})
	case *Pong:
	}
}

// Handle handles the tick timer.
func (n *Node) Handle(ev env.Event) {
	if _, ok := ev.(tick); !ok {
		return
	}
	n.count++
	n.max = max(n.max, n.count)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n.count))
	if _, err := n.log.WriteAt(b[:], (n.count-1)*8); err != nil {
		panic(fmt.Sprintf("toy: %s: write log: %v", n.e.ID(), err))
	}
	n.dirty++
	if n.cfg.SyncEvery > 0 && n.dirty >= n.cfg.SyncEvery {
		if err := n.log.Sync(); err != nil {
			panic(fmt.Sprintf("toy: %s: sync log: %v", n.e.ID(), err))
		}
		n.dirty = 0
		n.e.Trace("toy.sync", env.Int("count", n.count))
	}
	if peers := n.cfg.Peers; len(peers) > 0 {
		for range n.cfg.Fanout {
			n.e.Send(peers[n.e.Rand().IntN(len(peers))], &Gossip{Max: n.max})
		}
		if n.cfg.Ping {
			n.seq++
			n.e.Send(peers[n.e.Rand().IntN(len(peers))], &Ping{Seq: n.seq})
		}
	}
	n.e.After(n.cfg.Tick, tick{})
}

// Stop closes the log of a node the world discarded.
func (n *Node) Stop() { n.log.Close() }
