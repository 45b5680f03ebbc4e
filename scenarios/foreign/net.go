package foreign

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet"
)

// Handler receives a message at a node and answers it: reply is the
// answer's body and replyMsg its kind. It runs in a goroutine of the
// Net's, one per message, and may block (a target's transport waits for
// its Raft to answer). body is the sender's value, shared: a target
// copies what its nodes must not share.
type Handler func(from env.NodeID, msg string, body any) (reply any, replyMsg string, err error)

// The errors of Call.
var (
	// ErrRefused: the receiver is down, so nothing was sent (a connection
	// refused).
	ErrRefused = errors.New("connection refused: the node is down")
	// ErrTimeout: no answer came within the timeout. The request may
	// have been handled.
	ErrTimeout = errors.New("no answer within the timeout")
	// ErrLost: the receiver died while it handled the request (a
	// connection reset). The request may have been handled.
	ErrLost = errors.New("the connection was lost after the request was sent")
	// ErrClosed: the sender is down, or its done channel closed.
	ErrClosed = errors.New("the sender stopped")
)

// KVRequest is the kind of the clients' messages, which the harness
// serves at every node (Cluster.Serve); KVResponse is their answers'.
const (
	KVRequest  = "kv.request"
	KVResponse = "kv.response"
)

// Net is the simulated network between a target's nodes and the
// harness's clients: every directed link has a latency and a loss
// probability (simnet.LinkConfig; duplication is not modelled), keeps
// its messages in the order sent unless it is set to reorder, and can be
// cut. The nemesis sets the
// links between instances; a client's links keep the scenario's network.
//
// A message is a call: a request and its answer, each crossing its link
// (there and back), as over one connection. A message's fate is decided
// when it is sent (the link is cut, it is lost, or the receiver is down:
// then the sender learns at once, as from a refused connection) and again
// when it arrives (the link was cut meanwhile, or the receiver died or
// restarted). A lost request or answer leaves the caller waiting for its
// timeout. Every message is traced as the simulator traces it:
// net.recv at the receiver, or net.drop with why (cut, loss, down,
// restarted).
type Net struct {
	rec  *Recorder
	base simnet.LinkConfig
	// flights counts the messages in flight, each a goroutine: a bubble
	// must see them all end before it closes.
	flights sync.WaitGroup

	mu     sync.Mutex
	rng    *rand.Rand
	links  map[link]*linkState
	nodes  map[env.NodeID]*netNode
	nextID int64
	// kv serves the clients' requests at every node: the harness's.
	kv func(to env.NodeID, inc int, from env.NodeID, req *Request) (Answer, error)
}

type link struct{ from, to env.NodeID }

type linkState struct {
	cfg  simnet.LinkConfig
	cut  bool
	cuts int64 // how many times it has been cut: a message in flight across a cut is lost
	// last is when the latest message sent on it arrives (virtual ns):
	// unless cfg.Reorder, the next arrives after it.
	last  int64
	stats []simnet.KindStats
}

type netNode struct {
	inc     int // incarnation: 1 at the first start, +1 at each restart
	up      bool
	handler Handler
}

// message is one message in flight.
type message struct {
	id       int64
	from, to env.NodeID
	msg      string
	sent     int64 // virtual ns
	delay    time.Duration
	cuts     int64 // the link's cut count at the send
	toInc    int   // the receiver's incarnation it is for
	fromInc  int   // the sender's, for the answer
}

// NewNet returns a network whose links all behave as base, its draws
// made from seed (a run is not replayable, so the seed only spreads them).
func NewNet(rec *Recorder, seed uint64, base simnet.LinkConfig) (*Net, error) {
	if err := base.Validate(); err != nil {
		return nil, err
	}
	return &Net{rec: rec, base: base, rng: rand.New(rand.NewPCG(seed, 0x6e6574)),
		links: map[link]*linkState{}, nodes: map[env.NodeID]*netNode{}}, nil
}

// Listen makes h node id's handler until it goes down: a target calls it
// when it starts the node, and again at each restart.
func (n *Net) Listen(id env.NodeID, h Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nd := n.nodes[id]; nd != nil && nd.up {
		nd.handler = h
	}
}

// start brings node id up as a new incarnation and returns it.
func (n *Net) start(id env.NodeID) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	nd := n.nodes[id]
	if nd == nil {
		nd = &netNode{}
		n.nodes[id] = nd
	}
	nd.inc++
	nd.up, nd.handler = true, nil
	return nd.inc
}

