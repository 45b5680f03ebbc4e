package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/live"
	"github.com/shoaldb/shoal/simnet"
)

// patience bounds every wait on a condition; no test passes or fails on
// how fast something happened, only on whether it did within it.
const patience = 10 * time.Second

// received is what a backend saw: a frame, or the end of a connection.
type received struct {
	conn int
	f    live.Frame
	at   time.Time
	end  bool
	err  error // why the connection ended; io.EOF between frames
}

// backend is node "n2" as far as the proxy can tell: it reads frames as a
// transport does and reports each one. With an answer, it answers a
// connection's first frame with it and closes, as a discovery exchange
// does.
type backend struct {
	ln     net.Listener
	answer *live.Frame
	got    chan received
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

func startBackend(t testing.TB, answer *live.Frame) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{ln: ln, answer: answer, got: make(chan received, 1<<14)}
	b.wg.Go(b.accept)
	t.Cleanup(b.close)
	return b
}

func (b *backend) addr() string { return b.ln.Addr().String() }

func (b *backend) accept() {
	for {
		conn, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		i := len(b.conns)
		b.conns = append(b.conns, conn)
		b.mu.Unlock()
		b.wg.Go(func() { b.serve(i, conn) })
	}
}

func (b *backend) serve(i int, conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		f, err := live.ReadFrame(r, live.MaxFrameSize)
		if err != nil {
			b.got <- received{conn: i, end: true, err: err, at: time.Now()}
			return
		}
		b.got <- received{conn: i, f: f, at: time.Now()}
		if b.answer != nil {
			out, err := live.AppendFrame(nil, *b.answer)
			if err != nil {
				panic(err)
			}
			conn.Write(out)
			b.got <- received{conn: i, end: true, err: io.EOF, at: time.Now()}
			return
		}
	}
}

