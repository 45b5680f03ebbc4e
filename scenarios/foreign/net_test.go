package foreign

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet"
)

// echo answers every message with its body.
func echo(_ env.NodeID, _ string, body any) (any, string, error) { return body, "echo", nil }

func TestNet(t *testing.T) {
	ms := time.Millisecond
	synctest.Test(t, func(t *testing.T) {
		rec := NewRecorder()
		n, err := NewNet(rec, 1, simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Constant, Min: ms}})
		if err != nil {
			t.Fatal(err)
		}
		defer n.wait()
		n.start("a")
		n.start("b")
		n.Listen("b", echo)
		call := func() (time.Duration, error) {
			began := rec.Now()
			reply, err := n.Call("a", "b", "ping", "hello", 100*ms, nil)
			if err == nil && reply != "hello" {
				t.Errorf("the answer is %v, want hello", reply)
			}
			return rec.Now() - began, err
		}
		if took, err := call(); err != nil || took != 2*ms {
			t.Errorf("a call over a clean link: %v after %s, want its answer after 2ms (there and back)", err, took)
		}
		n.Cut("a", "b")
		if took, err := call(); !errors.Is(err, ErrTimeout) || took != 100*ms {
			t.Errorf("a call over a cut link: %v after %s, want no answer, and the timeout after 100ms", err, took)
		}
		n.Uncut("a", "b")
		// A cut and restored while the request is in flight loses it.
		if err := n.SetLink("a", "b", simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Constant, Min: 10 * ms}}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := call(); !errors.Is(err, ErrTimeout) {
				t.Errorf("a call whose request was in flight across a cut: %v, want no answer", err)
			}
		})
		time.Sleep(5 * ms)
		n.Cut("a", "b")
		n.Uncut("a", "b")
		wg.Wait()
		// A lossy link loses.
		if err := n.SetLink("a", "b", simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Constant, Min: ms}, Loss: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := call(); !errors.Is(err, ErrTimeout) {
			t.Errorf("a call over a link that loses everything: %v, want no answer", err)
		}
		if err := n.SetLink("a", "b", simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Constant, Min: ms}}); err != nil {
			t.Fatal(err)
		}
		// A receiver that is down refuses at once.
		n.stop("b")
		if took, err := call(); !errors.Is(err, ErrRefused) || took != 0 {
			t.Errorf("a call to a node that is down: %v after %s, want refused at once", err, took)
		}
		// A receiver that restarts while the request flies never gets it.
		n.start("b")
		n.Listen("b", echo)
		wg.Go(func() {
			if _, err := call(); !errors.Is(err, ErrTimeout) {
				t.Errorf("a call whose receiver restarted meanwhile: %v, want no answer", err)
			}
		})
		time.Sleep(ms / 2)
		n.stop("b")
		n.start("b")
		wg.Wait()
		// A receiver that dies while it handles the request resets the
		// connection.
		release := make(chan struct{})
		n.Listen("b", func(env.NodeID, string, any) (any, string, error) {
			<-release
			return nil, "late", nil
		})
		wg.Go(func() {
			if _, err := call(); !errors.Is(err, ErrLost) {
				t.Errorf("a call whose receiver died while it handled it: %v, want the connection lost", err)
			}
		})
		time.Sleep(5 * ms)
		n.stop("b")
		close(release)
		wg.Wait()
		// A sender that is down sends nothing.
		n.stop("a")
		if _, err := n.Call("a", "b", "ping", nil, time.Second, nil); !errors.Is(err, ErrClosed) {
			t.Errorf("a call from a node that is down: %v, want ErrClosed", err)
		}
		trace, _ := rec.Trace()
		for _, want := range []string{`"why":"cut"`, `"why":"loss"`, `"why":"down"`, `"why":"restarted"`, `"kind":"net.recv","from":"a","msg":"ping"`, `"kind":"net.cut"`} {
			if !bytes.Contains(trace, []byte(want)) {
				t.Errorf("the trace lacks %s:\n%s", want, trace)
			}
		}
		var ping simnet.KindStats
		for _, l := range n.Stats() {
			if l.From == "a" && l.To == "b" {
				ping = l.Kinds[0]
			}
		}
		if ping.Kind != "ping" || ping.Sent != 7 || ping.Delivered != 2 || ping.Dropped != 5 {
			t.Errorf("a→b counted %+v, want 7 pings sent, 2 delivered, 5 dropped", ping)
		}
	})
}

// TestRecorderDropsWhatADeadNodeRecords checks that nothing a node
// records between its node.kill and its next node.start reaches the
// trace, and that times never go back.
func TestRecorderDropsWhatADeadNodeRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := NewRecorder()
		rec.Note("n1", "before")
		time.Sleep(time.Millisecond)
		rec.setDown("n1", true, "node.kill", env.Int("inc", 1))
		rec.Note("n1", "while-dead")
		rec.noteAlways("n1", "net.drop")
		time.Sleep(time.Millisecond)
		rec.setDown("n1", false, "node.start", env.Int("inc", 2))
		rec.Note("n1", "after")
		trace, n := rec.Trace()
		records, err := env.ReadTrace(bytes.NewReader(trace))
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, r := range records {
			kinds = append(kinds, r.Kind)
		}
		if got := strings.Join(kinds, " "); got != "before node.kill net.drop node.start after" || n != 5 {
			t.Errorf("recorded %s (%d), want before node.kill net.drop node.start after", got, n)
		}
		if records[1].Time != int64(time.Millisecond) || records[4].Time != int64(2*time.Millisecond) {
			t.Errorf("times %d, %d; want 1ms and 2ms", records[1].Time, records[4].Time)
		}
	})
}

// TestNetKeepsOrder checks that a link delivers its messages in the order
// sent, whatever latency each draws, as simnet's links do, unless it is
// set to reorder; and that the trace's net.recv records follow that order.
func TestNetKeepsOrder(t *testing.T) {
	ms := time.Millisecond
	for _, reorder := range []bool{false, true} {
		t.Run(fmt.Sprintf("reorder=%t", reorder), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := NewRecorder()
				n, err := NewNet(rec, 1, simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Uniform, Min: ms, Max: 50 * ms}, Reorder: reorder})
				if err != nil {
					t.Fatal(err)
				}
				defer n.wait()
				n.start("a")
				n.start("b")
				var mu sync.Mutex
				var got []int
				n.Listen("b", func(_ env.NodeID, _ string, body any) (any, string, error) {
					mu.Lock()
					got = append(got, body.(int))
					mu.Unlock()
					return nil, "ok", nil
				})
				const sent = 100
				var wg sync.WaitGroup
				for i := range sent {
					wg.Go(func() { _, _ = n.Call("a", "b", "seq", i, time.Second, nil) })
					synctest.Wait() // the call is sent before the next one
					time.Sleep(ms / 10)
				}
				wg.Wait()
				inOrder := len(got) == sent && slices.IsSorted(got)
				if inOrder == reorder {
					t.Errorf("with reorder %t, b received %v", reorder, got)
				}
			})
		})
	}
}
