package live

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/node"
)

// eventually waits for cond, polling, for up to 10 seconds.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noLeaks checks, once the test's other cleanups (closing its
// transports) have run, that every goroutine the test started has ended.
// Call it first.
func noLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines, %d before the test; they are:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

type delivery struct {
	from, to env.NodeID
	m        env.Message
}

// testNode is a transport and what it delivered.
type testNode struct {
	*Transport
	mu  sync.Mutex
	got []delivery
}

func (n *testNode) deliver(from, to env.NodeID, m env.Message) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, delivery{from, to, m})
}

func (n *testNode) delivered() []delivery {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]delivery(nil), n.got...)
}

func (n *testNode) has(want delivery) bool {
	for _, d := range n.delivered() {
		if d.from == want.from && d.to == want.to && reflect.DeepEqual(d.m, want.m) {
			return true
		}
	}
	return false
}

func startNode(t *testing.T, name env.NodeID, configure func(*TransportConfig)) *testNode {
	t.Helper()
	n := &testNode{}
	cfg := TransportConfig{Self: name, Listen: "127.0.0.1:0", Deliver: n.deliver}
	if configure != nil {
		configure(&cfg)
	}
	tr, err := NewTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Transport = tr
	t.Cleanup(func() { tr.Close() })
	return n
}

// connect tells each node where the others listen.
func connect(nodes ...*testNode) {
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.SetPeer(b.cfg.Self, b.Addr())
			}
		}
	}
}

func raftMessage(group, from, to uint64) *node.Message {
	return &node.Message{Group: group, Msg: pb.Message{Type: pb.MsgApp, From: from, To: to, Term: 3, Index: 10, Entries: []pb.Entry{{Term: 3, Index: 11, Data: []byte("put")}}}}
}

func TestTransportTwoNodes(t *testing.T) {
	noLeaks(t)
	n1, n2 := startNode(t, "n1", nil), startNode(t, "n2", nil)
	connect(n1, n2)
	want1 := []delivery{
		{"n2", "n1", raftMessage(1, 2, 1)},
		{"n2", "n1/api3", &kv.Response{Client: "n1/api3", Seq: 7, Status: kv.StatusOK, Value: kv.Some(""), Index: 12}},
	}
	want2 := []delivery{
		{"n1", "n2", raftMessage(1, 1, 2)},
		{"n1/api3", "n2", &kv.Request{Client: "n1/api3", Seq: 7, Op: kv.OpCAS, Key: "k", Value: "v", Expected: kv.None}},
		{"n1", "n2/client", &kv.Response{Client: "n2/client", Seq: 1, Status: kv.StatusRedirect, Leader: "n3"}},
	}
	for _, d := range want1 {
		n2.Send(d.to, d.m)
	}
	for _, d := range want2 {
		n1.SendAs(d.from, d.to, d.m)
	}
	n1.SendAs("n2", "n2", raftMessage(1, 2, 2))  // not n1's to send
	n1.SendAs("n1x", "n2", raftMessage(1, 2, 2)) // nor this
	eventually(t, func() bool { return len(n1.delivered()) == len(want1) && len(n2.delivered()) == len(want2) }, "every message")
	if got := n1.delivered(); !reflect.DeepEqual(got, want1) {
		t.Errorf("n1 got %v, want %v", got, want1)
	}
	if got := n2.delivered(); !reflect.DeepEqual(got, want2) {
		t.Errorf("n2 got %v, want %v", got, want2)
	}
	s := n1.Stats()
	if s.Sent["raft.MsgApp"] != 1 || s.Sent["kv.request"] != 1 || s.Sent["kv.response"] != 1 || s.Received["raft.MsgApp"] != 1 || s.Received["kv.response"] != 1 {
		t.Errorf("n1's stats: %+v", s)
	}
	if s.Outbound != 1 || s.Dials != 1 || s.Queued["n2"] != 0 || len(s.Rejected) != 0 || s.DroppedBy[DropNotOurs] != 2 || len(s.DroppedBy) != 1 {
		t.Errorf("n1's stats: %+v", s)
	}
	eventually(t, func() bool { return n2.Stats().Inbound == 1 }, "n2 to count n1's connection")
}