func (b *backend) close() {
	b.ln.Close()
	b.mu.Lock()
	for _, c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// next is the backend's next report.
func (b *backend) next(t testing.TB) received {
	t.Helper()
	select {
	case r := <-b.got:
		return r
	case <-time.After(patience):
		t.Fatalf("the backend received nothing within %s", patience)
		return received{}
	}
}

// nextFrame is the backend's next frame; a connection's end fails the
// test.
func (b *backend) nextFrame(t testing.TB) received {
	t.Helper()
	r := b.next(t)
	if r.end {
		t.Fatalf("connection %d ended (%v) where a frame was expected", r.conn, r.err)
	}
	return r
}

func hello(from, to env.NodeID) live.Frame {
	return live.Frame{From: from, To: to, Msg: &live.Hello{From: live.Member{Name: from}}}
}

func request(seq uint64) live.Frame {
	return live.Frame{From: "n1", To: "n2", Msg: &kv.Request{Client: "n1/c", Seq: seq, Op: kv.OpPut, Key: "k", Value: "v"}}
}

func seqOf(t testing.TB, r received) uint64 {
	t.Helper()
	req, ok := r.f.Msg.(*kv.Request)
	if !ok {
		t.Fatalf("connection %d: got %s, want a kv.request", r.conn, r.f.Msg.Kind())
	}
	return req.Seq
}

func encode(t testing.TB, fs ...live.Frame) []byte {
	t.Helper()
	var b []byte
	for _, f := range fs {
		var err error
		if b, err = live.AppendFrame(b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func send(t testing.TB, conn net.Conn, fs ...live.Frame) {
	t.Helper()
	if _, err := conn.Write(encode(t, fs...)); err != nil {
		t.Fatalf("writing %d frames: %v", len(fs), err)
	}
}

func newProxy(t testing.TB, seed uint64) *Proxy {
	t.Helper()
	p := New(seed, nil)
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// open starts a proxy and a backend for the link n1→n2 configured with c,
// and a connection on it whose hello reached the backend.
func open(t testing.TB, seed uint64, c simnet.LinkConfig) (*Proxy, *backend, net.Conn) {
	t.Helper()
	p := newProxy(t, seed)
	b := startBackend(t, nil)
	if err := p.SetLink("n1", "n2", c); err != nil {
		t.Fatal(err)
	}
	addr, err := p.Listen("n1", "n2", b.addr())
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, addr)
	send(t, conn, hello("n1", "n2"))
	if r := b.nextFrame(t); r.f.Msg.Kind() != "live.hello" {
		t.Fatalf("the first frame is %s, want the hello", r.f.Msg.Kind())
	}
	return p, b, conn
}

// waitFor waits until cond holds, failing the test after patience.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", patience, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// statsOf is the frame counters of the link from→to.
func statsOf(p *Proxy, from, to env.NodeID) simnet.KindStats {
	for _, s := range p.Stats() {
		if s.From == from && s.To == to {
			return s.Kinds[0]
		}
	}
	return simnet.KindStats{Kind: FrameKind}
}

// waitSettled waits until the link has read sent frames and given each
// its fate.
func waitSettled(t testing.TB, p *Proxy, sent uint64) simnet.KindStats {
	t.Helper()
	var s simnet.KindStats
	waitFor(t, "the link did not settle its frames", func() bool {
		s = statsOf(p, "n1", "n2")
		return s.Sent == sent && s.Delivered+s.Dropped == s.Sent+s.Duplicated
	})
	return s
}

func TestFramesPassUnchangedInOrder(t *testing.T) {
	_, b, conn := open(t, 1, simnet.LinkConfig{})
	var want []live.Frame
	for i := range uint64(100) {
		f := request(i)
		// Bodies from a few bytes to past a read buffer.
		f.Msg.(*kv.Request).Value = strings.Repeat("x", int(i*i*13))
		want = append(want, f)
	}
	send(t, conn, want...)
	for i, w := range want {
		if got := b.nextFrame(t); !reflect.DeepEqual(got.f, w) || got.conn != 0 {
			t.Fatalf("frame %d on connection %d: got seq %d, want %d unchanged on connection 0", i, got.conn, seqOf(t, got), i)
		}
	}
}

func TestCutDropsAllButHello(t *testing.T) {
	p := newProxy(t, 1)
	b := startBackend(t, nil)
	// The harness may cut a link before it listens.
	p.SetCut("n1", "n2", true)
	addr, err := p.Listen("n1", "n2", b.addr())
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, addr)
	send(t, conn, hello("n1", "n2"))
	for i := range uint64(10) {
		send(t, conn, request(i))
	}
	if r := b.nextFrame(t); r.f.Msg.Kind() != "live.hello" {
		t.Fatalf("during a cut the first frame is %s, want the hello", r.f.Msg.Kind())
	}
	if s := waitSettled(t, p, 11); s.Dropped != 10 || s.Delivered != 1 {
		t.Fatalf("during a cut: %+v, want 10 dropped and the hello delivered", s)
	}

	p.SetCut("n1", "n2", false)
	send(t, conn, request(10))
	if r := b.nextFrame(t); r.conn != 0 || seqOf(t, r) != 10 {
		t.Fatalf("after the cut: seq %d on connection %d, want seq 10 on the same connection 0", seqOf(t, r), r.conn)
	}
	if s := waitSettled(t, p, 12); s.Delivered != 2 || s.Dropped != 10 {
		t.Fatalf("after the cut: %+v, want 2 delivered, 10 dropped", s)
	}
}

// A cut loses the frames on their way, as a simulated link loses the
// messages in flight.
func TestCutLosesFramesInFlight(t *testing.T) {
	// Long enough that the cut below comes while the frames are held.
	const delay = 2 * time.Second
	p, b, conn := open(t, 1, simnet.LinkConfig{Latency: simnet.Latency{Min: delay}})
	for i := range uint64(5) {
		send(t, conn, request(i))
	}
	waitFor(t, "the proxy did not read five frames", func() bool { return statsOf(p, "n1", "n2").Sent == 6 })
	p.SetCut("n1", "n2", true)
	if s := waitSettled(t, p, 6); s.Delivered != 1 || s.Dropped != 5 {
		t.Fatalf("after the cut: %+v, want the hello delivered and the five held frames dropped", s)
	}
	if len(b.got) != 0 {
		t.Fatalf("a frame crossed the cut: %+v", <-b.got)
	}
}

func TestLossOneDropsAllButHello(t *testing.T) {
	p, b, conn := open(t, 1, simnet.LinkConfig{Loss: 1})
	for i := range uint64(50) {
		send(t, conn, request(i))
	}
	if s := waitSettled(t, p, 51); s.Dropped != 50 || s.Delivered != 1 {
		t.Fatalf("loss 1: %+v, want 50 dropped and the hello delivered", s)
	}
	if len(b.got) != 0 {
		t.Fatalf("loss 1: the backend received %+v", <-b.got)
	}
}

func TestLossHalf(t *testing.T) {
	const n = 2000
	for _, seed := range []uint64{1, 2, 3} {
		p, b, conn := open(t, seed, simnet.LinkConfig{Loss: 0.5})
		for i := range uint64(n) {
			send(t, conn, request(i))
		}
		s := waitSettled(t, p, n+1)
		if s.Dropped < n*35/100 || s.Dropped > n*65/100 {
			t.Errorf("seed %d: loss 0.5 dropped %d of %d", seed, s.Dropped, n)
		}
		last := int64(-1)
		for range s.Delivered - 1 {
			r := b.nextFrame(t)
			if seq := int64(seqOf(t, r)); seq <= last {
				t.Fatalf("seed %d: seq %d after %d", seed, seq, last)
			} else {
				last = seq
			}
		}
	}
}

// TestSeedDecides: the same seed drops the same frames.
func TestSeedDecides(t *testing.T) {
	run := func() []uint64 {
		p, b, conn := open(t, 42, simnet.LinkConfig{Loss: 0.5, Duplicate: 0.3})
		for i := range uint64(200) {
			send(t, conn, request(i))
		}
		s := waitSettled(t, p, 201)
		var seqs []uint64
		for range s.Delivered - 1 {
			seqs = append(seqs, seqOf(t, b.nextFrame(t)))
		}
		return seqs
	}
	if a, b := run(), run(); !reflect.DeepEqual(a, b) {
		t.Fatalf("seed 42 delivered\n%v\nthen\n%v", a, b)
	}
}

func TestDelayIsAtLeastLatency(t *testing.T) {
	const latency = 30 * time.Millisecond
	_, b, conn := open(t, 1, simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Constant, Min: latency}})
	for i := range uint64(5) {
		written := time.Now()
		send(t, conn, request(i))
		r := b.nextFrame(t)
		if took := r.at.Sub(written); took < latency {
			t.Fatalf("frame %d arrived %s after it was written, before the latency of %s", i, took, latency)
		}
	}
}

func TestFIFOUnderUniformDelay(t *testing.T) {
	_, b, conn := open(t, 1, simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Uniform, Max: 20 * time.Millisecond}})
	for i := range uint64(200) {
		send(t, conn, request(i))
	}
	for i := range uint64(200) {
		if seq := seqOf(t, b.nextFrame(t)); seq != i {
			t.Fatalf("a FIFO link delivered seq %d where %d was next", seq, i)
		}
	}
}

