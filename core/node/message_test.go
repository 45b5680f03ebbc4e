package node

import (
	"bytes"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

func TestMessageKind(t *testing.T) {
	for typ, want := range map[pb.MessageType]string{
		pb.MsgApp: "raft.MsgApp", pb.MsgHeartbeatResp: "raft.MsgHeartbeatResp", pb.MsgSnap: "raft.MsgSnap",
		pb.MessageType(999): "raft.unknown",
	} {
		if got := (&Message{Msg: pb.Message{Type: typ}}).Kind(); got != want {
			t.Errorf("kind of %v = %q, want %q", typ, got, want)
		}
	}
}

func TestEnvelope(t *testing.T) {
	for _, tc := range []struct{ id, data string }{{"", ""}, {"p1", "payload"}, {strings.Repeat("i", 300), "x"}} {
		id, data, err := openEnvelope(envelope(tc.id, []byte(tc.data)))
		if err != nil || id != tc.id || string(data) != tc.data {
			t.Errorf("envelope(%q, %q) opened as %q, %q, %v", tc.id, tc.data, id, data, err)
		}
	}
	for _, bad := range [][]byte{nil, {0x80}, {5, 'a'}, {0x81, 0x00, 'a'}} {
		if _, _, err := openEnvelope(bad); err == nil {
			t.Errorf("openEnvelope(%x) accepted a malformed payload", bad)
		}
	}
}

// FuzzEnvelope: any entry payload opens or fails cleanly, and what opens
// re-encodes to the same bytes.
func FuzzEnvelope(f *testing.F) {
	f.Add(envelope("p1", []byte("data")))
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, data, err := openEnvelope(b)
		if err != nil {
			return
		}
		if again := envelope(id, data); !bytes.Equal(again, b) {
			t.Fatalf("%x opened as %q, %x but re-encodes as %x", b, id, data, again)
		}
	})
}
