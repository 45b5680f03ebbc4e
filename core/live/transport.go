package live

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// The transport's limits and timings.
const (
	// DefaultQueueSize is how many messages wait for one peer, at most,
	// unless TransportConfig.QueueSize says otherwise.
	DefaultQueueSize = 4096
	// maxInbound bounds the connections a transport accepts at once:
	// every peer holds one, discovery a few more for a moment.
	maxInbound = 1024
	// maxHelloFrame bounds the first frame of an accepted connection, read
	// before the peer has said who it is.
	maxHelloFrame = 1 << 20
	// minBackoff and maxBackoff bound the wait between attempts to reach
	// a peer; it doubles after every failure, with jitter.
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
	// stableConn is how long a connection must have lived for its loss
	// to be redialled at once rather than after the backoff: a peer that
	// accepts and drops every connection is not hammered.
	stableConn = time.Second
	// dialTimeout bounds a dial and its TLS handshake; handshakeTimeout
	// bounds an accepted connection's TLS handshake and hello;
	// writeTimeout bounds each write to a peer, so that a peer which
	// stopped reading costs a reconnect instead of a stuck writer.
	dialTimeout      = 5 * time.Second
	handshakeTimeout = 10 * time.Second
	writeTimeout     = 10 * time.Second
	// writeBuffer is the size of a connection's write batch.
	writeBuffer = 64 << 10
)

// Why a message was dropped, in TransportStats.DroppedBy.
const (
	DropNoAddress   = "no address"
	DropQueueFull   = "queue full"
	DropClosed      = "closed"
	DropUnencodable = "unencodable"
	DropTooLarge    = "too large"
	DropLost        = "connection lost"
	DropNotOurs     = "foreign sender"
)

// Why an accepted connection was closed, in TransportStats.Rejected, next
// to the Reason constants of FrameError.
const (
	RejectTLS         = "tls handshake"
	RejectNotHello    = "not a hello"
	RejectBadHello    = "bad hello"
	RejectWrongNode   = "wrong node"
	RejectForgedFrom  = "forged from"
	RejectMisrouted   = "misrouted"
	RejectTooManyConn = "too many connections"
)

// TransportConfig configures a Transport.
type TransportConfig struct {
	// Self is this node's name.
	Self env.NodeID
	// Listen is the host:port to accept peers on ("127.0.0.1:0" picks a
	// port).
	Listen string
	// ServerTLS, when set, makes the listener accept only TLS (and mutual
	// TLS when it requires client certificates); nil is plain TCP.
	ServerTLS *tls.Config
	// ClientTLS is used to dial peers; nil is plain TCP.
	ClientTLS *tls.Config
	// QueueSize is how many messages may wait for one peer (default
	// DefaultQueueSize).
	QueueSize int
	// MaxFrame bounds the body of a frame read or written (default
	// MaxFrameSize).
	MaxFrame int
	// Deliver is called, from the connection's reader goroutine, for
	// every message a peer sent to Self or to a name under Self ("n1/..."
	// when Self is "n1"). Messages of one peer arrive in the order it sent
	// them; while Deliver runs, that peer's connection reads nothing more.
	Deliver func(from, to env.NodeID, m env.Message)
	// OnHello answers a discovery hello (Exchange from another node): it
	// sees theirs and returns ours. It is also called with the hello that
	// opens every peer connection (its answer is not sent), so the node
	// learns peers' addresses; a hello that gives no peer address teaches
	// nothing and is not passed on. It runs on a reader goroutine and may
	// call SetPeer.
	OnHello func(h *Hello) *Hello
	// SelfHello gives the hello that opens each outbound peer connection:
	// this node's Member, as OnHello's answers carry it. Nil (or a hello
	// from another name) sends a hello that only names Self, which gives
	// the peer's OnHello nothing to learn.
	SelfHello func() *Hello
	// Routes, if set, names for some peers the address to dial whatever
	// the peer advertises: `shoal live run` sends every peer link through
	// a proxy of its own this way, so that it can cut and slow each
	// directed link. SetPeer still records the advertised address.
	Routes map[env.NodeID]string
	// Logger receives the transport's log; nil discards it.
	Logger *slog.Logger
}