func TestTransportThreeNodes(t *testing.T) {
	noLeaks(t)
	nodes := []*testNode{startNode(t, "n1", nil), startNode(t, "n2", nil), startNode(t, "n3", nil)}
	connect(nodes...)
	var want []delivery
	for i, a := range nodes {
		for j, b := range nodes {
			if i == j {
				continue
			}
			d := delivery{a.cfg.Self, b.cfg.Self, raftMessage(uint64(j), uint64(i+1), uint64(j+1))}
			a.Send(d.to, d.m)
			want = append(want, d)
			d = delivery{a.cfg.Self, b.cfg.Self + "/api1", &kv.Response{Client: "x", Seq: uint64(10*i + j), Status: kv.StatusOK}}
			a.Send(d.to, d.m)
			want = append(want, d)
		}
	}
	for _, d := range want {
		b := nodes[d.to[1]-'1']
		eventually(t, func() bool { return b.has(d) }, fmt.Sprintf("%s to %s: %s", d.from, d.to, d.m.Kind()))
	}
	for _, n := range nodes {
		if got := len(n.delivered()); got != 4 {
			t.Errorf("%s got %d messages, want 4", n.cfg.Self, got)
		}
		if s := n.Stats(); s.Outbound != 2 {
			t.Errorf("%s has %d outbound connections, want 2", n.cfg.Self, s.Outbound)
		}
	}
}

// TestTransportOrder: one peer's messages arrive in the order sent.
func TestTransportOrder(t *testing.T) {
	noLeaks(t)
	n1, n2 := startNode(t, "n1", nil), startNode(t, "n2", nil)
	connect(n1, n2)
	const count = 3000
	for i := range count {
		n1.Send("n2", &kv.Request{Client: "c", Seq: uint64(i), Op: kv.OpGet, Key: "k"})
	}
	eventually(t, func() bool { return len(n2.delivered()) == count }, "every request")
	for i, d := range n2.delivered() {
		if seq := d.m.(*kv.Request).Seq; seq != uint64(i) {
			t.Fatalf("message %d has seq %d", i, seq)
		}
	}
}

// deadAddr is an address where nothing listens (until a test listens
// there).
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestTransportQueueOverflow: while a peer is unreachable its queue fills
// and then gives up its oldest messages; Send never blocks.
func TestTransportQueueOverflow(t *testing.T) {
	noLeaks(t)
	n1 := startNode(t, "n1", func(c *TransportConfig) { c.QueueSize = 8 })
	addr := deadAddr(t)
	n1.SetPeer("n9", addr)
	for i := range 100 {
		n1.Send("n9", &kv.Request{Client: "c", Seq: uint64(i), Op: kv.OpGet})
	}
	s := n1.Stats()
	if s.Queued["n9"] != 8 || s.DroppedBy[DropQueueFull] != 92 || s.Dropped["kv.request"] != 92 {
		t.Fatalf("after 100 messages to an unreachable peer with a queue of 8: %+v", s)
	}
	n1.Send("n7", &kv.Request{Op: kv.OpGet})
	n1.Send("n7/api", &kv.Request{Op: kv.OpGet})
	if s := n1.Stats(); s.DroppedBy[DropNoAddress] != 2 || s.Dropped["kv.request"] != 94 {
		t.Fatalf("after 2 messages to a node without an address: %+v", s)
	}

	// The peer comes up: the newest 8 were kept.
	n9 := startNode(t, "n9", func(c *TransportConfig) { c.Listen = addr })
	eventually(t, func() bool { return len(n9.delivered()) == 8 }, "the queued messages")
	for i, d := range n9.delivered() {
		if seq := d.m.(*kv.Request).Seq; seq != uint64(92+i) {
			t.Fatalf("message %d has seq %d, want %d", i, seq, 92+i)
		}
	}
}

