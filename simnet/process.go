package simnet

import (
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet/disk"
)

// Epoch is the wall-clock reading of every node at virtual time zero, before
// any clock fault.
var Epoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// node is one simulated process and its disk. The disk outlives
// incarnations; everything else in the process does not.
type node struct {
	w      *World
	id     env.NodeID
	idx    int32
	start  env.Start
	disk   *disk.FS
	inc    uint32 // incarnation: 1 at the first start, +1 at each restart
	up     bool
	paused bool
	impl   env.Node
	env    *nodeEnv
	held   []slot // events that came due while paused, in order
	timers map[env.TimerID]struct{}
	clock  clock

	// Disk faults (diskfault.go): the faults set, installed on every disk
	// the node gets, their random stream and the errors injected so far.
	faults     *diskFaults
	faultRand  *mrand.Rand
	diskErrors int64
}

// AddNode adds a process named id with a fresh disk and starts it at the
// current virtual time. start runs again at every restart, on the same
// disk.
func (w *World) AddNode(id env.NodeID, start env.Start) error {
	if id == "" || id == env.WorldNode {
		return fmt.Errorf("simnet: %q is not a node name", id)
	}
	if _, dup := w.byName[id]; dup {
		return fmt.Errorf("simnet: node %q already exists", id)
	}
	n := &node{w: w, id: id, idx: int32(len(w.nodes)), start: start, disk: disk.New(), clock: clock{rate: 1}}
	w.growLinks(n)
	w.nodes = append(w.nodes, n)
	w.byName[id] = n
	n.boot()
	return nil
}

// Nodes lists the nodes in the order they were added.
func (w *World) Nodes() []env.NodeID {
	out := make([]env.NodeID, len(w.nodes))
	for i, n := range w.nodes {
		out[i] = n.id
	}
	return out
}

// Up reports whether the node is running (possibly paused).
func (w *World) Up(id env.NodeID) bool { return w.mustNode(id).up }

// Paused reports whether the node is paused.
func (w *World) Paused(id env.NodeID) bool { return w.mustNode(id).paused }

// Disk is the node's disk, for tests and checkers that inspect it.
func (w *World) Disk(id env.NodeID) *disk.FS { return w.mustNode(id).disk }

func (n *node) boot() {
	n.inc++
	n.timers = make(map[env.TimerID]struct{})
	n.env = &nodeEnv{n: n, fs: n.disk, rng: NewRand(n.w.seed, "node", string(n.id), strconv.FormatUint(uint64(n.inc), 10))}
	n.up = true
	n.w.trace(n.id, "node.start", env.Int("inc", int64(n.inc)))
	impl, err := n.callStart()
	if err != nil {
		n.up = false
		n.env.dead = true
		n.w.trace(n.id, "node.fail", env.Int("inc", int64(n.inc)), env.Str("error", err.Error()))
		return
	}
	n.impl = impl
}

// callStart runs the node's start function. A start that panics with
// env.Fatal has failed, and the process exited: the disk keeps only what
// was synced. Any other panic goes on to Run, naming the node.
func (n *node) callStart() (impl env.Node, err error) {
	prev := n.w.dispatch
	n.w.dispatch = n
	defer func() {
		if v := recover(); v != nil {
			f, ok := v.(env.Fatal)
			if !ok {
				panic(v)
			}
			n.crashDisk()
			impl, err = nil, f
		}
		n.w.dispatch = prev
	}()
	return n.start(n.env)
}

// Kill stops the node at once: its memory is gone and its disk keeps only
// what was synced. It reports whether the node was up.
func (w *World) Kill(id env.NodeID) bool {
	n := w.mustNode(id)
	if !n.up {
		return false
	}
	n.crashDisk()
	w.trace(n.id, "node.kill", env.Int("inc", int64(n.inc)))
	n.stop()
	return true
}

// crash ends a node that panicked with env.Fatal as Kill would, and says
// why.
func (w *World) crash(n *node, f env.Fatal) {
	n.crashDisk()
	w.trace(n.id, "node.crash", env.Int("inc", int64(n.inc)), env.Str("error", f.Error()))
	n.stop()
}

// crashDisk replaces the node's disk with what survives a crash. The disk
// faults move to the new disk; the old one, which only the dead
// incarnation still reaches, gets none.
func (n *node) crashDisk() {
	old := n.disk
	n.disk = old.Crash()
	if n.faults != nil {
		old.SetInjector(nil)
		n.disk.SetInjector(n.faults.inject)
	}
}

// stop discards the running incarnation and lets it release resources.
// Whatever it still writes goes to a disk that is no longer the node's.
func (n *node) stop() {
	impl := n.impl
	n.up, n.paused = false, false
	n.impl, n.held, n.timers = nil, nil, nil
	n.env.dead = true
	if s, ok := impl.(env.Stopper); ok {
		s.Stop()
	}
}

// Restart starts a node that is down, as a new incarnation on its disk. It
// reports whether the node was down.
func (w *World) Restart(id env.NodeID) bool {
	n := w.mustNode(id)
	if n.up {
		return false
	}
	n.boot()
	return true
}

// Pause stops scheduling the node: messages, timers and posted events that
// come due wait until Resume, as for a process under SIGSTOP. It reports
// whether the node was running and not already paused.
func (w *World) Pause(id env.NodeID) bool {
	n := w.mustNode(id)
	if !n.up || n.paused {
		return false
	}
	n.paused = true
	w.trace(n.id, "node.pause")
	return true
}

