// Package proxy puts a frame-aware TCP proxy on every directed peer link
// of a `shoal live run`, so that the nemesis can cut, delay, lose,
// duplicate and reorder the traffic of real processes the way simnet does
// for simulated links (simnet.LinkConfig, with the same meaning).
//
// Each directed link from→to has a listener of its own, which node from
// dials instead of node to. The proxy reads what from writes frame by
// frame (core/live/frame.go) and decides each frame's fate when it reads
// it. The first frame of a connection, its hello, always passes at once:
// a node's transport sends nothing before it, and a link that let no hello
// through would look like a dead peer rather than a lossy one. What to
// writes back (a discovery answer) is copied as it comes.
package proxy

import (
	"bufio"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/simnet"
)

// The proxy's limits and timings.
const (
	// maxQueuedFrames and maxQueuedBytes bound what one connection holds
	// between reading a frame and writing it on. Past either, its reader
	// stops reading until the writer catches up, and TCP pushes back on
	// the sender as a slow link would: the proxy loses nothing the link's
	// configuration does not say to lose. A frame larger than
	// maxQueuedBytes still passes, alone.
	maxQueuedFrames = 1024
	maxQueuedBytes  = 16 << 20
	// readBuffer is the size of a connection's read buffer; bodyChunk is
	// how much of a frame's body is allocated before its bytes arrive, so
	// that a length that lies costs no more than the bytes sent.
	readBuffer = 64 << 10
	bodyChunk  = 64 << 10
	// dialTimeout bounds the dial to a link's target.
	dialTimeout = 5 * time.Second
)

// The frame header of core/live/frame.go: magic "shl", a version byte,
// the body's length (uint32, big-endian).
const (
	frameMagic  = "shl"
	frameHeader = 8
)

// FrameKind is the Kind of the one KindStats of every link: the proxy
// sees frames, not the messages they carry.
const FrameKind = "frame"

// Proxy holds the listeners of every directed link and the connections
// they accepted.
type Proxy struct {
	seed   uint64
	log    *slog.Logger
	ctx    context.Context // cancelled by Close, which aborts dials
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	links  map[linkID]*link
	pipes  map[*pipe]struct{}
}

type linkID struct{ from, to env.NodeID }

// New returns a proxy with no links. Every random choice of a link (loss,
// delay, duplication) comes from its own stream, derived from seed and the
// link's two names alone, so that a link's choices do not depend on which
// other links exist.
func New(seed uint64, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Proxy{
		seed: seed, log: log, ctx: ctx, cancel: cancel,
		links: map[linkID]*link{}, pipes: map[*pipe]struct{}{},
	}
}

// link returns the link from→to, creating it in its initial state (not
// cut, no latency) on first use. p.mu must be held.
func (p *Proxy) link(from, to env.NodeID) *link {
	id := linkID{from, to}
	if l := p.links[id]; l != nil {
		return l
	}
	l := &link{from: from, to: to, rng: simnet.NewRand(p.seed, "proxy.link", string(from), string(to)), stats: simnet.KindStats{Kind: FrameKind}}
	p.links[id] = l
	return l
}

// Listen opens a listener on 127.0.0.1:0 for the directed link from→to
// and returns its address, which node from should dial to reach node to.
// Each connection it accepts is forwarded to target, node to's own peer
// address, dialled anew for every connection so that a restarted node is
// reached as soon as it listens again.
func (p *Proxy) Listen(from, to env.NodeID, target string) (addr string, err error) {
	if target == "" {
		return "", fmt.Errorf("proxy: listen for link %s→%s: no target address", from, to)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", fmt.Errorf("proxy: listen for link %s→%s: the proxy is closed", from, to)
	}
	l := p.link(from, to)
	if l.ln != nil {
		return "", fmt.Errorf("proxy: listen for link %s→%s: it already listens on %s", from, to, l.ln.Addr())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("proxy: listen for link %s→%s: %w", from, to, err)
	}
	l.ln, l.target = ln, target
	p.wg.Add(1)
	go p.accept(l)
	return ln.Addr().String(), nil
}

// SetCut cuts or restores the directed link from→to. A frame read while
// the link is cut is dropped, except a connection's first (its hello),
// and so is a frame still on its way (delayed) when its delivery comes
// while the link is cut, as a simulated link loses what is in flight. A
// link without a listener keeps the state for when it gets one.
func (p *Proxy) SetCut(from, to env.NodeID, cut bool) {
	p.mu.Lock()
	l := p.link(from, to)
	p.mu.Unlock()
	l.mu.Lock()
	l.cut = cut
	l.mu.Unlock()
	p.log.Debug("proxy: link cut", "from", string(from), "to", string(to), "cut", cut)
}