// TestTransportReconnect: a peer whose transport closed and came back on
// the same address is reached again.
func TestTransportReconnect(t *testing.T) {
	noLeaks(t)
	n1, n2 := startNode(t, "n1", nil), startNode(t, "n2", nil)
	connect(n1, n2)
	n1.Send("n2", raftMessage(1, 1, 2))
	eventually(t, func() bool { return len(n2.delivered()) == 1 }, "the first message")
	addr := n2.Addr()
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return n1.Stats().Outbound == 0 }, "n1 to notice")
	again := startNode(t, "n2", func(c *TransportConfig) { c.Listen = addr })
	seq := uint64(0)
	eventually(t, func() bool {
		seq++
		n1.Send("n2", &kv.Request{Client: "c", Seq: seq, Op: kv.OpGet})
		return len(again.delivered()) > 0
	}, "a message to the new n2")
	if s := n1.Stats(); s.Dials != 2 || s.Outbound != 1 {
		t.Fatalf("n1's stats: %+v", s)
	}
}

// TestTransportAddressChange: a new address for a peer moves its
// connection.
func TestTransportAddressChange(t *testing.T) {
	noLeaks(t)
	n1, old := startNode(t, "n1", nil), startNode(t, "n2", nil)
	connect(n1, old)
	n1.Send("n2", raftMessage(1, 1, 2))
	eventually(t, func() bool { return len(old.delivered()) == 1 }, "the first message")
	moved := startNode(t, "n2", nil)
	n1.SetPeer("n2", moved.Addr())
	eventually(t, func() bool {
		n1.Send("n2", raftMessage(1, 1, 2))
		return len(moved.delivered()) > 0
	}, "a message at the new address")
	eventually(t, func() bool { return old.Stats().Inbound == 0 }, "the old connection to close")
	n1.SetPeer("n2", "")
	n1.Send("n2", raftMessage(1, 1, 2))
	if s := n1.Stats(); s.DroppedBy[DropNoAddress] != 1 {
		t.Fatalf("after forgetting n2's address: %+v", s)
	}
}

// dialRaw opens a plain connection to a transport and writes b on it.
func dialRaw(t *testing.T, addr string, b []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Write(b) // the transport may close before reading it all
	return c
}

// expectClosed waits for the transport to close c.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the connection stayed open")
	}
	if n > 0 {
		t.Fatalf("the transport wrote %d bytes on a peer stream", n)
	}
}

func header(magic string, version byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(magic), version), n)
}

// logBuffer is a log that goroutines may write at once.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(s.b.String(), "\n")
}

