// Package simnet is shoal's deterministic simulator: virtual time, one event
// queue, a seeded network, disks that crash, and processes that can be
// killed, paused and have their clocks skewed. The engine runs in it
// unchanged, through core/env. A World is a pure function of its seed and
// of the calls made on it: the same seed and the same calls give the same
// trace, byte for byte.
package simnet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// TraceFormat is the version of the trace format (simnet/README.md),
// recorded in world.start. Adding an event kind or a field at the end of a
// kind's fields keeps it; changing or removing one increments it.
const TraceFormat = 1

// Config configures a World.
type Config struct {
	// Seed is the root of every random choice in the run.
	Seed uint64
	// Network is the configuration of every link until SetLink changes it;
	// nil means DefaultLink.
	Network *LinkConfig
	// KeepTrace keeps the rendered trace in memory for WriteTrace. The
	// trace hash is computed either way.
	KeepTrace bool
	// TraceSink, when set, receives the trace as it is rendered, in chunks.
	TraceSink io.Writer
}

// World is one simulated run. Its methods are not safe for concurrent use,
// and only one World may be open in a process at a time (see New).
type World struct {
	seed    uint64
	now     int64
	q       queue
	nodes   []*node
	byName  map[env.NodeID]*node
	links   [][]*link // [from][to], grown as nodes are added
	defLink LinkConfig
	rec     *recorder
	rng     *mrand.Rand

	nextTimer env.TimerID
	nextMsg   uint64
	delivered int64
	unknown   uint64 // messages to names no node has

	restore  func()
	closed   bool
	err      error
	dispatch *node // the node whose code is running, for panic reports
}

// New opens a World. It fails if another World is open in this process:
// while a World is open, crypto/rand.Reader is a stream derived from its
// seed (etcd raft draws election jitter from it), and two worlds sharing
// it would not replay. Close the World to release it.
func New(cfg Config) (*World, error) {
	link := DefaultLink
	if cfg.Network != nil {
		link = *cfg.Network
	}
	if err := link.Validate(); err != nil {
		return nil, err
	}
	restore, err := seizeCryptoRand(cfg.Seed)
	if err != nil {
		return nil, err
	}
	w := &World{
		seed:    cfg.Seed,
		byName:  make(map[env.NodeID]*node),
		defLink: link,
		rec:     newRecorder(cfg.KeepTrace, cfg.TraceSink),
		rng:     NewRand(cfg.Seed, "world"),
		restore: restore,
	}
	w.trace(env.WorldNode, "world.start", env.Int("format", TraceFormat), env.Uint("seed", cfg.Seed))
	return w, nil
}

// Close releases the process-wide slot and crypto/rand.Reader, and stops
// the nodes that are up. The World cannot be run afterwards.
func (w *World) Close() error {
	if w.closed {
		return nil
	}
	for _, n := range w.nodes {
		if n.up {
			n.stop()
		}
	}
	w.closed = true
	w.restore()
	return w.rec.err
}

// Seed is the run's root seed.
func (w *World) Seed() uint64 { return w.seed }

// Now is the virtual time since the start of the run.
func (w *World) Now() time.Duration { return time.Duration(w.now) }

// Rand is the world's own random stream, for the harness's choices (which
// node to kill, which side of a partition). Nodes and links have their own.
func (w *World) Rand() *mrand.Rand { return w.rng }

// Delivered counts the events handed to nodes so far: messages, timers and
// posted events.
func (w *World) Delivered() int64 { return w.delivered }

// TraceHash is the SHA-256 of the trace so far: of exactly the bytes
// WriteTrace writes, and of trace.jsonl in a run directory.
func (w *World) TraceHash() [32]byte { return w.rec.sum() }

// TraceEvents counts the trace events recorded so far.
func (w *World) TraceEvents() int64 { return w.rec.events }

// TraceBytes is the size of the trace so far, in bytes of JSON lines.
func (w *World) TraceBytes() int64 {
	w.rec.flush()
	return w.rec.bytes
}

// WriteTrace writes the kept trace (Config.KeepTrace) as JSON lines.
func (w *World) WriteTrace(out io.Writer) (int64, error) {
	if !w.rec.keep {
		return 0, errors.New("simnet: the trace was not kept (Config.KeepTrace)")
	}
	return w.rec.writeTo(out)
}

// Records parses the kept trace (Config.KeepTrace) back into records, for
// checkers and tests in the same process.
func (w *World) Records() ([]env.Record, error) {
	var buf bytes.Buffer
	buf.Grow(int(w.TraceBytes()))
	if _, err := w.WriteTrace(&buf); err != nil {
		return nil, err
	}
	return env.ReadTrace(&buf)
}

// At runs fn at virtual time t, or at once if t has passed. fn runs between
// node events and may call any World method except Run and Step.
func (w *World) At(t time.Duration, fn func()) {
	at := max(int64(t), w.now)
	w.q.push(at, slot{what: doFunc, fn: fn})
}

// After runs fn once d of virtual time has passed.
func (w *World) After(d time.Duration, fn func()) { w.At(w.Now()+d, fn) }

// Post delivers ev to the node's Handle at the current virtual time, after
// the events already due. It is how the harness (and, in production, a
// client request) enters a node's event loop. A node that is down when the
// event comes due drops it.
func (w *World) Post(id env.NodeID, ev env.Event) {
	n := w.mustNode(id)
	w.q.push(w.now, slot{what: doPost, node: n.idx, inc: n.inc, ev: ev})
}