// Resume lets a paused node run again; the events that waited are handled
// now, in the order they came due. It reports whether the node was paused.
func (w *World) Resume(id env.NodeID) bool {
	n := w.mustNode(id)
	if !n.paused {
		return false
	}
	n.paused = false
	w.trace(n.id, "node.resume", env.Int("held", int64(len(n.held))))
	w.q.pushFront(w.now, n.held)
	n.held = nil
	return true
}

// clock is one node's view of time. The monotonic clock runs at rate (1 +
// drift) from the moment the drift was set; the wall clock is the
// monotonic one plus a settable offset plus a square-wave strobe.
type clock struct {
	base     int64   // virtual time of the last rate change
	monoBase int64   // monotonic reading at base
	rate     float64 // monotonic nanoseconds per virtual nanosecond
	offset   int64
	strobe   struct{ amp, period, start int64 }
}

func (c *clock) mono(t int64) int64 {
	// The conversion rounds the product before the addition, so no fused
	// multiply-add can make the result depend on the platform.
	return c.monoBase + int64(float64(t-c.base)*c.rate)
}

func (c *clock) wall(t int64) int64 {
	w := c.mono(t) + c.offset
	if s := c.strobe; s.period > 0 && ((t-s.start)/s.period)%2 == 0 {
		w += s.amp
	}
	return w
}

// timerAt is the virtual time at which a timer of monotonic duration d set
// at t fires.
func (c *clock) timerAt(t int64, d time.Duration) int64 {
	if d <= 0 {
		return t
	}
	if c.rate == 1 {
		return t + int64(d)
	}
	return t + int64(math.Ceil(float64(d)/c.rate))
}

// SetClockOffset steps the node's wall clock by offset relative to true
// time (replacing any earlier offset). Timers and the global order of
// events are unaffected.
func (w *World) SetClockOffset(id env.NodeID, offset time.Duration) {
	n := w.mustNode(id)
	n.clock.offset = int64(offset)
	w.trace(n.id, "clock.offset", env.Int("offset", int64(offset)))
}

// SetClockDrift makes the node's clocks run at rate 1+drift from now on:
// drift 0.05 runs 5% fast, -0.05 5% slow. Both the wall clock and the
// monotonic timers set from now on follow it; timers already set keep
// their time.
func (w *World) SetClockDrift(id env.NodeID, drift float64) error {
	if !(drift > -1) || math.IsInf(drift, 0) {
		return fmt.Errorf("simnet: drift %v must be finite and above -1", drift)
	}
	n := w.mustNode(id)
	c := &n.clock
	c.monoBase, c.base, c.rate = c.mono(w.now), w.now, 1+drift
	w.trace(n.id, "clock.drift", env.Float("drift", drift))
	return nil
}

// SetClockStrobe makes the node's wall clock jump between +amp and its
// normal reading every period, starting now. A zero period stops it.
func (w *World) SetClockStrobe(id env.NodeID, amp, period time.Duration) error {
	if period < 0 {
		return fmt.Errorf("simnet: strobe period %s is negative", period)
	}
	n := w.mustNode(id)
	n.clock.strobe.amp, n.clock.strobe.period, n.clock.strobe.start = int64(amp), int64(period), w.now
	w.trace(n.id, "clock.strobe", env.Int("amp", int64(amp)), env.Int("period", int64(period)))
	return nil
}

// WallClock is the node's wall-clock reading now.
func (w *World) WallClock(id env.NodeID) time.Time {
	return Epoch.Add(time.Duration(w.mustNode(id).clock.wall(w.now)))
}

// nodeEnv is one incarnation's Env. Once the incarnation dies every method
// becomes a no-op, so a stale reference cannot reach the new incarnation.
type nodeEnv struct {
	n    *node
	fs   *disk.FS // the disk as this incarnation knew it; a crash replaces the node's
	rng  *mrand.Rand
	dead bool
}

var _ env.Env = (*nodeEnv)(nil)

func (e *nodeEnv) ID() env.NodeID { return e.n.id }

func (e *nodeEnv) Now() time.Time {
	return Epoch.Add(time.Duration(e.n.clock.wall(e.n.w.now)))
}

func (e *nodeEnv) After(d time.Duration, ev env.Event) env.TimerID {
	w := e.n.w
	w.nextTimer++
	id := w.nextTimer
	if e.dead {
		return id
	}
	e.n.timers[id] = struct{}{}
	w.q.push(e.n.clock.timerAt(w.now, d), slot{what: doTimer, node: e.n.idx, inc: e.n.inc, id: uint64(id), ev: ev})
	return id
}

func (e *nodeEnv) Cancel(id env.TimerID) bool {
	if e.dead {
		return false
	}
	if _, ok := e.n.timers[id]; !ok {
		return false
	}
	delete(e.n.timers, id)
	return true
}

func (e *nodeEnv) Send(to env.NodeID, m env.Message) {
	if e.dead {
		return
	}
	e.n.w.send(e.n, to, m)
}

func (e *nodeEnv) Rand() *mrand.Rand { return e.rng }

func (e *nodeEnv) FS() vfs.FS { return e.fs }

func (e *nodeEnv) PebbleOptions() *pebble.Options { return disk.PebbleOptions(e.fs) }

func (e *nodeEnv) Trace(kind string, fields ...env.Field) {
	if e.dead {
		return
	}
	e.n.w.trace(e.n.id, kind, fields...)
}
