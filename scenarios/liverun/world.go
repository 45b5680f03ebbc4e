package liverun

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/liverun/proxy"
	"github.com/shoaldb/shoal/simnet"
)

// world is a real cluster as the nemesis sees it (nemesis.World): time is
// the wall clock since the run began, faults are signals to processes and
// settings of the proxy on every peer link, and the trace is what the
// harness records beside what the instances write. Callbacks scheduled
// with At and After run one at a time on the world's own goroutine, in
// time order.
type world struct {
	begin time.Time
	rec   *recorder
	procs map[env.NodeID]*process
	proxy *proxy.Proxy
	rand  *rand.Rand // used only on the scheduler goroutine

	mu     sync.Mutex
	queue  events
	seq    uint64
	wake   chan struct{}
	done   chan struct{}
	closed bool
	// failed holds the first error an action met (a process that would
	// not start): the run reports it rather than go on as if it had
	// happened.
	failed error
}

func newWorld(begin time.Time, seed uint64, rec *recorder, procs []*process, px *proxy.Proxy) *world {
	w := &world{begin: begin, rec: rec, procs: map[env.NodeID]*process{}, proxy: px,
		rand: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), wake: make(chan struct{}, 1), done: make(chan struct{})}
	for _, p := range procs {
		w.procs[p.name] = p
	}
	go w.loop()
	return w
}

type event struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(i, j int) bool {
	return e[i].at < e[j].at || e[i].at == e[j].at && e[i].seq < e[j].seq
}
func (e events) Swap(i, j int) { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

func (w *world) Now() time.Duration { return time.Since(w.begin) }

func (w *world) At(t time.Duration, fn func()) {
	w.mu.Lock()
	w.seq++
	heap.Push(&w.queue, event{t, w.seq, fn})
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *world) After(d time.Duration, fn func()) { w.At(w.Now()+d, fn) }

// loop runs the scheduled callbacks when their time comes.
func (w *world) loop() {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return
		}
		var next *event
		if len(w.queue) > 0 {
			next = &w.queue[0]
		}
		if next != nil && next.at <= w.Now() {
			ev := heap.Pop(&w.queue).(event)
			w.mu.Unlock()
			ev.fn()
			continue
		}
		wait := time.Hour
		if next != nil {
			wait = next.at - w.Now()
		}
		w.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-w.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
	}
}

// close stops the scheduler; callbacks not yet run never run.
func (w *world) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-w.done
}

func (w *world) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == nil {
		w.failed = err
	}
}

func (w *world) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
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
		w.fail(err)
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
