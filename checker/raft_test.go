package checker

import (
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/env"
)

func TestRaftSafety(t *testing.T) {
	// Three voters; n1 leads term 2 and commits index 5 after n2 acks.
	const base = `{"time":0,"node":"n1","kind":"raft.conf","group":"rs1","index":1,"voters":"n1,n2,n3","learners":""}
{"time":0,"node":"n2","kind":"raft.conf","group":"rs1","index":1,"voters":"n1,n2,n3","learners":""}
{"time":0,"node":"n1","kind":"raft.state","group":"rs1","term":1,"role":"follower","leader":"","vote":"","commit":1,"applied":1}
{"time":0,"node":"n2","kind":"raft.state","group":"rs1","term":1,"role":"follower","leader":"","vote":"","commit":1,"applied":1}
{"time":10,"node":"n1","kind":"raft.state","group":"rs1","term":2,"role":"leader","leader":"n1","vote":"n1","commit":1,"applied":1}
{"time":11,"node":"n1","kind":"raft.ack","group":"rs1","from":"n1","term":2,"index":5}
`
	for _, tc := range []struct {
		name, trace string
		want        Verdict
		explain     string
		first       string // where First points, "node@time"; "" for nowhere
	}{
		{"nothing", `{"time":0,"node":"world","kind":"world.start","format":1,"seed":1}`, NA, "no Raft state", ""},
		{"healthy", base + `{"time":12,"node":"n1","kind":"raft.ack","group":"rs1","from":"n2","term":2,"index":5}
{"time":12,"node":"n1","kind":"raft.state","group":"rs1","term":2,"role":"leader","leader":"n1","vote":"n1","commit":5,"applied":5}
{"time":12,"node":"n1","kind":"raft.apply","group":"rs1","index":5,"term":2,"hash":"aa"}
{"time":13,"node":"n2","kind":"raft.apply","group":"rs1","index":5,"term":2,"hash":"aa"}`, Valid, "each had one leader per term", ""},
		{"commit without a majority", base + `{"time":12,"node":"n1","kind":"raft.state","group":"rs1","term":2,"role":"leader","leader":"n1","vote":"n1","commit":5,"applied":5}`,
			Invalid, "n1, leader of rs1 in term 2, advanced its commit index to 5 at 12ns, but only [n1] of the voters [n1,n2,n3] had acknowledged entries up to 5 in that term", "n1@12ns"},
		{"acks from an older term do not count", base + `{"time":12,"node":"n1","kind":"raft.ack","group":"rs1","from":"n2","term":1,"index":5}
{"time":12,"node":"n1","kind":"raft.state","group":"rs1","term":2,"role":"leader","leader":"n1","vote":"n1","commit":5,"applied":5}`, Invalid, "only [n1]", "n1@12ns"},
		{"raft found its state impossible", base + `{"time":20,"node":"n3","kind":"node.crash","inc":1,"error":"raft invariant: tocommit(2) is out of range [lastIndex(1)]. Was the raft log corrupted, truncated, or lost?"}`,
			Invalid, "n3 crashed at 20ns: raft invariant: tocommit(2) is out of range", "n3@20ns"},
		{"a disk crash is no Raft fault", base + `{"time":20,"node":"n3","kind":"node.crash","inc":1,"error":"write wal/x: simnet: injected I/O error"}`,
			Valid, "one leader per term", ""},
		{"two leaders in a term", base + `{"time":12,"node":"n2","kind":"raft.state","group":"rs1","term":2,"role":"leader","leader":"n2","vote":"n2","commit":1,"applied":1}`,
			Invalid, "n1 and n2 were both leaders of rs1 in term 2", "n2@12ns"},
		{"different entries at one index", base + `{"time":12,"node":"n1","kind":"raft.apply","group":"rs1","index":3,"term":2,"hash":"aa"}
{"time":13,"node":"n2","kind":"raft.apply","group":"rs1","index":3,"term":1,"hash":"bb"}`, Invalid, "n2 applied entry 3 of rs1 with hash bb at 13ns, but n1 had applied a different entry (hash aa)", "n2@13ns"},
		{"commit goes back after a restart", base + `{"time":20,"node":"n2","kind":"raft.state","group":"rs1","term":2,"role":"follower","leader":"n1","vote":"n1","commit":4,"applied":4}
{"time":30,"node":"n2","kind":"node.start","inc":2}
{"time":30,"node":"n2","kind":"raft.state","group":"rs1","term":2,"role":"follower","leader":"","vote":"n1","commit":3,"applied":1}`, Invalid, "n2's commit index for rs1 went back from 4 to 3", "n2@30ns"},
		{"applied beyond commit", base + `{"time":20,"node":"n2","kind":"raft.state","group":"rs1","term":2,"role":"follower","leader":"n1","vote":"n1","commit":4,"applied":6}`,
			Invalid, "n2 applied rs1 up to 6 at 20ns, beyond its commit index 4", "n2@20ns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trace, err := env.ReadTrace(strings.NewReader(tc.trace))
			if err != nil {
				t.Fatal(err)
			}
			got := RaftSafety(trace)
			if got.Verdict != tc.want || !strings.Contains(got.Explanation, tc.explain) {
				t.Fatalf("got %s: %s\nwant %s: …%s…", got.Verdict, got.Explanation, tc.want, tc.explain)
			}
			if first := firstAt(t, got); first != tc.first {
				t.Fatalf("First at %q, want %q", first, tc.first)
			}
		})
	}
}