// stop takes node id down: it sends and receives nothing more.
func (n *Net) stop(id env.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nd := n.nodes[id]; nd != nil {
		nd.up, nd.handler = false, nil
	}
}

// incarnation is node id's current incarnation, and whether it is up.
func (n *Net) incarnation(id env.NodeID) (int, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if nd := n.nodes[id]; nd != nil {
		return nd.inc, nd.up
	}
	return 0, false
}

func (n *Net) link(from, to env.NodeID) *linkState {
	k := link{from, to}
	l := n.links[k]
	if l == nil {
		l = &linkState{cfg: n.base}
		n.links[k] = l
	}
	return l
}

func (l *linkState) kind(msg string) *simnet.KindStats {
	for i := range l.stats {
		if l.stats[i].Kind == msg {
			return &l.stats[i]
		}
	}
	l.stats = append(l.stats, simnet.KindStats{Kind: msg})
	return &l.stats[len(l.stats)-1]
}

type callResult struct {
	reply any
	err   error
}

// Call sends body from a node (or client) to node to as a message of kind
// msg, and waits for the answer, at most timeout, or until done closes
// (nil: never). The errors are ErrRefused, ErrTimeout, ErrLost and
// ErrClosed, or the handler's own.
func (n *Net) Call(from, to env.NodeID, msg string, body any, timeout time.Duration, done <-chan struct{}) (any, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	m, err := n.send(from, to, msg, 0)
	if err != nil {
		return nil, err
	}
	result := make(chan callResult, 1)
	if m != nil {
		n.flights.Go(func() { n.fly(m, body, result) })
	}
	select {
	case r := <-result:
		return r.reply, r.err
	case <-timer.C:
		return nil, ErrTimeout
	case <-done:
		return nil, ErrClosed
	}
}

// fly carries a request to its receiver, has it handled, and carries the
// answer back.
func (n *Net) fly(m *message, body any, result chan<- callResult) {
	time.Sleep(m.delay)
	h, ok := n.arrive(m)
	if !ok {
		return
	}
	reply, replyMsg, err := h(m.from, m.msg, body)
	a, serr := n.send(m.to, m.from, replyMsg, m.fromInc, m.toInc)
	switch {
	case errors.Is(serr, errServerDied):
		result <- callResult{nil, ErrLost}
		return
	case serr != nil || a == nil:
		return
	}
	time.Sleep(a.delay)
	if _, ok := n.arrive(a); ok {
		result <- callResult{reply, err}
	}
}

// errServerDied: the node that handled a request went down, or
// restarted, before it answered; its caller sees the connection reset,
// unless the link back is cut.
var errServerDied = errors.New("the server died")

// send decides a message's fate at its send and returns it in flight, or
// nil when it is dropped (the caller then hears nothing). toInc is the
// receiver's incarnation an answer is for (0 for a request: the current
// one); an answer also gives its sender's incarnation, fromInc[0], which
// must still be the current one.
func (n *Net) send(from, to env.NodeID, msg string, toInc int, fromInc ...int) (*message, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	sender := n.nodes[from]
	l := n.link(from, to)
	switch {
	case len(fromInc) > 0 && (sender == nil || !sender.up || sender.inc != fromInc[0]):
		if l.cut {
			return nil, nil
		}
		return nil, errServerDied
	case sender == nil || !sender.up:
		return nil, ErrClosed
	}
	n.nextID++
	m := &message{id: n.nextID, from: from, to: to, msg: msg, sent: int64(n.rec.Now()), cuts: l.cuts, toInc: toInc, fromInc: sender.inc}
	st := l.kind(msg)
	st.Sent++
	drop := func(why string) {
		st.Dropped++
		n.rec.Note(from, "net.drop", env.Str("from", string(from)), env.Str("to", string(to)), env.Str("msg", msg),
			env.Int("id", m.id), env.Str("why", why))
	}
	receiver := n.nodes[to]
	switch {
	case l.cut:
		drop("cut")
		return nil, nil
	case receiver == nil || !receiver.up || toInc != 0 && receiver.inc != toInc:
		why := "down"
		if receiver != nil && receiver.up {
			why = "restarted"
		}
		drop(why)
		if toInc != 0 {
			return nil, nil // an answer: its caller is gone
		}
		return nil, ErrRefused
	case l.cfg.Loss > 0 && n.rng.Float64() < l.cfg.Loss:
		drop("loss")
		return nil, nil
	}
	if m.toInc == 0 {
		m.toInc = receiver.inc
	}
	m.delay = l.cfg.Latency.Draw(n.rng)
	if !l.cfg.Reorder {
		// FIFO, as simnet's links: a message arrives no earlier than the
		// one sent before it on the link, and a nanosecond later, since
		// two goroutines woken at one instant run in either order.
		at := max(m.sent+int64(m.delay), l.last+1)
		m.delay, l.last = time.Duration(at-m.sent), at
	}
	return m, nil
}