// SetLink sets how the directed link from→to treats the frames read from
// now on, with simnet's meaning: a latency, a loss and a duplication
// probability, and FIFO delivery unless Reorder. The zero LinkConfig is a
// link that adds nothing. A link without a listener keeps the
// configuration for when it gets one.
func (p *Proxy) SetLink(from, to env.NodeID, c simnet.LinkConfig) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("proxy: link %s→%s: %w", from, to, err)
	}
	p.mu.Lock()
	l := p.link(from, to)
	p.mu.Unlock()
	l.mu.Lock()
	l.cfg = c
	l.mu.Unlock()
	p.log.Debug("proxy: link set", "from", string(from), "to", string(to),
		"dist", c.Latency.Dist.String(), "min", c.Latency.Min, "max", c.Latency.Max,
		"loss", c.Loss, "duplicate", c.Duplicate, "reorder", c.Reorder)
	return nil
}

// Stats returns the counters of every link the proxy knows (listened on
// or configured), sorted by From then To, each with one KindStats of Kind
// FrameKind. Sent counts the frames read from the sender, hellos included;
// each of them, and each duplicate, ends Delivered (written to the
// target) or Dropped (by the link, or with its connection), so once the
// connections have closed Sent+Duplicated = Delivered+Dropped.
func (p *Proxy) Stats() []simnet.LinkStats {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for _, l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	slices.SortFunc(links, byName)
	out := make([]simnet.LinkStats, 0, len(links))
	for _, l := range links {
		l.mu.Lock()
		out = append(out, simnet.LinkStats{From: l.from, To: l.to, Kinds: []simnet.KindStats{l.stats}})
		l.mu.Unlock()
	}
	return out
}

// Close closes every listener and connection, frames still waiting for
// their delay included (they count as dropped), and waits for every
// goroutine of the proxy to return.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	var lns []*link
	for _, l := range p.links {
		if l.ln != nil {
			lns = append(lns, l)
		}
	}
	pipes := make([]*pipe, 0, len(p.pipes))
	for c := range p.pipes {
		pipes = append(pipes, c)
	}
	p.mu.Unlock()
	p.cancel()
	slices.SortFunc(lns, byName)
	var errs []error
	for _, l := range lns {
		if err := l.ln.Close(); err != nil {
			errs = append(errs, fmt.Errorf("proxy: closing the listener of link %s→%s: %w", l.from, l.to, err))
		}
	}
	for _, c := range pipes {
		c.stop()
	}
	p.wg.Wait()
	return errors.Join(errs...)
}

// accept accepts the link's connections until its listener closes.
func (p *Proxy) accept(l *link) {
	defer p.wg.Done()
	pause := 5 * time.Millisecond
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors, most likely: wait and try again.
			p.log.Warn("proxy: accepting a connection", "from", string(l.from), "to", string(l.to), "error", err)
			select {
			case <-time.After(pause):
				pause = min(2*pause, time.Second)
			case <-p.ctx.Done():
				return
			}
			continue
		}
		pause = 5 * time.Millisecond
		if !p.start(l, conn, nil) {
			conn.Close()
			return
		}
	}
}

// start carries client's frames on link l to server, dialling the link's
// target first when server is nil. It reports false, having started
// nothing, once the proxy is closed.
func (p *Proxy) start(l *link, client, server net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	c := &pipe{
		p: p, l: l, client: client, server: server,
		more: make(chan struct{}, 1), room: make(chan struct{}, 1), done: make(chan struct{}),
	}
	p.pipes[c] = struct{}{}
	p.wg.Add(1)
	go p.serve(c)
	return true
}

// serve carries both directions of one pipe until they end.
func (p *Proxy) serve(c *pipe) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.pipes, c)
		p.mu.Unlock()
	}()
	defer c.stop()
	l := c.l
	c.mu.Lock()
	dialled := c.server != nil
	c.mu.Unlock()
	if !dialled {
		d := net.Dialer{Timeout: dialTimeout}
		server, err := d.DialContext(p.ctx, "tcp", l.target)
		if err != nil {
			if p.ctx.Err() == nil {
				p.log.Info("proxy: cannot reach a link's target", "from", string(l.from), "to", string(l.to), "target", l.target, "error", err)
			}
			return
		}
		c.mu.Lock()
		stopped := c.stopped
		if !stopped {
			c.server = server
		}
		c.mu.Unlock()
		if stopped {
			server.Close()
			return
		}
	}
	var wg sync.WaitGroup
	wg.Go(c.write)
	wg.Go(c.copyBack)
	c.read()
	wg.Wait()
	// Whatever the queue still holds never reached the target.
	c.mu.Lock()
	left := c.q.Len()
	c.q = nil
	c.mu.Unlock()
	l.dropped(left)
}

