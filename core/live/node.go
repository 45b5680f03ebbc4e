// Package live runs shoal's engine in production: the same core/node that
// runs in the simulator, on a real disk, the wall clock, real timers and
// TCP. One goroutine per instance runs its event loop; everything that
// reaches the engine (a peer's message, a fired timer, a client's
// request) is posted to that goroutine, so the engine stays the
// single-threaded state machine the simulator runs. Its pushes to
// external systems go to the endpoint adapters of endpoint.go, where an
// outbound type registers its Sender (RegisterSender); its Kafka
// consumers' fetches and commits go to the consumer-group members of
// consumer.go.
package live

import (
	crand "crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/node"
)

// Config configures one instance.
type Config struct {
	// Name is the instance's name, unique in its cluster.
	Name env.NodeID
	// DataDir holds the instance's write-ahead log, its store and
	// members.json.
	DataDir string
	// PeerAddr is where the instance listens for its peers
	// ("127.0.0.1:0" picks a port). AdvertisePeer, if set, is the address
	// peers are told to dial instead (behind NAT or in a container).
	PeerAddr, AdvertisePeer string
	// HTTPAddr is where clients reach the instance's API, as peers are
	// told; the caller serves it.
	HTTPAddr string
	// Domain is the instance's failure domain.
	Domain map[string]string
	// Join lists peer addresses of other members.
	Join []string
	// Routes, if set, is where to dial some peers whatever they advertise
	// (TransportConfig.Routes): a harness's proxy on each peer link.
	Routes map[env.NodeID]string
	// BootstrapExpect, with Join, forms a new cluster once this many
	// instances (this one included) know each other. Zero with no Join
	// forms a cluster of this instance alone.
	BootstrapExpect int
	// ReplicationFactor is the size of a replicaset at bootstrap; zero
	// puts every instance in one replicaset.
	ReplicationFactor int
	// Settings are operator settings (cluster.Spec.Settings, such as
	// queue.max_messages) the cluster bootstraps with. Like the
	// replication factor they count only when the cluster first forms,
	// where every instance must give the same ones (members.json keeps
	// them); an instance that joins a formed cluster, or restarts, takes
	// the cluster's.
	Settings map[string]string
	// ClusterName is the name the cluster forms with (cluster.Spec.Name):
	// replication between clusters needs one, distinct for each. Like the
	// settings it counts only when the cluster first forms, and every
	// instance must give the same.
	ClusterName string
	// ServerTLS and ClientTLS secure the peer port; nil is plain TCP.
	ServerTLS, ClientTLS *tls.Config
	// Engine tunes the engine (tick, election, compaction); its Spec is
	// filled in at bootstrap.
	Engine node.Config
	// Logger receives the instance's structured log; nil discards it.
	Logger *slog.Logger
	// Registry receives the instance's metrics; nil registers none.
	Registry *prometheus.Registry
	// Trace, if set, receives every trace record as a JSON line, in the
	// simulator's format (wall-clock nanoseconds since the Unix epoch).
	Trace io.Writer
}

// Node is one running instance.
type Node struct {
	cfg       Config
	log       *slog.Logger
	fs        vfs.FS
	lock      io.Closer
	transport *Transport
	endpoints *endpoints
	consumers *kafkaConsumers
	members   *memberBook
	metrics   *metrics
	access    accessCache                // the tokens and roles in force (backend_access.go)
	view      atomic.Pointer[configView] // what requests read of group 0 (backend_view.go)

	// opened is closed when Open has finished: the transport accepts
	// peers before, and their hellos and messages wait for it.
	opened chan struct{}
	inbox  chan func()
	adopt  chan *membersFile // a cluster another instance formed with this one
	quit   chan struct{}
	done   chan struct{} // closed when the loop has returned
	dead   chan struct{} // closed when the engine died
	err    error         // why it died; read after dead is closed

	// Owned by the loop goroutine.
	eng       env.Node
	timers    map[env.TimerID]*time.Timer
	nextTimer env.TimerID
	rand      *rand.Rand
	traceBuf  []byte

	results    sync.Map    // proposal ID → chan [2]string{outcome, error}: awaited prop.results
	started    atomic.Bool // the engine runs
	slots      chan *slot  // free API clients
	slotByName map[env.NodeID]*slot
	closing    sync.Once
}

