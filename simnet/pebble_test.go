package simnet

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/shoaldb/shoal/core/env"
	"pgregory.net/rapid"
)

func nodeID(s string) env.NodeID { return env.NodeID(s) }

// pebbleWriter is a node that writes numbered keys to pebble, some batches
// synced and most not, flushing now and then, and always before its
// memtable could fill (disk.PebbleOptions explains why). On start it
// reports the highest key it finds and checks that none below it is
// missing.
type pebbleWriter struct {
	e       env.Env
	db      *pebble.DB
	seq     uint64
	pending int // memtable bytes written since the last flush
}

// flushBudget is when the writer flushes at the latest: under the 128 KiB
// of memtable cost that disk.PebbleOptions allows between flushes.
const flushBudget = 96 << 10

type pwTick struct{}

func (pwTick) Kind() string { return "pw.tick" }

func startPebbleWriter(e env.Env) (env.Node, error) {
	db, err := pebble.Open("db", e.PebbleOptions())
	if err != nil {
		return nil, err
	}
	// pebble creates its directory but does not sync the parent, which a
	// crash would otherwise forget.
	root, err := e.FS().OpenDir("")
	if err != nil {
		return nil, err
	}
	if err := root.Sync(); err != nil {
		return nil, err
	}
	root.Close()
	db.TestOnlyWaitForCleaning()
	p := &pebbleWriter{e: e, db: db}
	it, err := db.NewIter(nil)
	if err != nil {
		return nil, err
	}
	var count uint64
	for it.First(); it.Valid(); it.Next() {
		count++
		p.seq = binary.BigEndian.Uint64(it.Key())
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	if count != p.seq {
		return nil, fmt.Errorf("pebble writer: highest key %d but %d keys: a write below the highest is missing", p.seq, count)
	}
	e.Trace("pw.recover", env.Int("seq", int64(p.seq)))
	e.After(time.Millisecond, pwTick{})
	return p, nil
}

func (p *pebbleWriter) Receive(env.NodeID, env.Message) {}

func (p *pebbleWriter) Handle(env.Event) {
	r := p.e.Rand()
	b := p.db.NewBatch()
	writes := 1 + r.IntN(4)
	for range writes {
		p.seq++
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], p.seq)
		v := make([]byte, 1+r.IntN(200))
		b.Set(k[:], v, nil)
		p.pending += len(k) + len(v) + 195
	}
	sync := r.IntN(4) == 0
	opts := pebble.NoSync
	if sync {
		opts = pebble.Sync
	}
	if err := b.Commit(opts); err != nil {
		panic(err)
	}
	if sync {
		p.e.Trace("pw.synced", env.Int("seq", int64(p.seq)))
	}
	if r.IntN(50) == 0 || p.pending >= flushBudget {
		if err := p.db.Flush(); err != nil {
			panic(err)
		}
		p.db.TestOnlyWaitForCleaning()
		p.pending = 0
		p.e.Trace("pw.flush", env.Int("seq", int64(p.seq)))
	}
	p.e.After(time.Millisecond, pwTick{})
}

func (p *pebbleWriter) Stop() { p.db.Close() }

// Property 4 with pebble: after a kill the store holds exactly the writes
// up to the last synced batch or flush (a synced commit makes every earlier
// record of the write-ahead log durable too), and nothing after it; the
// outcome is the same in every run.
func TestPropPebbleCrashKeepsExactlySynced(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		seed := rapid.Uint64().Draw(rt, "seed")
		kills := rapid.SliceOfN(rapid.IntRange(50, 1500), 1, 4).Draw(rt, "killAtMs")
		outcome := func() ([]int64, [32]byte) {
			w := openWorld(t, Config{Seed: seed, KeepTrace: true})
			defer w.Close()
			if err := w.AddNode("p1", startPebbleWriter); err != nil {
				rt.Fatal(err)
			}
			for _, at := range kills {
				w.At(time.Duration(at)*time.Millisecond, func() { w.Kill("p1") })
				w.At(time.Duration(at+5)*time.Millisecond, func() { w.Restart("p1") })
			}
			run(t, w, 2*time.Second)
			var synced, recovered []int64
			var last int64
			for _, r := range records(t, w) {
				switch r.Kind {
				case "pw.synced", "pw.flush":
					last = num(r, "seq") // a flush makes every earlier write durable too
				case "pw.recover":
					synced = append(synced, last)
					recovered = append(recovered, num(r, "seq"))
				case "node.fail":
					rt.Fatalf("seed %d: restart failed: %s", seed, str(r, "error"))
				}
			}
			for i := range synced {
				if recovered[i] != synced[i] {
					rt.Fatalf("seed %d: start %d recovered up to key %d, but the last synced key was %d", seed, i+1, recovered[i], synced[i])
				}
			}
			return recovered, w.TraceHash()
		}
		rec1, h1 := outcome()
		rec2, h2 := outcome()
		if h1 != h2 {
			rt.Fatalf("seed %d: two runs recovered %v and %v (trace %x vs %x)", seed, rec1, rec2, h1, h2)
		}
		if len(rec1) < 2 || rec1[len(rec1)-1] == 0 {
			rt.Fatalf("seed %d: the writer never recovered any synced write (%v): the property checked nothing", seed, rec1)
		}
	})
}