// TransportStats is what a transport counted since it started.
type TransportStats struct {
	// Sent counts messages written to a peer connection, by kind. A
	// connection that breaks may lose the last of them; the network
	// promises nothing more.
	Sent map[string]uint64
	// Dropped counts messages that never reached a connection, by kind;
	// DroppedBy counts the same drops by reason (the Drop constants).
	Dropped, DroppedBy map[string]uint64
	// Received counts messages delivered, by kind.
	Received map[string]uint64
	// Queued is how many messages wait for each peer now.
	Queued map[env.NodeID]int
	// Outbound and Inbound are the connections open now; Dials counts the
	// outbound connections ever established.
	Outbound, Inbound int
	Dials             uint64
	// Rejected counts accepted connections closed for what the peer sent,
	// by reason (a FrameError's Reason or a Reject constant).
	Rejected map[string]uint64
}

// Transport carries messages between nodes over TCP (or TLS). Each node
// dials one connection to every peer it sends to and writes frames on it;
// the connections it accepts, it only reads. A connection opens with a
// Hello frame:
//
//   - To names the node dialled: a peer stream follows, its frames From
//     the hello's sender (or a name under it) and To this node (or a name
//     under it).
//   - To is empty: a discovery exchange (Exchange). The acceptor answers
//     with one Hello frame, OnHello's answer, and closes the connection.
//
// A connection that breaks these rules, or sends a frame ReadFrame
// refuses, is closed, logged and counted; messages to that peer resume on
// the next connection it dials.
type Transport struct {
	cfg    TransportConfig
	log    *slog.Logger
	ln     net.Listener
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu      sync.RWMutex
	closed  bool
	book    map[env.NodeID]string
	peers   map[env.NodeID]*peer
	inbound map[net.Conn]struct{}

	smu       sync.Mutex
	sent      map[string]uint64
	dropped   map[string]uint64
	droppedBy map[string]uint64
	received  map[string]uint64
	rejected  map[string]uint64
	dials     uint64
	outbound  int
}

// NewTransport starts listening and accepting peers.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if cfg.Self == "" || strings.Contains(string(cfg.Self), "/") {
		return nil, fmt.Errorf("live: transport: name %q: want a non-empty name without '/'", cfg.Self)
	}
	if cfg.QueueSize < 0 || cfg.MaxFrame < 0 {
		return nil, fmt.Errorf("live: transport: queue size %d, max frame %d: want positive numbers (zero: the default)", cfg.QueueSize, cfg.MaxFrame)
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = MaxFrameSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("live: transport: %w", err)
	}
	if cfg.ServerTLS != nil {
		ln = tls.NewListener(ln, cfg.ServerTLS)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg: cfg, log: cfg.Logger, ln: ln, ctx: ctx, cancel: cancel,
		book: map[env.NodeID]string{}, peers: map[env.NodeID]*peer{}, inbound: map[net.Conn]struct{}{},
		sent: map[string]uint64{}, dropped: map[string]uint64{}, droppedBy: map[string]uint64{},
		received: map[string]uint64{}, rejected: map[string]uint64{},
	}
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

// Addr is the address the transport listens on.
func (t *Transport) Addr() string { return t.ln.Addr().String() }

// SetPeer records where a peer listens; an empty addr forgets it. A
// changed address closes the peer's connection and dials the new one.
func (t *Transport) SetPeer(name env.NodeID, addr string) {
	if route, ok := t.cfg.Routes[name]; ok && addr != "" {
		addr = route
	}
	t.mu.Lock()
	if t.closed || t.book[name] == addr {
		t.mu.Unlock()
		return
	}
	if addr == "" {
		delete(t.book, name)
	} else {
		t.book[name] = addr
	}
	var old net.Conn
	if p := t.peers[name]; p != nil {
		old = p.setAddr(addr)
	}
	t.mu.Unlock()
	if old != nil {
		old.Close()
	}
}

// Send queues m, from Self, for the node that to names: to itself, or
// for a client of a node the part before the first '/' ("n2/api1" goes to
// n2, which delivers it with to "n2/api1"). It never blocks; a message it
// cannot queue is dropped and counted, as the network may lose any
// message.
func (t *Transport) Send(to env.NodeID, m env.Message) {
	t.SendAs(t.cfg.Self, to, m)
}