// Open prepares an instance: it locks the data directory, reads what it
// knows of its cluster and starts listening to peers. Form then joins or
// forms the cluster and starts the engine; until then the instance
// answers hellos but serves no request.
func Open(cfg Config) (*Node, error) {
	if cfg.Name == "" || strings.ContainsAny(string(cfg.Name), "/, \t\n") {
		return nil, fmt.Errorf("live: name %q: want a non-empty name without '/', ',' or spaces", cfg.Name)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("live: no data directory")
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Settings)) {
		if err := cluster.CheckSetting(k, cfg.Settings[k]); err != nil {
			return nil, fmt.Errorf("live: settings: %w", err)
		}
	}
	if cfg.ClusterName != "" {
		if err := kv.CheckClusterName(cfg.ClusterName); err != nil {
			return nil, fmt.Errorf("live: %w", err)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("live: data directory: %w", err)
	}
	lock, err := vfs.Default.Lock(cfg.DataDir + "/LOCK")
	if err != nil {
		return nil, fmt.Errorf("live: data directory %s is in use by another process: %w", cfg.DataDir, err)
	}
	n := &Node{
		cfg: cfg, log: cfg.Logger.With("node", string(cfg.Name)), fs: newRootFS(cfg.DataDir), lock: lock,
		opened: make(chan struct{}), inbox: make(chan func(), 8192), adopt: make(chan *membersFile, 1), quit: make(chan struct{}), done: make(chan struct{}), dead: make(chan struct{}),
		timers: map[env.TimerID]*time.Timer{}, rand: rand.New(rand.NewPCG(osSeed(), osSeed())),
	}
	n.endpoints = newEndpoints(n.log, pushTimeout, func(from env.NodeID, m *connector.Pushed) {
		n.post(func() {
			if n.eng != nil {
				n.eng.Receive(from, m)
			}
		})
	})
	n.consumers = newKafkaConsumers(n.log, func(from env.NodeID, m env.Message) {
		n.post(func() {
			if n.eng != nil {
				n.eng.Receive(from, m)
			}
		})
	})
	n.members, err = loadMembers(cfg.DataDir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	n.transport, err = NewTransport(TransportConfig{
		Self: cfg.Name, Listen: cfg.PeerAddr, ServerTLS: cfg.ServerTLS, ClientTLS: cfg.ClientTLS,
		Deliver: n.deliver, OnHello: n.onHello, SelfHello: n.members.hello, Routes: cfg.Routes, Logger: n.log,
	})
	if err != nil {
		lock.Close()
		return nil, err
	}
	n.members.setSelf(n.self())
	for _, m := range n.members.list() {
		if m.Name != cfg.Name {
			n.transport.SetPeer(m.Name, m.PeerAddr)
		}
	}
	n.metrics = newMetrics(cfg.Registry, n)
	n.slots = make(chan *slot, apiSlots)
	boot := make([]byte, 6)
	_, _ = crand.Read(boot)
	n.slotByName = map[env.NodeID]*slot{}
	for i := range apiSlots {
		s := &slot{name: env.NodeID(fmt.Sprintf("%s/api%d.%s", cfg.Name, i, hex.EncodeToString(boot))), resp: make(chan *kvResponse, 1)}
		n.slotByName[s.name] = s
		n.slots <- s
	}
	go n.loop()
	close(n.opened)
	return n, nil
}

func osSeed() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// self is what this instance says about itself in hellos.
func (n *Node) self() Member {
	peer := n.cfg.AdvertisePeer
	if peer == "" {
		peer = n.transport.Addr()
	}
	return Member{Name: n.cfg.Name, PeerAddr: peer, HTTPAddr: n.cfg.HTTPAddr, Domain: n.cfg.Domain}
}

// PeerAddr is the address the instance listens on for peers.
func (n *Node) PeerAddr() string { return n.transport.Addr() }

// Dead is closed when the engine died (its disk failed it, or a bug);
// Err says why.
func (n *Node) Dead() <-chan struct{} { return n.dead }

// Err is why the engine died, once Dead is closed.
func (n *Node) Err() error {
	select {
	case <-n.dead:
		return n.err
	default:
		return nil
	}
}

// post hands f to the loop; it waits while the loop's inbox is full,
// which slows the peer or client that sends too fast.
func (n *Node) post(f func()) bool {
	select {
	case n.inbox <- f:
		return true
	case <-n.quit:
		return false
	}
}

// maxBatch bounds the posted functions the loop runs before the engine
// processes what they produced (node.Node.Batch): enough to share one
// log sync among every client of a busy instance, few enough that the
// first of them does not wait long for the last.
const maxBatch = 256

// batcher is the engine's Batch (core/node).
type batcher interface{ Batch(fn func()) }

// loop runs the engine: one posted function at a time, and with it the
// others already waiting (up to maxBatch), in one engine batch.
func (n *Node) loop() {
	defer close(n.done)
	for {
		select {
		case f := <-n.inbox:
			if !n.run(func() { n.batch(f); n.refreshAccess() }) {
				return
			}
		case <-n.quit:
			return
		}
	}
}

// batch runs f and the functions waiting behind it inside one engine
// batch, when the engine runs and batches.
func (n *Node) batch(f func()) {
	b, ok := n.eng.(batcher)
	if !ok {
		f()
		return
	}
	b.Batch(func() {
		f()
		for range maxBatch - 1 {
			if n.eng == nil {
				return // a posted function stopped the engine
			}
			select {
			case g := <-n.inbox:
				g()
			default:
				return
			}
		}
	})
}

// run runs f on the loop, and turns the engine's death into the node's:
// an env.Fatal (its disk failed it) or any other panic (a bug) stops the
// engine for good. The process should exit; a restart recovers from the
// disk.
func (n *Node) run(f func()) (alive bool) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		var err error
		if fatal, ok := r.(env.Fatal); ok {
			err = fatal
		} else {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
		n.die(err)
		alive = false
	}()
	f()
	return true
}