func TestTransportRejects(t *testing.T) {
	noLeaks(t)
	var log logBuffer
	n1 := startNode(t, "n1", nil)
	n2 := startNode(t, "n2", func(c *TransportConfig) {
		c.MaxFrame = 4096
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	connect(n1, n2)
	hello := func(from, to env.NodeID) []byte {
		return appendFrames(t, Frame{From: from, To: to, Msg: &Hello{From: Member{Name: from}}})
	}
	req := &kv.Request{Client: "c", Op: kv.OpGet, Key: "k"}
	frame := func(from, to env.NodeID) []byte { return appendFrames(t, Frame{From: from, To: to, Msg: req}) }
	join := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	malformed := append(header(frameMagic, FrameVersion, 4), 0, 0, 0xee, 0)

	for _, c := range []struct {
		name, reason string
		b            []byte
	}{
		{"http", ReasonBadMagic, []byte("GET / HTTP/1.1\r\nHost: n2\r\n\r\n")},
		{"wrong magic", ReasonBadMagic, append(header("SHL", FrameVersion, 3), 0, 0, 0)},
		{"version 2", ReasonBadVersion, append(header(frameMagic, 2, 3), 0, 0, 0)},
		{"oversized hello", ReasonTooLarge, header(frameMagic, FrameVersion, 2<<20)},
		{"oversized frame", ReasonTooLarge, join(hello("n3", "n2"), header(frameMagic, FrameVersion, 4097))},
		{"malformed hello", ReasonMalformed, malformed},
		{"malformed frame", ReasonMalformed, join(hello("n3", "n2"), malformed)},
		{"bad magic later", ReasonBadMagic, join(hello("n3", "n2"), []byte("garbage!"))},
		{"forged from", RejectForgedFrom, join(hello("n3", "n2"), frame("n4", "n2"))},
		{"forged prefix", RejectForgedFrom, join(hello("n3", "n2"), frame("n3x", "n2"))},
		{"forged client", RejectForgedFrom, join(hello("n3", "n2"), frame("n4/api1", "n2"))},
		{"forged hello", RejectForgedFrom, appendFrames(t, Frame{From: "n4", To: "n2", Msg: &Hello{From: Member{Name: "n3"}}})},
		{"not a hello", RejectNotHello, frame("n3", "n2")},
		{"unnamed hello", RejectBadHello, hello("", "n2")},
		{"client hello", RejectBadHello, hello("n3/api", "n2")},
		{"wrong node", RejectWrongNode, hello("n3", "n5")},
		{"misrouted", RejectMisrouted, join(hello("n3", "n2"), frame("n3", "n1"))},
		{"misrouted prefix", RejectMisrouted, join(hello("n3", "n2"), frame("n3", "n2x"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := n2.Stats().Rejected
			conn := dialRaw(t, n2.Addr(), c.b)
			expectClosed(t, conn)
			eventually(t, func() bool { return n2.Stats().Rejected[c.reason] == before[c.reason]+1 }, "the rejection to be counted as "+c.reason)
			// The log says which peer, why, and what was wrong.
			peer := "peer=" + conn.LocalAddr().String()
			reason := "reason=" + c.reason
			if strings.Contains(c.reason, " ") {
				reason = fmt.Sprintf("reason=%q", c.reason)
			}
			if !slices.ContainsFunc(log.lines(), func(l string) bool {
				return strings.Contains(l, "level=WARN") && strings.Contains(l, peer) && strings.Contains(l, reason) && strings.Contains(l, "error=")
			}) {
				t.Fatalf("no warning with %s and %s in the log:\n%s", peer, reason, strings.Join(log.lines(), "\n"))
			}
			for _, d := range n2.delivered() {
				if d.from != "n1" {
					t.Fatalf("delivered %v from a rejected connection", d)
				}
			}
			// The good connection keeps working.
			m := &kv.Request{Client: c.name, Op: kv.OpGet}
			n1.Send("n2", m)
			eventually(t, func() bool { return n2.has(delivery{"n1", "n2", m}) }, "a message on the good connection")
		})
	}
	if s := n1.Stats(); s.Dials != 1 {
		t.Fatalf("the good connection was dialled %d times", s.Dials)
	}

	// A raw connection that follows the rules is delivered, and nothing
	// more is counted.
	before := n2.Stats().Rejected
	m := &kv.Response{Client: "n2/api", Status: kv.StatusOK}
	c := dialRaw(t, n2.Addr(), join(hello("n3", "n2"), appendFrames(t, Frame{From: "n3/api1", To: "n2/api", Msg: m})))
	eventually(t, func() bool { return n2.has(delivery{"n3/api1", "n2/api", m}) }, "the raw connection's message")
	c.Close()
	if after := n2.Stats().Rejected; !reflect.DeepEqual(after, before) {
		t.Fatalf("rejections went from %v to %v", before, after)
	}
}

func TestTransportExchange(t *testing.T) {
	noLeaks(t)
	var mu sync.Mutex
	var seen []*Hello
	answer := &Hello{
		From:         Member{Name: "n2", PeerAddr: "127.0.0.1:7002", HTTPAddr: "127.0.0.1:8002", Domain: map[string]string{"zone": "b"}},
		Members:      []Member{{Name: "n2", PeerAddr: "127.0.0.1:7002"}, {Name: "n3", PeerAddr: "127.0.0.1:7003"}},
		Bootstrapped: true, Cluster: "c1",
	}
	n2 := startNode(t, "n2", func(c *TransportConfig) {
		c.OnHello = func(h *Hello) *Hello {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, h)
			return answer
		}
	})
	n1 := startNode(t, "n1", nil)
	ours := &Hello{From: Member{Name: "n1", PeerAddr: n1.Addr(), Domain: map[string]string{"zone": "a"}}}
	got, err := n1.Exchange(context.Background(), n2.Addr(), ours)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, answer) {
		t.Fatalf("answer %+v, want %+v", got, answer)
	}
	mu.Lock()
	if len(seen) != 1 || !reflect.DeepEqual(seen[0], ours) {
		t.Fatalf("n2 saw %+v, want %+v", seen, ours)
	}
	mu.Unlock()
	eventually(t, func() bool { return n2.Stats().Inbound == 0 }, "the exchange's connection to close")

	// A nil hello sends the default one; with no OnHello the answer names
	// only the node.
	got, err = n2.Exchange(context.Background(), n1.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&Hello{From: Member{Name: "n1"}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("answer %+v, want %+v", got, want)
	}

	if _, err := n1.Exchange(context.Background(), n2.Addr(), &Hello{From: Member{Name: "n9"}}); err == nil || !strings.Contains(err.Error(), `the hello is from "n9"`) {
		t.Fatalf("a hello from another node: %v", err)
	}
	if _, err := n1.Exchange(context.Background(), deadAddr(t), ours); err == nil {
		t.Fatal("an exchange with nothing listening succeeded")
	}

	// A listener that never answers: the context ends the exchange.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := n1.Exchange(ctx, silent.Addr().String(), ours); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an exchange nobody answers: %v, want the deadline", err)
	}
}

// TestTransportStreamHello: the hello that opens a peer connection reaches
// OnHello when it says where its sender listens.
func TestTransportStreamHello(t *testing.T) {
	noLeaks(t)
	seen := make(chan *Hello, 10)
	n2 := startNode(t, "n2", func(c *TransportConfig) {
		c.OnHello = func(h *Hello) *Hello { seen <- h; return nil }
	})
	self := &Hello{From: Member{Name: "n1", PeerAddr: "10.1.1.1:7000", HTTPAddr: "10.1.1.1:8000"}}
	n1 := startNode(t, "n1", func(c *TransportConfig) { c.SelfHello = func() *Hello { return self } })
	n3 := startNode(t, "n3", nil) // says only its name
	connect(n1, n2, n3)
	n3.Send("n2", raftMessage(1, 3, 2))
	eventually(t, func() bool { return len(n2.delivered()) == 1 }, "n3's message")
	n1.Send("n2", raftMessage(1, 1, 2))
	eventually(t, func() bool { return len(n2.delivered()) == 2 }, "n1's message")
	select {
	case h := <-seen:
		if !reflect.DeepEqual(h, self) {
			t.Fatalf("OnHello saw %+v, want %+v", h, self)
		}
	default:
		t.Fatal("OnHello did not see n1's hello")
	}
	if len(seen) != 0 {
		t.Fatalf("OnHello saw a hello without an address: %+v", <-seen)
	}
}

func TestTransportClose(t *testing.T) {
	noLeaks(t)
	n1, n2 := startNode(t, "n1", nil), startNode(t, "n2", nil)
	connect(n1, n2)
	n1.SetPeer("n9", deadAddr(t)) // a writer in backoff
	n1.Send("n9", raftMessage(1, 1, 9))
	n1.Send("n2", raftMessage(1, 1, 2))
	eventually(t, func() bool { return len(n2.delivered()) == 1 }, "a message")
	addr := n1.Addr()
	if err := n1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n1.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	n1.Send("n2", raftMessage(1, 1, 2))
	if s := n1.Stats(); s.DroppedBy[DropClosed] != 1 || s.Outbound != 0 || s.Inbound != 0 {
		t.Fatalf("after Close: %+v", s)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("the listener is still open")
	}
	if _, err := n1.Exchange(context.Background(), n2.Addr(), nil); err == nil {
		t.Fatal("an exchange after Close succeeded")
	}
	eventually(t, func() bool { return n2.Stats().Inbound == 0 }, "n2 to see n1's connection close")
}

func TestNewTransportRejects(t *testing.T) {
	for _, cfg := range []TransportConfig{
		{Self: "", Listen: "127.0.0.1:0"},
		{Self: "n1/x", Listen: "127.0.0.1:0"},
		{Self: "n1", Listen: "127.0.0.1:0", QueueSize: -1},
		{Self: "n1", Listen: "not an address"},
	} {
		if tr, err := NewTransport(cfg); err == nil {
			tr.Close()
			t.Errorf("NewTransport(%+v) succeeded", cfg)
		}
	}
}

// testPKI is a certificate authority and a certificate it signed for
// 127.0.0.1, good for servers and clients.
type testPKI struct {
	pool *x509.CertPool
	cert tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shoal test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "shoal node"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &testPKI{pool: pool, cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

func (p *testPKI) server(mutual bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{p.cert}, MinVersion: tls.VersionTLS13}
	if mutual {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
	}
	return c
}

func (p *testPKI) client(withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS13}
	if withCert {
		c.Certificates = []tls.Certificate{p.cert}
	}
	return c
}

func TestTransportTLS(t *testing.T) {
	noLeaks(t)
	pki := newTestPKI(t)
	secure := func(c *TransportConfig) { c.ServerTLS, c.ClientTLS = pki.server(false), pki.client(false) }
	n1, n2 := startNode(t, "n1", secure), startNode(t, "n2", secure)
	connect(n1, n2)
	n1.Send("n2", raftMessage(1, 1, 2))
	n2.Send("n1/api", &kv.Response{Client: "n1/api", Status: kv.StatusOK})
	eventually(t, func() bool { return len(n1.delivered()) == 1 && len(n2.delivered()) == 1 }, "a message each way over TLS")
	if _, err := n1.Exchange(context.Background(), n2.Addr(), nil); err != nil {
		t.Fatalf("an exchange over TLS: %v", err)
	}

	// A plain TCP peer is refused.
	plain := startNode(t, "n3", nil)
	plain.SetPeer("n2", n2.Addr())
	plain.Send("n2", raftMessage(1, 3, 2))
	eventually(t, func() bool { return n2.Stats().Rejected[RejectTLS] >= 1 }, "the plain connection to be refused")
	if _, err := plain.Exchange(context.Background(), n2.Addr(), nil); err == nil {
		t.Fatal("a plain exchange with a TLS listener succeeded")
	}

	// A peer that does not trust the server's certificate does not send.
	untrusting := startNode(t, "n4", func(c *TransportConfig) { c.ClientTLS = &tls.Config{MinVersion: tls.VersionTLS13} })
	if _, err := untrusting.Exchange(context.Background(), n2.Addr(), nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an exchange with an unknown certificate: %v", err)
	}
	for _, d := range n2.delivered() {
		if d.from != "n1" {
			t.Fatalf("n2 delivered %v", d)
		}
	}
}

func TestTransportMutualTLS(t *testing.T) {
	noLeaks(t)
	pki := newTestPKI(t)
	mutual := func(c *TransportConfig) { c.ServerTLS, c.ClientTLS = pki.server(true), pki.client(true) }
	n1, n2 := startNode(t, "n1", mutual), startNode(t, "n2", mutual)
	connect(n1, n2)
	n1.Send("n2", raftMessage(1, 1, 2))
	n2.Send("n1", raftMessage(1, 2, 1))
	eventually(t, func() bool { return len(n1.delivered()) == 1 && len(n2.delivered()) == 1 }, "a message each way over mutual TLS")

	// A client without a certificate is refused.
	anonymous := startNode(t, "n3", func(c *TransportConfig) { c.ClientTLS = pki.client(false) })
	anonymous.SetPeer("n2", n2.Addr())
	anonymous.Send("n2", raftMessage(1, 3, 2))
	eventually(t, func() bool { return n2.Stats().Rejected[RejectTLS] >= 1 }, "the anonymous client to be refused")
	if _, err := anonymous.Exchange(context.Background(), n2.Addr(), nil); err == nil {
		t.Fatal("an exchange without a client certificate succeeded")
	}
	for _, d := range n2.delivered() {
		if d.from != "n1" {
			t.Fatalf("n2 delivered %v", d)
		}
	}
	if _, err := n1.Exchange(context.Background(), n2.Addr(), nil); err != nil {
		t.Fatalf("an exchange with a certificate: %v", err)
	}
}