// SendAs is Send for a message from a name under Self ("n1/api3" on n1):
// the peer delivers it with that sender, so answers to it come back to
// this node. A from that is neither Self nor under it is dropped
// (DropNotOurs) and logged: the peer would refuse the connection for it.
func (t *Transport) SendAs(from, to env.NodeID, m env.Message) {
	if !under(from, t.cfg.Self) {
		t.log.Error("live: a message from a name that is not this node's", "from", string(from), "to", string(to), "kind", m.Kind())
		t.drop(m, DropNotOurs)
		return
	}
	name := to
	if i := strings.IndexByte(string(to), '/'); i >= 0 {
		name = to[:i]
	}
	t.mu.RLock()
	closed, addr, p := t.closed, t.book[name], t.peers[name]
	t.mu.RUnlock()
	switch {
	case closed:
		t.drop(m, DropClosed)
		return
	case addr == "":
		t.drop(m, DropNoAddress)
		return
	case p == nil:
		if p = t.peer(name); p == nil {
			t.drop(m, DropClosed)
			return
		}
	}
	p.enqueue(outMsg{from: from, to: to, m: m})
}

// peer returns the peer called name, starting its writer on first use,
// or nil once the transport is closed.
func (t *Transport) peer(name env.NodeID) *peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	if p := t.peers[name]; p != nil {
		return p
	}
	p := &peer{t: t, name: name, q: make(chan outMsg, t.cfg.QueueSize), wake: make(chan struct{}, 1), addr: t.book[name]}
	t.peers[name] = p
	t.wg.Add(1)
	go p.run()
	return p
}

// Exchange says hello to the node listening at addr and returns its
// answer: the discovery handshake, on a connection of its own that closes
// after it. A nil h sends what SelfHello gives.
func (t *Transport) Exchange(ctx context.Context, addr string, h *Hello) (*Hello, error) {
	if h == nil {
		h = t.selfHello()
	}
	if h.From.Name != t.cfg.Self {
		return nil, fmt.Errorf("live: hello to %s: the hello is from %q, this transport is %q", addr, h.From.Name, t.cfg.Self)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)()
	conn, err := t.dial(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("live: hello to %s: %w", addr, err)
	}
	defer conn.Close()
	// ctx's end (its deadline included) breaks the exchange's I/O, so
	// that the error says why; the deadline is for a ctx without one.
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	defer context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })()

	b, err := AppendFrame(nil, Frame{From: t.cfg.Self, Msg: h})
	if err != nil {
		return nil, fmt.Errorf("live: hello to %s: %w", addr, err)
	}
	if _, err := conn.Write(b); err != nil {
		return nil, fmt.Errorf("live: hello to %s: %w", addr, causeOr(ctx, err))
	}
	f, err := ReadFrame(bufio.NewReader(conn), min(t.cfg.MaxFrame, maxHelloFrame))
	if err != nil {
		if err == io.EOF {
			err = errors.New("closed without an answer")
		}
		return nil, fmt.Errorf("live: hello to %s: %w", addr, causeOr(ctx, err))
	}
	reply, ok := f.Msg.(*Hello)
	if !ok || reply.From.Name != f.From || f.To != t.cfg.Self {
		return nil, fmt.Errorf("live: hello to %s: answered with %s from %q to %q", addr, f.Msg.Kind(), f.From, f.To)
	}
	return reply, nil
}

// causeOr is why ctx ended if it did (a deadline, a cancel, Close), else
// err.
func causeOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// Stats returns a copy of the transport's counters.
func (t *Transport) Stats() TransportStats {
	t.mu.RLock()
	queued := make(map[env.NodeID]int, len(t.peers))
	for name, p := range t.peers {
		queued[name] = len(p.q)
	}
	inbound := len(t.inbound)
	t.mu.RUnlock()
	t.smu.Lock()
	defer t.smu.Unlock()
	return TransportStats{
		Sent: maps.Clone(t.sent), Dropped: maps.Clone(t.dropped), DroppedBy: maps.Clone(t.droppedBy),
		Received: maps.Clone(t.received), Queued: queued, Outbound: t.outbound, Inbound: inbound,
		Dials: t.dials, Rejected: maps.Clone(t.rejected),
	}
}