func (n *Node) die(err error) {
	n.log.Error("the engine stopped", "error", err)
	// As the simulator records a node that died of its own state (a
	// failed disk, a raft invariant), for the checkers. A live instance
	// does not count its incarnations: inc is 0.
	envOf{n}.Trace("node.crash", env.Int("inc", 0), env.Str("error", err.Error()))
	n.err = err
	n.started.Store(false)
	n.view.Store(nil) // requests ask the loop again, which answers unavailable
	for id, t := range n.timers {
		t.Stop()
		delete(n.timers, id)
	}
	if s, ok := n.eng.(env.Stopper); ok {
		s.Stop()
	}
	n.eng = nil
	close(n.dead)
}

// startEngine starts the engine on the loop with the cluster's spec.
func (n *Node) startEngine(cfg node.Config) error {
	// The access configuration comes from group 0: trust none until this
	// start has caught up with its leader (backend_access.go).
	cfg.SyncConfig = true
	errc := make(chan error, 1)
	ok := n.post(func() {
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					if fatal, ok := r.(env.Fatal); ok {
						err = fatal
					} else {
						err = fmt.Errorf("panic at start: %v\n%s", r, debug.Stack())
					}
				}
			}()
			n.eng, err = node.Start(cfg)(envOf{n})
		}()
		if err == nil {
			n.started.Store(true)
		}
		errc <- err
	})
	if !ok {
		return errors.New("live: the node is closing")
	}
	return <-errc
}

// deliver hands a peer's message to the engine, or a response to the API
// request waiting for it. It runs on the transport's reader goroutines.
func (n *Node) deliver(from, to env.NodeID, m env.Message) {
	<-n.opened
	if to != n.cfg.Name {
		n.toSlot(to, m)
		return
	}
	n.post(func() {
		if n.eng != nil {
			n.eng.Receive(from, m)
		}
	})
}

// RecordDigests has the engine record each group's applied index and
// state digest in the trace now (sm.digest), for the convergence check of
// a real cluster's run. It returns once the engine has, or at once when
// the engine is not running.
func (n *Node) RecordDigests() {
	done := make(chan struct{})
	if !n.post(func() {
		defer close(done)
		if n.eng != nil {
			n.eng.Handle(&node.Digest{})
		}
	}) {
		return
	}
	<-done
}

// Close stops the instance: the loop, the engine (which closes its log
// and store), the endpoint adapters, the transport, and the data
// directory's lock.
func (n *Node) Close() error {
	n.closing.Do(func() {
		stopped := make(chan struct{})
		if n.post(func() {
			for id, t := range n.timers {
				t.Stop()
				delete(n.timers, id)
			}
			if s, ok := n.eng.(env.Stopper); ok && n.eng != nil {
				s.Stop()
			}
			n.eng = nil
			n.started.Store(false)
			close(stopped)
		}) {
			select {
			case <-stopped:
			case <-n.done:
			}
		}
		close(n.quit)
		<-n.done
		n.endpoints.close()
		n.consumers.close()
		n.transport.Close()
		n.lock.Close()
	})
	return nil
}

// envOf is the engine's env.Env: every method runs on the loop goroutine.
type envOf struct{ n *Node }

