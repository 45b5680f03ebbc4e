package live

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/node"
)

func appendFrames(t testing.TB, fs ...Frame) []byte {
	t.Helper()
	var b []byte
	for _, f := range fs {
		var err error
		if b, err = AppendFrame(b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func readerOf(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func TestFrameRoundTrip(t *testing.T) {
	frames := []Frame{
		{From: "n1", To: "n2", Msg: &Hello{From: Member{Name: "n1", PeerAddr: "127.0.0.1:7000"}}},
		{From: "n1", To: "n2", Msg: &node.Message{Group: 1, Msg: pb.Message{Type: pb.MsgApp, To: 2, From: 1, Entries: []pb.Entry{{Term: 1, Index: 2, Data: []byte("x")}}}}},
		{From: "n1/api7", To: "n2", Msg: &kv.Request{Client: "n1/api7", Seq: 9, Op: kv.OpPut, Key: "k", Value: "v"}},
		{From: "n2", To: "n1/api7", Msg: &kv.Response{Client: "n1/api7", Seq: 9, Status: kv.StatusOK, Index: 12}},
		{From: "n1/api7", To: "n2", Msg: &kv.Request{Client: "n1/api7", Seq: 10, Op: kv.OpEnqueue, Key: "m1",
			Message: &kv.Message{ID: "m1", Connector: "http", Headers: []kv.Header{{Name: "content-type", Value: "application/json"}}, Payload: []byte("{}")}}},
		{From: "n2", To: "n1/api7", Msg: &kv.Response{Client: "n1/api7", Seq: 10, Status: kv.StatusBusy, RetryAfter: 500_000_000}},
		{From: "n1/api7", To: "n2", Msg: &kv.Request{Client: "n1/api7", Seq: 11, Op: kv.OpReadQueue, Stale: true, Queue: &kv.QueueRequest{Replicaset: "rs1", List: "repair"}}},
		{From: "n2", To: "n1/api7", Msg: &kv.Response{Client: "n1/api7", Seq: 11, Status: kv.StatusOK, Index: 13, Queue: &kv.QueueState{Replicaset: "rs1", Repairs: 1, Tail: 1, Head: 2,
			Entries: []kv.RepairEntry{{Queued: kv.Queued{Seq: 1, Message: kv.Message{ID: "m0"}}, Failure: kv.Failure{Step: -1, Reason: "no route"}}}}}},
		{Msg: &kv.Request{Op: kv.OpGet}}, // empty names
	}
	r := readerOf(appendFrames(t, frames...))
	for i, want := range frames {
		got, err := ReadFrame(r, MaxFrameSize)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("frame %d:\n got %#v\nwant %#v", i, got, want)
		}
	}
	if _, err := ReadFrame(r, MaxFrameSize); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// TestFrameGolden pins the frame format.
func TestFrameGolden(t *testing.T) {
	b := appendFrames(t, Frame{From: "n1", To: "n2", Msg: &kv.Request{Client: "c", Seq: 1, Op: kv.OpGet, Key: "k"}})
	want := "73686c" + "01" + "0000000f" + "026e31" + "026e32" + "02" + "0163" + "01" + "01" + "016b" + "00" + "00"
	if got := hexString(b); got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
}

func TestAppendFrameError(t *testing.T) {
	b, err := AppendFrame([]byte("keep"), Frame{From: "n1", To: "n2", Msg: strangeMessage{}})
	if err == nil || string(b) != "keep" {
		t.Fatalf("AppendFrame of an unknown message: %q, %v", b, err)
	}
}

func TestReadFrameRejects(t *testing.T) {
	good := appendFrames(t, Frame{From: "n1", To: "n2", Msg: &kv.Request{Client: "c", Seq: 1, Op: kv.OpGet, Key: "k"}})
	header := func(magic string, version byte, n uint32) []byte {
		return binary.BigEndian.AppendUint32(append([]byte(magic), version), n)
	}
	body := func(b []byte) []byte {
		return append(header(frameMagic, FrameVersion, uint32(len(b))), b...)
	}
	for _, c := range []struct {
		name   string
		b      []byte
		max    int
		reason string // "" for a plain error
		err    error
		want   string
	}{
		{"http", []byte("GET / HTTP/1.1\r\n\r\n"), MaxFrameSize, ReasonBadMagic, nil, `live: bad frame magic "GET", want "shl"`},
		{"tls", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc}, MaxFrameSize, ReasonBadMagic, nil, `bad frame magic "\x16\x03\x01"`},
		{"version 2", header(frameMagic, 2, 3), MaxFrameSize, ReasonBadVersion, nil, "live: unsupported frame version 2 (this build speaks 1)"},
		{"version 0", header(frameMagic, 0, 3), MaxFrameSize, ReasonBadVersion, nil, "unsupported frame version 0"},
		{"oversized", header(frameMagic, FrameVersion, 1001), 1000, ReasonTooLarge, nil, "live: frame of 1001 bytes exceeds the limit of 1000"},
		{"max uint32", header(frameMagic, FrameVersion, 0xffffffff), MaxFrameSize, ReasonTooLarge, nil, "frame of 4294967295 bytes exceeds the limit of 67108864"},
		{"empty body", body(nil), MaxFrameSize, ReasonMalformed, nil, "live: malformed frame of 0 bytes: its addresses: truncated"},
		{"no message", body([]byte{0, 0}), MaxFrameSize, ReasonMalformed, nil, "malformed frame of 2 bytes: live: decoding a message: empty"},
		{"from past the end", body([]byte{9, 'n'}), MaxFrameSize, ReasonMalformed, nil, "its addresses: a string of 9 bytes runs past the end"},
		{"unknown op", body([]byte{0, 0, wireRequest, 0, 0, byte(kv.OpImport + 1), 0, 0, 0}), MaxFrameSize, ReasonMalformed, nil,
			fmt.Sprintf("live: decoding kv.request: unknown op %d", kv.OpImport+1)},
		{"process", body([]byte{0, 0, wireRequest, 0, 0, byte(kv.OpProcess), 0, 0, 0}), MaxFrameSize, ReasonMalformed, nil,
			"live: decoding kv.request: a leader's own command"},
		{"trailing", body([]byte{0, 0, wireRequest, 0, 0, 1, 0, 0, 0, 1, 0}), MaxFrameSize, ReasonMalformed, nil, "kv.request: 1 stray bytes"},
		{"half a header", good[:5], MaxFrameSize, "", io.ErrUnexpectedEOF, ""},
		{"half a body", good[:len(good)-1], MaxFrameSize, "", io.ErrUnexpectedEOF, ""},
		{"header only", good[:frameHeader], MaxFrameSize, "", io.ErrUnexpectedEOF, ""},
		{"nothing", nil, MaxFrameSize, "", io.EOF, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := ReadFrame(readerOf(c.b), c.max)
			if err == nil {
				t.Fatalf("read %#v, want an error", f)
			}
			var fe *FrameError
			if c.reason == "" {
				if err != c.err {
					t.Fatalf("error %v, want %v", err, c.err)
				}
				return
			}
			if !errors.As(err, &fe) || fe.Reason != c.reason {
				t.Fatalf("error %v, want a FrameError for %q", err, c.reason)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestReadFrameLyingLength: a header that claims a large body and sends
// little costs little memory.
func TestReadFrameLyingLength(t *testing.T) {
	b := binary.BigEndian.AppendUint32([]byte{'s', 'h', 'l', FrameVersion}, MaxFrameSize)
	b = append(b, "only a few bytes"...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := ReadFrame(readerOf(b), MaxFrameSize)
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("error %v, want io.ErrUnexpectedEOF", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("reading a frame that claims %d bytes and sends %d allocated %d bytes", MaxFrameSize, len(b)-frameHeader, n)
	}
}

// TestReadFrameLarge reads a body larger than the first allocation.
func TestReadFrameLarge(t *testing.T) {
	want := Frame{From: "n1", To: "n2", Msg: &node.Message{Group: 1, Msg: pb.Message{Type: pb.MsgSnap, Snapshot: &pb.Snapshot{Data: bytes.Repeat([]byte{7}, 5*frameChunk+3)}}}}
	b := appendFrames(t, want)
	if _, err := ReadFrame(readerOf(b), len(b)-frameHeader-1); err == nil {
		t.Fatal("a frame one byte over the limit was read")
	}
	got, err := ReadFrame(readerOf(b), len(b)-frameHeader)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("the large frame changed on the way")
	}
}

// FuzzReadFrame: arbitrary bytes never panic; every frame read
// re-encodes to exactly the bytes it was read from.
func FuzzReadFrame(f *testing.F) {
	for _, c := range codecCases() {
		f.Add(appendFrames(f, Frame{From: "n1", To: "n2/api", Msg: c.m}))
	}
	f.Add(appendFrames(f,
		Frame{From: "n1", To: "n2", Msg: &Hello{From: Member{Name: "n1"}}},
		Frame{From: "n1", To: "n2", Msg: &kv.Request{Op: kv.OpGet}},
	))
	f.Add([]byte("shl\x01\xff\xff\xff\xff"))
	f.Add([]byte("shl\x02\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		const max = 1 << 16
		r := readerOf(b)
		off := 0
		for {
			fr, err := ReadFrame(r, max)
			if err != nil {
				return
			}
			again, err := AppendFrame(nil, fr)
			if err != nil {
				t.Fatalf("read %#v, which does not encode: %v", fr, err)
			}
			if !bytes.HasPrefix(b[off:], again) {
				t.Fatalf("not canonical: at %d, %x was read as %#v, which encodes to %x", off, b[off:], fr, again)
			}
			off += len(again)
		}
	})
}