// arrive decides a message's fate at its arrival: it is delivered, and
// traced, unless its link was cut since it was sent or its receiver is
// down or another incarnation. It returns the receiver's handler.
func (n *Net) arrive(m *message) (Handler, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.link(m.from, m.to)
	st := l.kind(m.msg)
	receiver := n.nodes[m.to]
	why := ""
	switch {
	case l.cut || l.cuts != m.cuts:
		why = "cut"
	case receiver == nil || !receiver.up:
		why = "down"
	case receiver.inc != m.toInc:
		why = "restarted"
	}
	if why != "" {
		st.Dropped++
		n.rec.noteAlways(m.to, "net.drop", env.Str("from", string(m.from)), env.Str("to", string(m.to)), env.Str("msg", m.msg),
			env.Int("id", m.id), env.Str("why", why))
		return nil, false
	}
	st.Delivered++
	n.rec.Note(m.to, "net.recv", env.Str("from", string(m.from)), env.Str("msg", m.msg), env.Int("id", m.id), env.Int("sent", m.sent))
	if m.msg == KVRequest {
		to, inc := m.to, receiver.inc
		return func(from env.NodeID, _ string, body any) (any, string, error) {
			a, err := n.kv(to, inc, from, body.(*Request))
			return a, KVResponse, err
		}, true
	}
	if receiver.handler == nil {
		return func(env.NodeID, string, any) (any, string, error) {
			return nil, m.msg + ".error", fmt.Errorf("%s does not listen", m.to)
		}, true
	}
	return receiver.handler, true
}

// wait waits until every message in flight has arrived or been dropped,
// and every handler has returned.
func (n *Net) wait() { n.flights.Wait() }

// Cut cuts the link from→to: what is sent on it, or in flight across it,
// is lost.
func (n *Net) Cut(from, to env.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.link(from, to)
	l.cut = true
	l.cuts++
	n.rec.noteAlways(env.WorldNode, "net.cut", env.Str("from", string(from)), env.Str("to", string(to)))
}

// Uncut restores the link from→to.
func (n *Net) Uncut(from, to env.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.link(from, to).cut = false
	n.rec.noteAlways(env.WorldNode, "net.uncut", env.Str("from", string(from)), env.Str("to", string(to)))
}

// Heal restores every link.
func (n *Net) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.links {
		l.cut = false
	}
	n.rec.noteAlways(env.WorldNode, "net.heal")
}

// SetLink sets how the link from→to behaves.
func (n *Net) SetLink(from, to env.NodeID, c simnet.LinkConfig) error {
	if err := c.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.link(from, to).cfg = c
	n.rec.noteAlways(env.WorldNode, "net.link", env.Str("from", string(from)), env.Str("to", string(to)),
		env.Str("dist", c.Latency.Dist.String()), env.Int("min", int64(c.Latency.Min)), env.Int("max", int64(c.Latency.Max)),
		env.Float("loss", c.Loss), env.Float("duplicate", c.Duplicate), env.Bool("reorder", c.Reorder))
	return nil
}

// Stats counts the traffic of every link that carried any, sorted by
// link and by kind.
func (n *Net) Stats() []simnet.LinkStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]simnet.LinkStats, 0, len(n.links))
	for k, l := range n.links {
		if len(l.stats) == 0 {
			continue
		}
		kinds := slices.Clone(l.stats)
		slices.SortFunc(kinds, func(a, b simnet.KindStats) int { return cmp.Compare(a.Kind, b.Kind) })
		out = append(out, simnet.LinkStats{From: k.from, To: k.to, Kinds: kinds})
	}
	slices.SortFunc(out, func(a, b simnet.LinkStats) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return out
}
