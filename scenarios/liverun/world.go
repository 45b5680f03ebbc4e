package liverun

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/liverun/proxy"
	"github.com/shoaldb/shoal/scenarios/schedule"
	"github.com/shoaldb/shoal/simnet"
)

// world is a real cluster as the nemesis sees it (nemesis.World): time is
// the wall clock since the run began, faults are signals to processes and
// settings of the proxy on every peer link, and the trace is what the
// harness records beside what the instances write. Callbacks scheduled
// with At and After run one at a time on the world's own goroutine, in
// time order.
type world struct {
	*schedule.Scheduler
	rec   *recorder
	procs map[env.NodeID]*process
	proxy *proxy.Proxy
	rand  *rand.Rand // used only on the scheduler goroutine
}

func newWorld(begin time.Time, seed uint64, rec *recorder, procs []*process, px *proxy.Proxy) *world {
	w := &world{Scheduler: schedule.New(func() time.Duration { return time.Since(begin) }), rec: rec, procs: map[env.NodeID]*process{}, proxy: px,
		rand: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for _, p := range procs {
		w.procs[p.name] = p
	}
	return w
}

func (w *world) Note(source env.NodeID, kind string, fields ...env.Field) {
	w.rec.Note(source, kind, fields...)
}

func (w *world) Rand() *rand.Rand { return w.rand }

func (w *world) Up(id env.NodeID) bool     { return w.procs[id].up() }
func (w *world) Paused(id env.NodeID) bool { return w.procs[id].isPaused() }

// Kill sends SIGKILL. The process loses its memory and whatever it had
// not yet handed to the kernel; unlike the simulator's kill, the page
// cache survives, so writes it made but never synced are not lost.
func (w *world) Kill(id env.NodeID) bool {
	inc := w.procs[id].kill()
	if inc == 0 {
		return false
	}
	w.Note(id, "node.kill", env.Int("inc", int64(inc)))
	return true
}

func (w *world) Restart(id env.NodeID) bool {
	p := w.procs[id]
	if p.up() {
		return false
	}
	if err := p.start(); err != nil {
		w.Fail(err)
		return false
	}
	p.mu.Lock()
	inc := p.inc
	p.mu.Unlock()
	w.Note(id, "node.start", env.Int("inc", int64(inc)))
	return true
}

func (w *world) Pause(id env.NodeID) bool {
	p := w.procs[id]
	if p.isPaused() || !p.signal(syscall.SIGSTOP) {
		return false
	}
	w.Note(id, "node.pause")
	return true
}

func (w *world) Resume(id env.NodeID) bool {
	p := w.procs[id]
	if !p.isPaused() || !p.signal(syscall.SIGCONT) {
		return false
	}
	w.Note(id, "node.resume", env.Int("held", 0))
	return true
}

func (w *world) Cut(from, to env.NodeID) {
	w.proxy.SetCut(from, to, true)
	w.Note(env.WorldNode, "net.cut", env.Str("from", string(from)), env.Str("to", string(to)))
}

func (w *world) Uncut(from, to env.NodeID) {
	w.proxy.SetCut(from, to, false)
	w.Note(env.WorldNode, "net.uncut", env.Str("from", string(from)), env.Str("to", string(to)))
}

func (w *world) Heal() {
	for from := range w.procs {
		for to := range w.procs {
			if from != to {
				w.proxy.SetCut(from, to, false)
			}
		}
	}
	w.Note(env.WorldNode, "net.heal")
}

func (w *world) SetLink(from, to env.NodeID, c simnet.LinkConfig) error {
	if err := w.proxy.SetLink(from, to, c); err != nil {
		return err
	}
	w.Note(env.WorldNode, "net.link", env.Str("from", string(from)), env.Str("to", string(to)),
		env.Str("dist", c.Latency.Dist.String()), env.Int("min", int64(c.Latency.Min)), env.Int("max", int64(c.Latency.Max)),
		env.Float("loss", c.Loss), env.Float("duplicate", c.Duplicate), env.Bool("reorder", c.Reorder))
	return nil
}

func (w *world) Links() []simnet.LinkStats { return w.proxy.Stats() }

// Unsupported says why real processes cannot take f, if they cannot.
func (w *world) Unsupported(f *nemesis.Fault) string { return unsupported(f) }

// unsupported names the faults real processes cannot take: their clocks
// are the machine's, their disks are real, and their endpoints are other
// people's systems. Adapt lists them before
// the run; the world traces each occurrence as taking no effect.
func unsupported(f *nemesis.Fault) string {
	switch f.Kind {
	case nemesis.Clock:
		return "not applied: a live run cannot skew the clock of a real process (the simulator can)"
	case nemesis.Disk:
		return "not applied: a live run cannot inject disk errors into a real process (the simulator can)"
	case nemesis.Endpoint:
		return "not applied: a live run has no simulated endpoints to take down (the simulator has)"
	case nemesis.Broker:
		return "not applied: a live run has no simulated Kafka broker to take down, slow or rebalance (the simulator has)"
	}
	return ""
}

// The clock and disk methods are never reached: Unsupported refuses
// those faults first.
func (w *world) SetClockOffset(env.NodeID, time.Duration) {}
func (w *world) SetClockDrift(env.NodeID, float64) error  { return errUnsupported }
func (w *world) SetClockStrobe(env.NodeID, time.Duration, time.Duration) error {
	return errUnsupported
}
func (w *world) DiskErrors(env.NodeID) int64                       { return 0 }
func (w *world) SetDiskFaults(env.NodeID, simnet.DiskFaults) error { return errUnsupported }

var errUnsupported = fmt.Errorf("liverun: a clock or disk fault reached a real process, which Unsupported should have refused")

var _ nemesis.Limited = (*world)(nil)
var _ nemesis.World = (*world)(nil)