// link is one directed link: its listener, its configuration, its random
// stream and its counters.
type link struct {
	from, to env.NodeID
	ln       net.Listener // set once by Listen, under Proxy.mu
	target   string

	mu    sync.Mutex
	cfg   simnet.LinkConfig
	cut   bool
	rng   *rand.Rand
	stats simnet.KindStats
}

// byName orders links by source, then destination.
func byName(a, b *link) int {
	return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to))
}

// fate is what becomes of a frame just read: n copies (none when it is
// dropped, two when it is duplicated), each delivered after its delay.
type fate struct {
	n     int
	delay [2]time.Duration
	fifo  bool
	hello bool // a connection's first frame, which no fault touches
}

// decide draws the fate of a frame read now, from the link's state now.
// The draws come in simnet's order (loss, delay, duplication, the copy's
// delay), so a link's stream is spent as a simulated link's would be.
func (l *link) decide(hello bool) fate {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Sent++
	if hello {
		return fate{n: 1, fifo: true, hello: true}
	}
	if l.cut || (l.cfg.Loss > 0 && l.rng.Float64() < l.cfg.Loss) {
		l.stats.Dropped++
		return fate{}
	}
	f := fate{n: 1, fifo: !l.cfg.Reorder}
	f.delay[0] = l.cfg.Latency.Draw(l.rng)
	if l.cfg.Duplicate > 0 && l.rng.Float64() < l.cfg.Duplicate {
		l.stats.Duplicated++
		f.n = 2
		// On a FIFO link the copy follows the original at once; with
		// Reorder it travels on its own.
		f.delay[1] = f.delay[0]
		if l.cfg.Reorder {
			f.delay[1] = l.cfg.Latency.Draw(l.rng)
		}
	}
	return f
}

func (l *link) isCut() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cut
}

func (l *link) delivered(n int) {
	if n == 0 {
		return
	}
	l.mu.Lock()
	l.stats.Delivered += uint64(n)
	l.mu.Unlock()
}

func (l *link) dropped(n int) {
	if n == 0 {
		return
	}
	l.mu.Lock()
	l.stats.Dropped += uint64(n)
	l.mu.Unlock()
}

// pipe is one accepted connection and the one it dialled: a reader that
// parses frames and queues them, a writer that sends each on when its
// time comes, and a copier for the answers.
type pipe struct {
	p      *Proxy
	l      *link
	client net.Conn
	more   chan struct{} // a frame was queued, or the reader ended
	room   chan struct{} // frames left the queue
	done   chan struct{} // closed by stop

	mu      sync.Mutex
	server  net.Conn // nil until dialled
	stopped bool
	q       queue
	bytes   int       // the queued frames' size
	seq     uint64    // orders frames due at the same time
	last    time.Time // the latest delivery of a FIFO frame
	eof     bool      // the reader is done: drain the queue, then half-close
}

// stop closes both connections and wakes every goroutine of the pipe.
func (c *pipe) stop() {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	server := c.server
	c.mu.Unlock()
	close(c.done)
	c.client.Close()
	if server != nil {
		server.Close()
	}
}

func (c *pipe) stopping() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// errNotOurs marks a stream that is not a shoal peer stream, or a frame
// the proxy will not hold.
var errNotOurs = errors.New("not a shoal frame")

// read reads frames from the sender and queues each with its fate, until
// the sender closes or the pipe stops.
func (c *pipe) read() {
	l := c.l
	r := bufio.NewReaderSize(c.client, readBuffer)
	for hello := true; ; hello = false {
		b, err := readFrame(r)
		if err != nil {
			switch {
			case c.stopping():
			case errors.Is(err, errNotOurs):
				c.p.log.Warn("proxy: closing a connection that is not a shoal peer stream", "from", string(l.from), "to", string(l.to),
					"peer", c.client.RemoteAddr().String(), "error", err)
				c.stop()
				return
			case err == io.EOF:
				c.p.log.Debug("proxy: a sender closed its connection", "from", string(l.from), "to", string(l.to))
			default:
				c.p.log.Debug("proxy: a sender's connection broke", "from", string(l.from), "to", string(l.to), "error", err)
			}
			c.mu.Lock()
			c.eof = true
			c.mu.Unlock()
			wake(c.more)
			return
		}
		f := l.decide(hello)
		if !c.push(time.Now(), f, b) {
			l.dropped(f.n)
			return
		}
	}
}