func TestReorder(t *testing.T) {
	p, b, conn := open(t, 1, simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Uniform, Max: 50 * time.Millisecond}, Reorder: true})
	for i := range uint64(200) {
		send(t, conn, request(i))
	}
	waitSettled(t, p, 201)
	overtaken, last := 0, int64(-1)
	for range 200 {
		seq := int64(seqOf(t, b.nextFrame(t)))
		if seq < last {
			overtaken++
		}
		last = max(last, seq)
	}
	if overtaken == 0 {
		t.Fatal("with Reorder and a delay of 0 to 50ms, no frame of 200 overtook another")
	}
}

func TestDuplicateOne(t *testing.T) {
	p, b, conn := open(t, 1, simnet.LinkConfig{Duplicate: 1})
	for i := range uint64(20) {
		send(t, conn, request(i))
	}
	for i := range uint64(20) {
		for copy := range 2 {
			if seq := seqOf(t, b.nextFrame(t)); seq != i {
				t.Fatalf("copy %d of seq %d: got seq %d", copy, i, seq)
			}
		}
	}
	if s := waitSettled(t, p, 21); s.Duplicated != 20 || s.Delivered != 41 {
		t.Fatalf("duplicate 1: %+v, want 20 duplicated, 41 delivered", s)
	}
}

func TestDiscoveryExchange(t *testing.T) {
	answer := live.Frame{From: "n2", To: "n1", Msg: &live.Hello{From: live.Member{Name: "n2", PeerAddr: "127.0.0.1:7002"}, Cluster: "c"}}
	p := newProxy(t, 1)
	b := startBackend(t, &answer)
	// A cut link still lets a discovery hello and its answer through.
	p.SetCut("n1", "n2", true)
	addr, err := p.Listen("n1", "n2", b.addr())
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, addr)
	send(t, conn, hello("n1", ""))
	conn.SetDeadline(time.Now().Add(patience))
	r := bufio.NewReader(conn)
	got, err := live.ReadFrame(r, live.MaxFrameSize)
	if err != nil {
		t.Fatalf("reading the answer through the proxy: %v", err)
	}
	if !reflect.DeepEqual(got, answer) {
		t.Fatalf("answer: got %+v, want %+v", got, answer)
	}
	if _, err := live.ReadFrame(r, live.MaxFrameSize); err != io.EOF {
		t.Fatalf("after the answer: %v, want io.EOF", err)
	}
}

