package foreign

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/schedule"
	"github.com/shoaldb/shoal/simnet"
)

// world is a foreign cluster as the nemesis sees it (nemesis.World and
// nemesis.Cluster): time is the bubble's virtual time since the run
// began, faults are cuts and link settings of the Net and kills and
// restarts of the target's nodes. Callbacks scheduled with At and After
// run one at a time, in time order, on the world's own goroutine.
type world struct {
	*schedule.Scheduler
	rec   *Recorder
	net   *Net
	c     Cluster
	t     Target
	nodes []env.NodeID
	rand  *rand.Rand // used only on the scheduler goroutine

	mu sync.Mutex
	up map[env.NodeID]bool
}

func newWorld(rec *Recorder, net *Net, t Target, nodes []env.NodeID, seed uint64) *world {
	return &world{Scheduler: schedule.New(rec.Now), rec: rec, net: net, t: t, nodes: nodes,
		rand: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), up: map[env.NodeID]bool{}}
}

func (w *world) Note(source env.NodeID, kind string, fields ...env.Field) {
	w.rec.Note(source, kind, fields...)
}

func (w *world) Rand() *rand.Rand { return w.rand }

func (w *world) Up(id env.NodeID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.up[id]
}

// Paused is always false: Unsupported refuses pauses.
func (w *world) Paused(env.NodeID) bool { return false }

// started records a node's first start.
func (w *world) started(id env.NodeID) int {
	inc := w.net.start(id)
	w.rec.setDown(id, false, "node.start", env.Int("inc", int64(inc)))
	w.mu.Lock()
	w.up[id] = true
	w.mu.Unlock()
	return inc
}

// Kill takes the node off the network and out of the trace, then has the
// target stop it as a crash would.
func (w *world) Kill(id env.NodeID) bool {
	if !w.Up(id) {
		return false
	}
	inc, _ := w.net.incarnation(id)
	w.net.stop(id)
	w.rec.setDown(id, true, "node.kill", env.Int("inc", int64(inc)))
	w.mu.Lock()
	w.up[id] = false
	w.mu.Unlock()
	if err := w.c.Kill(id); err != nil {
		w.Fail(fmt.Errorf("killing %s: %w", id, err))
	}
	return true
}

// Restart starts the node again as a new incarnation, on what the target
// kept of it. A target that cannot restart it fails the run: the node is
// traced as failed to start (node.fail) and stays down.
func (w *world) Restart(id env.NodeID) bool {
	if w.Up(id) {
		return false
	}
	inc := w.started(id)
	if err := w.c.Restart(id); err != nil {
		w.net.stop(id)
		w.rec.setDown(id, true, "node.fail", env.Int("inc", int64(inc)), env.Str("error", err.Error()))
		w.mu.Lock()
		w.up[id] = false
		w.mu.Unlock()
		w.Fail(fmt.Errorf("restarting %s: %w", id, err))
		return false
	}
	return true
}

// Pause and Resume are never reached: Unsupported refuses pauses.
func (w *world) Pause(env.NodeID) bool  { return false }
func (w *world) Resume(env.NodeID) bool { return false }

func (w *world) Cut(from, to env.NodeID)   { w.net.Cut(from, to) }
func (w *world) Uncut(from, to env.NodeID) { w.net.Uncut(from, to) }
func (w *world) Heal()                     { w.net.Heal() }
func (w *world) SetLink(from, to env.NodeID, c simnet.LinkConfig) error {
	return w.net.SetLink(from, to, c)
}
func (w *world) Links() []simnet.LinkStats { return w.net.Stats() }

// Unsupported says why a foreign cluster cannot take f, if it cannot.
func (w *world) Unsupported(f *nemesis.Fault) string { return unsupported(w.t, f) }

// unsupported names the faults a foreign target cannot take. Adapt lists
// them before the run; the nemesis traces each occurrence as taking no
// effect, with the reason, so the faults check says unknown.
func unsupported(t Target, f *nemesis.Fault) string {
	switch f.Kind {
	case nemesis.Pause:
		return "not applied: a foreign target's goroutines and timers cannot be frozen (the simulator pauses a node's event loop)"
	case nemesis.Clock:
		return "not applied: every node of a foreign target reads the synctest bubble's one clock, which cannot be skewed for one of them"
	case nemesis.Disk:
		return "not applied: a foreign target's stores are its own, with no simulated disk to fail"
	case nemesis.Endpoint:
		return "not applied: a foreign run has no simulated endpoints"
	case nemesis.Broker:
		return "not applied: a foreign run has no simulated Kafka brokers"
	case nemesis.DCLink:
		return "not applied: a foreign run has one cluster"
	case nemesis.Link:
		if f.Duplicate != nil && *f.Duplicate > 0 {
			return "not applied: the foreign Net carries each call as over one connection, which never delivers a message twice"
		}
	case nemesis.Kill, nemesis.Restart:
		if t.Kill == "" {
			return "not applied: the target cannot be killed"
		}
	}
	return ""
}

// The clock and disk methods are never reached: Unsupported refuses
// those faults first.
func (w *world) SetClockOffset(env.NodeID, time.Duration)                      {}
func (w *world) SetClockDrift(env.NodeID, float64) error                       { return errUnsupported }
func (w *world) SetClockStrobe(env.NodeID, time.Duration, time.Duration) error { return errUnsupported }
func (w *world) DiskErrors(env.NodeID) int64                                   { return 0 }
func (w *world) SetDiskFaults(env.NodeID, simnet.DiskFaults) error             { return errUnsupported }

var errUnsupported = errors.New("foreign: a clock or disk fault reached a foreign target, which Unsupported should have refused")

// Instances lists the nodes, n1..nN.
func (w *world) Instances() []env.NodeID { return w.nodes }

// Replicasets lists the one group.
func (w *world) Replicasets() []string { return []string{w.t.Group} }

// Members lists every node: each is a voter of the one group.
func (w *world) Members(string) []env.NodeID { return w.nodes }

// Voters lists every node.
func (w *world) Voters() []env.NodeID { return w.nodes }

// Leader is the target's leader, whatever the group asked for: it has
// one.
func (w *world) Leader(string) (env.NodeID, bool) {
	id, ok := w.c.Leader()
	if ok && !w.Up(id) {
		return "", false
	}
	return id, ok
}

var (
	_ nemesis.World   = (*world)(nil)
	_ nemesis.Limited = (*world)(nil)
	_ nemesis.Cluster = (*world)(nil)
)