// Close stops the listener, every connection and goroutine, and waits for
// them (a Deliver in progress included). Messages still queued are
// dropped uncounted.
func (t *Transport) Close() error {
	var err error
	t.once.Do(func() {
		t.mu.Lock()
		t.closed = true
		var conns []net.Conn
		for c := range t.inbound {
			conns = append(conns, c)
		}
		for _, p := range t.peers {
			if c := p.current(); c != nil {
				conns = append(conns, c)
			}
		}
		t.mu.Unlock()
		t.cancel()
		err = t.ln.Close()
		for _, c := range conns {
			c.Close()
		}
	})
	t.wg.Wait()
	return err
}

// selfHello is the hello that opens an outbound connection: SelfHello's,
// unless it names another node (the peer would refuse it).
func (t *Transport) selfHello() *Hello {
	if t.cfg.SelfHello != nil {
		if h := t.cfg.SelfHello(); h != nil && h.From.Name == t.cfg.Self {
			return h
		}
	}
	return &Hello{From: Member{Name: t.cfg.Self}}
}

func (t *Transport) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: dialTimeout}
	if t.cfg.ClientTLS != nil {
		return (&tls.Dialer{NetDialer: d, Config: t.cfg.ClientTLS}).DialContext(ctx, "tcp", addr)
	}
	return d.DialContext(ctx, "tcp", addr)
}

func (t *Transport) drop(m env.Message, reason string) {
	t.smu.Lock()
	t.dropped[m.Kind()]++
	t.droppedBy[reason]++
	t.smu.Unlock()
}

// reject logs and counts an accepted connection refused for what its
// peer sent; the caller closes it.
func (t *Transport) reject(conn net.Conn, name env.NodeID, reason string, err error) {
	t.log.Warn("live: closing a peer connection", "peer", conn.RemoteAddr().String(), "name", string(name), "reason", reason, "error", err)
	t.smu.Lock()
	t.rejected[reason]++
	t.smu.Unlock()
}

// accept accepts connections until the listener closes.
func (t *Transport) accept() {
	defer t.wg.Done()
	pause := 5 * time.Millisecond
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors, most likely: wait and try again.
			t.log.Warn("live: accepting peers", "error", err)
			select {
			case <-time.After(pause):
				pause = min(2*pause, time.Second)
			case <-t.ctx.Done():
				return
			}
			continue
		}
		pause = 5 * time.Millisecond
		t.mu.Lock()
		switch {
		case t.closed:
			t.mu.Unlock()
			conn.Close()
			return
		case len(t.inbound) >= maxInbound:
			t.mu.Unlock()
			t.reject(conn, "", RejectTooManyConn, fmt.Errorf("%d connections are open", maxInbound))
			conn.Close()
			continue
		}
		t.inbound[conn] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serve(conn)
	}
}

// serve reads an accepted connection: its hello, then a discovery answer
// or a stream of frames to deliver.
func (t *Transport) serve(conn net.Conn) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.inbound, conn)
		t.mu.Unlock()
		conn.Close()
	}()
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if tc, ok := conn.(*tls.Conn); ok {
		if err := tc.HandshakeContext(t.ctx); err != nil {
			if t.ctx.Err() == nil {
				t.reject(conn, "", RejectTLS, err)
			}
			return
		}
	}
	r := bufio.NewReaderSize(conn, writeBuffer)
	f, err := ReadFrame(r, min(t.cfg.MaxFrame, maxHelloFrame))
	if err != nil {
		t.readFailed(conn, "", err)
		return
	}
	h, ok := f.Msg.(*Hello)
	switch {
	case !ok:
		t.reject(conn, f.From, RejectNotHello, fmt.Errorf("the connection opened with %s, not a hello", f.Msg.Kind()))
		return
	case h.From.Name == "" || strings.Contains(string(h.From.Name), "/"):
		t.reject(conn, f.From, RejectBadHello, fmt.Errorf("a hello from %q: want a node's name", h.From.Name))
		return
	case f.From != h.From.Name:
		t.reject(conn, f.From, RejectForgedFrom, fmt.Errorf("a hello from %q in a frame from %q", h.From.Name, f.From))
		return
	case f.To == "":
		t.answer(conn, h)
		return
	case f.To != t.cfg.Self:
		t.reject(conn, f.From, RejectWrongNode, fmt.Errorf("a connection for %q reached %q", f.To, t.cfg.Self))
		return
	}
	conn.SetDeadline(time.Time{})
	if t.cfg.OnHello != nil && h.From.PeerAddr != "" {
		t.cfg.OnHello(h)
	}
	name := h.From.Name
	for {
		f, err := ReadFrame(r, t.cfg.MaxFrame)
		if err != nil {
			t.readFailed(conn, name, err)
			return
		}
		if !under(f.From, name) {
			t.reject(conn, name, RejectForgedFrom, fmt.Errorf("a frame from %q on %s's connection", f.From, name))
			return
		}
		if !under(f.To, t.cfg.Self) {
			t.reject(conn, name, RejectMisrouted, fmt.Errorf("a frame to %q reached %q", f.To, t.cfg.Self))
			return
		}
		t.smu.Lock()
		t.received[f.Msg.Kind()]++
		t.smu.Unlock()
		if t.cfg.Deliver != nil {
			t.cfg.Deliver(f.From, f.To, f.Msg)
		}
	}
}