func TestStreamThatIsNotOursIsClosed(t *testing.T) {
	header := func(magic string, n uint32) []byte {
		return append([]byte(magic), live.FrameVersion, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	for _, tc := range []struct {
		name       string
		afterHello bool
		bytes      []byte
	}{
		{"bad magic first", false, append(header("GET", 4), "/ HT"...)},
		{"bad magic after the hello", true, header("shk", 0)},
		{"a body past the limit", true, header(frameMagic, live.MaxFrameSize+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, 1)
			b := startBackend(t, nil)
			addr, err := p.Listen("n1", "n2", b.addr())
			if err != nil {
				t.Fatal(err)
			}
			conn := dial(t, addr)
			if tc.afterHello {
				send(t, conn, hello("n1", "n2"))
				b.nextFrame(t)
			}
			if _, err := conn.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(patience))
			if n, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
				t.Fatalf("the sender's connection is open after a stream that is not ours: read %d, %v", n, err)
			}
			if tc.afterHello {
				if r := b.next(t); !r.end {
					t.Fatalf("the target's connection got %s after a stream that is not ours, want its end", r.f.Msg.Kind())
				}
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestEitherSideClosingClosesTheOther(t *testing.T) {
	t.Run("sender", func(t *testing.T) {
		_, b, conn := open(t, 1, simnet.LinkConfig{Latency: simnet.Latency{Min: 20 * time.Millisecond}})
		send(t, conn, request(0))
		conn.Close()
		// What was in flight still arrives, then the end.
		if seq := seqOf(t, b.nextFrame(t)); seq != 0 {
			t.Fatalf("got seq %d, want 0", seq)
		}
		if r := b.next(t); !r.end || r.err != io.EOF {
			t.Fatalf("after the sender closed, the target got %+v, want a clean end", r)
		}
	})
	t.Run("target", func(t *testing.T) {
		_, b, conn := open(t, 1, simnet.LinkConfig{})
		b.close()
		conn.SetReadDeadline(time.Now().Add(patience))
		if n, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("after the target closed, the sender read %d, %v, want the connection's end", n, err)
		}
	})
	t.Run("unreachable target", func(t *testing.T) {
		p := newProxy(t, 1)
		// Nothing listens on port 0: the dial is refused.
		addr, err := p.Listen("n1", "n2", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn := dial(t, addr)
		conn.SetReadDeadline(time.Now().Add(patience))
		if n, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("with no target listening, the sender read %d, %v, want the connection's end", n, err)
		}
	})
}

// TestQueueIsBounded: a link that holds frames longer than the sender
// writes them stops reading at the limit rather than queueing without
// end.
func TestQueueIsBounded(t *testing.T) {
	big := request(0)
	big.Msg.(*kv.Request).Value = strings.Repeat("x", 1<<20)
	bigSize := len(encode(t, big))
	for _, tc := range []struct {
		name   string
		frame  live.Frame
		n      int
		queued int
	}{
		{"frames", request(0), maxQueuedFrames + 100, maxQueuedFrames},
		{"bytes", big, maxQueuedBytes/bigSize + 8, maxQueuedBytes / bigSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, conn := open(t, 1, simnet.LinkConfig{Latency: simnet.Latency{Min: time.Hour}})
			var wg sync.WaitGroup
			defer wg.Wait()
			defer conn.Close()
			wg.Go(func() {
				b := encode(t, tc.frame)
				for range tc.n {
					if _, err := conn.Write(b); err != nil {
						return // the proxy closed
					}
				}
			})
			// The reader blocks holding one frame more than the queue,
			// whose fate it has drawn.
			want := uint64(1 + tc.queued + 1)
			waitFor(t, "the link did not fill its queue", func() bool { return statsOf(p, "n1", "n2").Sent >= want })
			// Give a reader that ignored the bound the time to go past it.
			time.Sleep(100 * time.Millisecond)
			if s := statsOf(p, "n1", "n2"); s.Sent != want {
				t.Fatalf("the link read %d frames, want %d: the hello, %d queued and one waiting", s.Sent, want, tc.queued)
			}
			p.mu.Lock()
			for c := range p.pipes {
				c.mu.Lock()
				if c.q.Len() != tc.queued {
					t.Errorf("the queue holds %d frames, want %d", c.q.Len(), tc.queued)
				}
				c.mu.Unlock()
			}
			p.mu.Unlock()
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if s := statsOf(p, "n1", "n2"); s.Delivered != 1 || s.Dropped != want-1 {
				t.Fatalf("after Close: %+v, want the hello delivered and the rest dropped", s)
			}
		})
	}
}

func TestCloseEndsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	p := New(1, nil)
	b := startBackend(t, nil)
	var conns []net.Conn
	for _, to := range []env.NodeID{"n2", "n3"} {
		addr, err := p.Listen("n1", to, b.addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, dial(t, addr), dial(t, addr))
	}
	// A frame held by a long delay must not hold Close.
	if err := p.SetLink("n1", "n2", simnet.LinkConfig{Latency: simnet.Latency{Min: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	send(t, conns[0], hello("n1", "n2"), request(1))
	send(t, conns[2], hello("n1", "n3"))
	b.nextFrame(t)
	b.nextFrame(t)
	waitFor(t, "the delayed frame was not read", func() bool { return statsOf(p, "n1", "n2").Sent == 2 })

	closed := make(chan error)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(patience):
		t.Fatalf("Close did not return within %s", patience)
	}
	for i, conn := range conns {
		conn.SetReadDeadline(time.Now().Add(patience))
		if n, err := conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("connection %d is open after Close: read %d, %v", i, n, err)
		}
	}
	for _, s := range p.Stats() {
		k := s.Kinds[0]
		if k.Sent+k.Duplicated != k.Delivered+k.Dropped {
			t.Errorf("link %s→%s: %+v: sent and duplicated frames unaccounted for", s.From, s.To, k)
		}
	}
	if _, err := p.Listen("n2", "n1", b.addr()); err == nil {
		t.Error("Listen after Close succeeded")
	}
	if err := p.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	for _, conn := range conns {
		conn.Close()
	}
	b.close()
	waitFor(t, "goroutines outlived Close", func() bool { return runtime.NumGoroutine() <= before })
}

func TestListenTwice(t *testing.T) {
	p := newProxy(t, 1)
	if _, err := p.Listen("n1", "n2", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	_, err := p.Listen("n1", "n2", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "n1→n2") || !strings.Contains(err.Error(), "already listens") {
		t.Fatalf("a second Listen on n1→n2: %v", err)
	}
	if _, err := p.Listen("n2", "n1", "127.0.0.1:1"); err != nil {
		t.Fatalf("the link the other way: %v", err)
	}
	if _, err := p.Listen("n1", "n3", ""); err == nil {
		t.Fatal("Listen with no target succeeded")
	}
}

func TestSetLinkRejects(t *testing.T) {
	p := newProxy(t, 1)
	for _, tc := range []struct {
		c    simnet.LinkConfig
		want string
	}{
		{simnet.LinkConfig{Loss: 1.5}, "loss 1.5 is not a probability"},
		{simnet.LinkConfig{Duplicate: -0.1}, "duplicate -0.1 is not a probability"},
		{simnet.LinkConfig{Latency: simnet.Latency{Min: -time.Millisecond}}, "latency min -1ms is negative"},
		{simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Uniform, Min: 2 * time.Millisecond, Max: time.Millisecond}}, "latency max 1ms is below min 2ms"},
		{simnet.LinkConfig{Latency: simnet.Latency{Dist: 9}}, "unknown latency distribution 9"},
	} {
		err := p.SetLink("n1", "n2", tc.c)
		if want := "proxy: link n1→n2: simnet: " + tc.want; err == nil || err.Error() != want {
			t.Errorf("SetLink(%+v): %v, want %q", tc.c, err, want)
		}
	}
}

func TestStatsSorted(t *testing.T) {
	p := newProxy(t, 1)
	p.SetCut("n2", "n1", true)
	p.SetCut("n1", "n3", true)
	if _, err := p.Listen("n1", "n2", "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	var got [][2]env.NodeID
	for _, s := range p.Stats() {
		if len(s.Kinds) != 1 || s.Kinds[0].Kind != FrameKind {
			t.Fatalf("link %s→%s: kinds %+v, want one of kind %q", s.From, s.To, s.Kinds, FrameKind)
		}
		got = append(got, [2]env.NodeID{s.From, s.To})
	}
	if want := [][2]env.NodeID{{"n1", "n2"}, {"n1", "n3"}, {"n2", "n1"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("links %v, want %v", got, want)
	}
}

// TestTransportThroughProxy: two real transports, n1 reaching n2 through
// the proxy. A cut loses messages without breaking the connection, and
// delivery resumes on it when the cut ends.
func TestTransportThroughProxy(t *testing.T) {
	delivered := make(chan uint64, 1024)
	n2, err := live.NewTransport(live.TransportConfig{Self: "n2", Listen: "127.0.0.1:0",
		Deliver: func(_, _ env.NodeID, m env.Message) { delivered <- m.(*kv.Request).Seq }})
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	n1, err := live.NewTransport(live.TransportConfig{Self: "n1", Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()
	p := newProxy(t, 1)
	addr, err := p.Listen("n1", "n2", n2.Addr())
	if err != nil {
		t.Fatal(err)
	}
	n1.SetPeer("n2", addr)
	send := func(seq uint64) { n1.Send("n2", request(seq).Msg) }
	expect := func(want uint64) {
		t.Helper()
		select {
		case seq := <-delivered:
			if seq != want {
				t.Fatalf("n2 got seq %d, want %d", seq, want)
			}
		case <-time.After(patience):
			t.Fatalf("n2 did not get seq %d", want)
		}
	}
	send(1)
	expect(1)
	p.SetCut("n1", "n2", true)
	for seq := range uint64(5) {
		send(10 + seq)
	}
	waitFor(t, "the proxy did not drop what n1 sent during the cut", func() bool { return statsOf(p, "n1", "n2").Dropped == 5 })
	p.SetCut("n1", "n2", false)
	send(2)
	expect(2)
	if s := n1.Stats(); s.Dials != 1 {
		t.Fatalf("n1 dialled %d times, want 1: a cut must not break the connection", s.Dials)
	}
}

// FuzzProxyStream: whatever a sender writes, the proxy neither panics nor
// hangs Close, and accounts for every frame it read. The connections are
// in memory (net.Pipe), so that thousands of runs spend no ports; the
// tests above cover the real sockets.
func FuzzProxyStream(f *testing.F) {
	f.Add(encode(f, hello("n1", "n2"), request(1), request(2)), uint8(0))
	f.Add(encode(f, hello("n1", "n2"), request(1))[:20], uint8(1))
	f.Add([]byte("shl\x01\xff\xff\xff\xff"), uint8(2))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), uint8(3))
	f.Add(append(encode(f, hello("n1", ""), request(1)), "shlx"...), uint8(4))
	f.Add(encode(f, hello("n1", "n2"), request(1), request(2), request(3)), uint8(8|2|1))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		p := New(uint64(mode), nil)
		c := simnet.LinkConfig{Loss: 0.3, Duplicate: 0.3, Reorder: mode&1 == 1}
		if mode&2 == 2 {
			c.Latency = simnet.Latency{Dist: simnet.Uniform, Max: time.Millisecond}
		}
		if err := p.SetLink("n1", "n2", c); err != nil {
			t.Fatal(err)
		}
		p.SetCut("n1", "n2", mode&4 == 4)
		p.mu.Lock()
		l := p.link("n1", "n2")
		p.mu.Unlock()

		sender, client := net.Pipe()
		server, target := net.Pipe()
		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(io.Discard, target) })
		if !p.start(l, client, server) {
			t.Fatal("a new proxy refused a connection")
		}
		// A write on a net.Pipe returns once the proxy has read it all,
		// or has closed the connection.
		written := make(chan struct{})
		wg.Go(func() {
			sender.Write(data)
			if mode&8 == 8 {
				sender.Close()
			}
			close(written)
		})
		select {
		case <-written:
		case <-time.After(patience):
			t.Fatalf("the proxy stopped reading %q", data)
		}
		closed := make(chan error)
		go func() { closed <- p.Close() }()
		select {
		case <-closed:
		case <-time.After(patience):
			t.Fatalf("Close hung after %q", data)
		}
		sender.Close()
		target.Close()
		wg.Wait()
		k := statsOf(p, "n1", "n2")
		if k.Sent+k.Duplicated != k.Delivered+k.Dropped {
			t.Fatalf("after %q: %+v: sent and duplicated frames unaccounted for", data, k)
		}
	})
}