func (e envOf) ID() env.NodeID { return e.n.cfg.Name }
func (e envOf) Now() time.Time { return time.Now() }

func (e envOf) After(d time.Duration, ev env.Event) env.TimerID {
	n := e.n
	n.nextTimer++
	id := n.nextTimer
	n.timers[id] = time.AfterFunc(max(d, 0), func() {
		n.post(func() {
			if _, ok := n.timers[id]; !ok || n.eng == nil {
				return // cancelled after it fired
			}
			delete(n.timers, id)
			n.eng.Handle(ev)
		})
	})
	return id
}

func (e envOf) Cancel(id env.TimerID) bool {
	t, ok := e.n.timers[id]
	if ok {
		t.Stop()
		delete(e.n.timers, id)
	}
	return ok
}

func (e envOf) Send(to env.NodeID, m env.Message) {
	n := e.n
	switch {
	case to == n.cfg.Name:
		n.post(func() {
			if n.eng != nil {
				n.eng.Receive(to, m)
			}
		})
	case isEndpoint(to) && n.slotByName[to] == nil:
		// Never to a peer. (An instance named "ext" has API clients
		// named like endpoints; they are its slots.)
		if _, in := connector.IsInboundEndpoint(to); in {
			n.consumers.send(to, m)
		} else {
			n.endpoints.send(to, m)
		}
	case strings.HasPrefix(string(to), string(n.cfg.Name)+"/"):
		n.toSlot(to, m)
	default:
		n.transport.Send(to, m)
	}
}

func (e envOf) Rand() *rand.Rand { return e.n.rand }
func (e envOf) FS() vfs.FS       { return e.n.fs }

// PebbleOptions are pebble's own defaults, background flushes and
// compactions included: only the simulator restricts them.
func (e envOf) PebbleOptions() *pebble.Options {
	return &pebble.Options{FS: e.n.fs, FormatMajorVersion: pebble.FormatColumnarBlocks, Logger: pebbleLogger{e.n.log}}
}

func (e envOf) Trace(kind string, fields ...env.Field) {
	n := e.n
	n.metrics.observe(kind, fields)
	switch kind {
	case "prop.result":
		r := env.Record{Kind: kind, Fields: fields}
		id, _ := r.Str("id")
		if ch, ok := n.results.Load(id); ok {
			outcome, _ := r.Str("outcome")
			why, _ := r.Str("error")
			select {
			case ch.(chan [2]string) <- [2]string{outcome, why}:
			default:
			}
		}
	case "raft.apply", "raft.snapshot.install", "config.synced":
		n.noteApplied(kind, fields)
	case "node.expelled":
		n.log.Error("this instance was expelled from the cluster: it serves nothing from now on; stop it, and remove its data directory")
	case "governor.step":
		r := env.Record{Kind: kind, Fields: fields}
		op, _ := r.Str("op")
		inst, _ := r.Str("instance")
		voters, _ := r.Str("voters")
		reason, _ := r.Str("reason")
		n.log.Info("governor step", "op", op, "instance", inst, "voters", voters, "reason", reason)
	case "raft.conf":
		r := env.Record{Kind: kind, Fields: fields}
		if g, _ := r.Str("group"); g == "config" {
			voters, _ := r.Str("voters")
			learners, _ := r.Str("learners")
			var names []env.NodeID
			for _, s := range strings.Split(voters+","+learners, ",") {
				if s != "" {
					names = append(names, env.NodeID(s))
				}
			}
			n.members.setInstances(names)
		}
	}
	if n.cfg.Trace != nil {
		n.traceBuf = env.AppendLine(n.traceBuf[:0], time.Now().UnixNano(), n.cfg.Name, kind, fields)
		if _, err := n.cfg.Trace.Write(n.traceBuf); err != nil {
			n.log.Warn("trace write failed", "error", err)
		}
	}
}

// pebbleLogger sends pebble's log to the instance's; pebble's Fatalf
// ends the engine as a failed disk does.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (l pebbleLogger) Fatalf(format string, args ...any) {
	panic(env.Fatal{Err: fmt.Errorf("pebble: "+format, args...)})
}

// awaitResult returns a channel that receives the outcome of the
// proposal id when the engine records it (prop.result).
func (n *Node) awaitResult(id string) <-chan [2]string {
	ch := make(chan [2]string, 1)
	n.results.Store(id, ch)
	return ch
}

func (n *Node) forgetResult(id string) { n.results.Delete(id) }

func isEndpoint(id env.NodeID) bool {
	_, ok := connector.IsEndpoint(id)
	return ok
}