// answer replies to a discovery hello and ends the connection.
func (t *Transport) answer(conn net.Conn, h *Hello) {
	var reply *Hello
	if t.cfg.OnHello != nil {
		reply = t.cfg.OnHello(h)
	}
	if reply == nil {
		reply = t.selfHello()
	}
	b, err := AppendFrame(nil, Frame{From: reply.From.Name, To: h.From.Name, Msg: reply})
	if err != nil {
		t.log.Error("live: encoding a hello", "error", err)
		return
	}
	if _, err := conn.Write(b); err != nil && t.ctx.Err() == nil {
		t.log.Info("live: answering a hello", "peer", conn.RemoteAddr().String(), "name", string(h.From.Name), "error", err)
	}
}

// readFailed logs why reading a connection ended, and counts a refused
// frame.
func (t *Transport) readFailed(conn net.Conn, name env.NodeID, err error) {
	var fe *FrameError
	switch {
	case errors.As(err, &fe):
		t.reject(conn, name, fe.Reason, err)
	case t.ctx.Err() != nil:
	case err == io.EOF:
		t.log.Debug("live: a peer closed its connection", "peer", conn.RemoteAddr().String(), "name", string(name))
	default:
		t.log.Info("live: a peer connection broke", "peer", conn.RemoteAddr().String(), "name", string(name), "error", err)
	}
}

// under reports whether name is node or a name under it ("n1/api3").
func under(name, node env.NodeID) bool {
	return name == node || (len(name) > len(node) && name[len(node)] == '/' && name[:len(node)] == node)
}

// outMsg is a message waiting for its peer's connection.
type outMsg struct {
	from, to env.NodeID
	m        env.Message
}

// peer is the outbound side of one peer: its queue and the goroutine that
// dials it and writes the queue to it.
type peer struct {
	t    *Transport
	name env.NodeID
	q    chan outMsg
	wake chan struct{} // the address changed

	mu   sync.Mutex
	addr string
	conn net.Conn // open now, for SetPeer and Close to break
}

// enqueue queues m, dropping the oldest queued message when the queue is
// full. While a peer is unreachable its queue ages: when it comes back,
// the newest messages (the current term, the latest commit index) are
// the ones worth sending first, and Raft retransmits whatever is missing.
func (p *peer) enqueue(m outMsg) {
	for {
		select {
		case p.q <- m:
			return
		default:
		}
		select {
		case old := <-p.q:
			p.t.drop(old.m, DropQueueFull)
		default:
		}
	}
}

// setAddr changes the peer's address and returns the connection to close.
func (p *peer) setAddr(addr string) net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addr = addr
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return p.conn
}

func (p *peer) current() net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn
}