// Run handles every event due at or before virtual time until, then sets
// the clock to until. It returns an error if the World is closed, or if a
// node or a scheduled function panicked; the error names the seed, the
// virtual time and the node, and the World is unusable afterwards. A node
// that panics with env.Fatal is no error: it crashes (node.crash) and the
// run goes on.
func (w *World) Run(until time.Duration) error {
	if err := w.usable(); err != nil {
		return err
	}
	for {
		done, err := w.runTo(int64(until))
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	w.now = max(w.now, int64(until))
	return nil
}

// runTo handles the events due by until. It returns early, with done
// false, after a node died of env.Fatal; the caller resumes. One deferred
// recover per call, not per event, keeps the cost of catching Fatal off
// the path every event takes.
func (w *World) runTo(until int64) (done bool, err error) {
	defer w.recoverPanic(&err)
	for len(w.q.heap) > 0 && w.q.heap[0].at <= until {
		w.step()
	}
	return true, nil
}

// RunFor runs for d of virtual time from now.
func (w *World) RunFor(d time.Duration) error { return w.Run(w.Now() + d) }

// Step handles the next event, whatever its time, and reports whether there
// was one.
func (w *World) Step() (ok bool, err error) {
	if err := w.usable(); err != nil {
		return false, err
	}
	if len(w.q.heap) == 0 {
		return false, nil
	}
	defer w.recoverPanic(&err)
	ok = true // also if the node handling the event dies of env.Fatal
	w.step()
	return true, nil
}

func (w *World) usable() error {
	if w.closed {
		return errors.New("simnet: the World is closed")
	}
	return w.err
}

// PanicError is a panic raised while the world ran a node or a scheduled
// function. It carries what is needed to reproduce it: the seed and the
// virtual time.
type PanicError struct {
	Seed  uint64
	Time  time.Duration
	Node  env.NodeID // empty for a scheduled function
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	where := "a scheduled function"
	if e.Node != "" {
		where = "node " + string(e.Node)
	}
	return fmt.Sprintf("simnet: seed %d: panic in %s at %s: %v\n%s", e.Seed, where, e.Time, e.Value, e.Stack)
}

// recoverPanic ends the handling of a panic raised while the world ran a
// node or a scheduled function. A node's env.Fatal crashes that node; any
// other panic makes the World unusable and becomes *err.
func (w *World) recoverPanic(err *error) {
	v := recover()
	if v == nil {
		return
	}
	if f, ok := v.(env.Fatal); ok && w.dispatch != nil && w.dispatch.up {
		// The crash runs the node's Stop, which may panic in turn; the node
		// is down by then, so even a Fatal from Stop is a PanicError.
		n := w.dispatch
		*err = w.guard(func() { w.crash(n, f) })
		return
	}
	pe := &PanicError{Seed: w.seed, Time: time.Duration(w.now), Value: v, Stack: debug.Stack()}
	if w.dispatch != nil {
		pe.Node = w.dispatch.id
	}
	w.err = pe
	*err = pe
}

// guard runs fn, recovering its panic as Run does.
func (w *World) guard(fn func()) (err error) {
	defer w.recoverPanic(&err)
	fn()
	return nil
}

// slot is one scheduled event.
type slot struct {
	what    action
	arrived bool // a message that reached a paused node and waits for it
	node    int32
	from    int32
	inc     uint32 // the incarnation a timer or post belongs to, or a message is for
	id      uint64 // message or timer ID
	sent    int64
	msg     env.Message
	ev      env.Event
	fn      func()
}

type action uint8

const (
	doFunc action = iota + 1
	doRecv
	doTimer
	doPost
)

func (w *World) step() {
	e := w.q.pop()
	w.now = e.at
	s := w.q.slots[e.slot]
	w.q.release(e.slot)
	switch s.what {
	case doFunc:
		w.dispatch = nil
		s.fn()
	case doRecv:
		w.deliver(&s)
	case doTimer:
		n := w.nodes[s.node]
		if n.inc != s.inc || !n.up {
			return // set by an incarnation that has since died
		}
		if _, pending := n.timers[env.TimerID(s.id)]; !pending {
			return // cancelled
		}
		if n.paused {
			n.held = append(n.held, s)
			return
		}
		delete(n.timers, env.TimerID(s.id))
		w.delivered++
		w.trace(n.id, "timer.fire", env.Int("timer", int64(s.id)), env.Str("event", s.ev.Kind()))
		w.dispatch = n
		n.impl.Handle(s.ev)
	case doPost:
		n := w.nodes[s.node]
		if !n.up || n.inc != s.inc {
			w.trace(n.id, "post.drop", env.Str("event", s.ev.Kind()))
			return
		}
		if n.paused {
			n.held = append(n.held, s)
			return
		}
		w.delivered++
		w.trace(n.id, "post.handle", env.Str("event", s.ev.Kind()))
		w.dispatch = n
		n.impl.Handle(s.ev)
	}
}

// trace records an event of the world's own making.
func (w *World) trace(node env.NodeID, kind string, fields ...env.Field) {
	w.rec.line(w.now, node, kind, fields)
}

func (w *World) mustNode(id env.NodeID) *node {
	n, ok := w.byName[id]
	if !ok {
		panic(fmt.Sprintf("simnet: no node named %q", id))
	}
	return n
}