// readFrame reads one frame, header and body, as it came. It returns
// io.EOF only when r ends between frames.
func readFrame(r *bufio.Reader) ([]byte, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	if string(h[:3]) != frameMagic {
		return nil, fmt.Errorf("%w: magic %q, want %q", errNotOurs, h[:3], frameMagic)
	}
	n := int(binary.BigEndian.Uint32(h[4:]))
	if n > live.MaxFrameSize {
		return nil, fmt.Errorf("%w: a body of %d bytes exceeds the limit of %d", errNotOurs, n, live.MaxFrameSize)
	}
	b := make([]byte, frameHeader, frameHeader+min(n, bodyChunk))
	copy(b, h[:])
	for len(b) < frameHeader+n {
		if len(b) == cap(b) {
			grown := make([]byte, len(b), min(2*cap(b), frameHeader+n))
			copy(grown, b)
			b = grown
		}
		k, err := io.ReadFull(r, b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// push queues the copies of frame b that f says to deliver, waiting for
// room first. It reports false when the pipe stopped before they were
// queued.
func (c *pipe) push(now time.Time, f fate, b []byte) bool {
	if f.n == 0 {
		return true
	}
	c.mu.Lock()
	for !c.fits(f.n, len(b)) {
		c.mu.Unlock()
		select {
		case <-c.room:
		case <-c.done:
			return false
		}
		c.mu.Lock()
	}
	if c.stopped {
		c.mu.Unlock()
		return false
	}
	for i := range f.n {
		at := now.Add(f.delay[i])
		if f.fifo {
			if at.Before(c.last) {
				at = c.last
			}
			c.last = at
		}
		c.seq++
		heap.Push(&c.q, entry{at: at, seq: c.seq, b: b, hello: f.hello})
		c.bytes += len(b)
	}
	c.mu.Unlock()
	wake(c.more)
	return true
}

// fits reports whether n copies of a frame of size bytes may be queued.
// c.mu must be held.
func (c *pipe) fits(n, size int) bool {
	return c.stopped || c.q.Len() == 0 ||
		(c.q.Len()+n <= maxQueuedFrames && c.bytes+n*size <= maxQueuedBytes)
}

// write sends each queued frame to the target once its time has come,
// those due together in one write. When the reader is done and the queue
// empty, it half-closes the target, which then closes, ending the pipe.
func (c *pipe) write() {
	l := c.l
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch net.Buffers
	var sizes []int
	for {
		c.mu.Lock()
		if c.stopped {
			c.mu.Unlock()
			return
		}
		if c.q.Len() == 0 {
			eof, server := c.eof, c.server
			c.mu.Unlock()
			if eof {
				if hc, ok := server.(interface{ CloseWrite() error }); ok {
					hc.CloseWrite()
				} else {
					c.stop()
				}
				return
			}
			select {
			case <-c.more:
			case <-c.done:
				return
			}
			continue
		}
		now := time.Now()
		if wait := c.q[0].at.Sub(now); wait > 0 {
			c.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-c.more:
			case <-c.done:
				timer.Stop()
				return
			}
			timer.Stop()
			continue
		}
		clear(batch)
		batch, sizes = batch[:0], sizes[:0]
		lost := 0
		for c.q.Len() > 0 && !c.q[0].at.After(now) {
			e := heap.Pop(&c.q).(entry)
			c.bytes -= len(e.b)
			// A link cut while the frame was on its way loses it, as a
			// simulated link loses the messages in flight when it is cut.
			if !e.hello && l.isCut() {
				lost++
				continue
			}
			batch = append(batch, e.b)
			sizes = append(sizes, len(e.b))
		}
		server := c.server
		c.mu.Unlock()
		wake(c.room)
		l.dropped(lost)
		bufs := batch // WriteTo consumes its receiver
		n, err := bufs.WriteTo(server)
		if err != nil {
			whole := 0
			for _, s := range sizes {
				if n < int64(s) {
					break
				}
				n -= int64(s)
				whole++
			}
			l.delivered(whole)
			l.dropped(len(sizes) - whole)
			if !c.stopping() {
				c.p.log.Debug("proxy: writing to a link's target", "from", string(l.from), "to", string(l.to), "error", err)
			}
			c.stop()
			return
		}
		l.delivered(len(sizes))
	}
}

// copyBack copies what the target writes (a discovery answer) back to the
// sender; the target closing ends the pipe.
func (c *pipe) copyBack() {
	c.mu.Lock()
	server := c.server
	c.mu.Unlock()
	if _, err := io.Copy(c.client, server); err != nil && !c.stopping() {
		c.p.log.Debug("proxy: copying a target's answer", "from", string(c.l.from), "to", string(c.l.to), "error", err)
	}
	c.stop()
}

// entry is a frame waiting for its delivery time.
type entry struct {
	at    time.Time
	seq   uint64
	b     []byte
	hello bool
}

// queue is a heap of entries, earliest delivery first, in reading order
// among equals.
type queue []entry

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(entry)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = entry{}
	*q = old[:len(old)-1]
	return e
}