// run dials the peer and writes its queue, until the transport closes.
func (p *peer) run() {
	t := p.t
	defer t.wg.Done()
	backoff := minBackoff
	failures := 0
	for {
		p.mu.Lock()
		addr := p.addr
		p.mu.Unlock()
		select {
		case <-p.wake: // addr is the newest
		default:
		}
		if addr == "" {
			select {
			case <-p.wake:
				continue
			case <-t.ctx.Done():
				return
			}
		}
		conn, err := t.dial(t.ctx, addr)
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			failures++
			level := slog.LevelDebug
			if failures == 1 {
				level = slog.LevelWarn
			}
			t.log.Log(t.ctx, level, "live: cannot reach a peer", "name", string(p.name), "peer", addr, "failures", failures, "error", err)
			woken, alive := p.sleepBackoff(&backoff)
			if !alive {
				return
			}
			if woken {
				backoff = minBackoff
			}
			continue
		}
		p.mu.Lock()
		stale := p.addr != addr
		if !stale {
			p.conn = conn
		}
		p.mu.Unlock()
		if stale || t.ctx.Err() != nil {
			conn.Close()
			if t.ctx.Err() != nil {
				return
			}
			continue
		}
		if failures > 0 {
			t.log.Info("live: reached a peer", "name", string(p.name), "peer", addr, "failures", failures)
		}
		failures = 0
		t.smu.Lock()
		t.dials++
		t.outbound++
		t.smu.Unlock()
		start := time.Now()
		err = p.pump(conn)
		p.mu.Lock()
		p.conn = nil
		p.mu.Unlock()
		t.smu.Lock()
		t.outbound--
		t.smu.Unlock()
		if t.ctx.Err() != nil {
			return
		}
		t.log.Info("live: a peer connection ended", "name", string(p.name), "peer", addr, "error", err)
		if time.Since(start) >= stableConn {
			backoff = minBackoff
			continue
		}
		if woken, alive := p.sleepBackoff(&backoff); !alive {
			return
		} else if woken {
			backoff = minBackoff
		}
	}
}

// sleepBackoff waits for the backoff, with jitter, and doubles it. It
// reports whether an address change cut it short, and whether the
// transport is still open.
func (p *peer) sleepBackoff(backoff *time.Duration) (woken, alive bool) {
	d := *backoff/2 + rand.N(*backoff/2)
	*backoff = min(2**backoff, maxBackoff)
	select {
	case <-time.After(d):
		return false, true
	case <-p.wake:
		return true, true
	case <-p.t.ctx.Done():
		return false, false
	}
}

// pump writes the hello and then the queue to conn, in batches: every
// queued frame goes into the buffer, which is flushed when the queue is
// momentarily empty. It returns when the connection breaks or the
// transport closes, having closed conn.
func (p *peer) pump(conn net.Conn) error {
	t := p.t
	// The acceptor never writes on a peer stream; reading tells when it
	// closed the connection, so that the next message waits for a new
	// one instead of vanishing into a dead socket.
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn)
		close(gone)
	}()
	defer func() {
		conn.Close()
		<-gone
	}()
	w := bufio.NewWriterSize(conn, writeBuffer)
	var armed time.Time
	write := func(b []byte) error {
		if now := time.Now(); now.Sub(armed) > writeTimeout/10 {
			conn.SetWriteDeadline(now.Add(writeTimeout))
			armed = now
		}
		_, err := w.Write(b)
		return err
	}
	buf, err := AppendFrame(nil, Frame{From: t.cfg.Self, To: p.name, Msg: t.selfHello()})
	if err != nil {
		return err
	}
	if err := write(buf); err != nil {
		return err
	}
	sent := map[string]uint64{}
	defer func() {
		t.smu.Lock()
		for k, n := range sent {
			t.sent[k] += n
		}
		t.smu.Unlock()
	}()
	for {
		var m outMsg
		select {
		case m = <-p.q:
		default:
			if err := w.Flush(); err != nil {
				return err
			}
			t.smu.Lock()
			for k, n := range sent {
				t.sent[k] += n
			}
			t.smu.Unlock()
			clear(sent)
			select {
			case m = <-p.q:
			case <-gone:
				return errors.New("the peer closed the connection")
			case <-t.ctx.Done():
				return nil
			}
		}
		buf, err = AppendFrame(buf[:0], Frame{From: m.from, To: m.to, Msg: m.m})
		if err != nil {
			t.log.Error("live: a message cannot be encoded", "to", string(m.to), "kind", m.m.Kind(), "error", err)
			t.drop(m.m, DropUnencodable)
			continue
		}
		if len(buf)-frameHeader > t.cfg.MaxFrame {
			t.log.Error("live: a message exceeds the frame limit", "to", string(m.to), "kind", m.m.Kind(), "bytes", len(buf)-frameHeader, "limit", t.cfg.MaxFrame)
			t.drop(m.m, DropTooLarge)
			continue
		}
		if err := write(buf); err != nil {
			t.drop(m.m, DropLost)
			return err
		}
		sent[m.m.Kind()]++
		if cap(buf) > writeBuffer {
			buf = nil // a snapshot's buffer is not worth keeping
		}
	}
}
