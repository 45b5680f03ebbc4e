package checker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/kv"
)

// bucketStart is two replicasets of one instance each, n1 leading rs1
// and n2 rs2, and n1 leading group 0.
const bucketStart = `{"time":0,"node":"n1","kind":"raft.state","group":"config","term":1,"role":"leader","leader":"n1","vote":"n1","commit":1,"applied":1}
{"time":0,"node":"n1","kind":"raft.state","group":"rs1","term":1,"role":"leader","leader":"n1","vote":"n1","commit":1,"applied":1}
{"time":0,"node":"n2","kind":"raft.state","group":"config","term":1,"role":"follower","leader":"n1","vote":"n1","commit":1,"applied":1}
{"time":0,"node":"n2","kind":"raft.state","group":"rs2","term":1,"role":"leader","leader":"n2","vote":"n2","commit":1,"applied":1}
`

// moveA is move 1: bucket 4 of 8 (key "a"'s) from rs1 to rs2. rs1
// freezes it at index 50 of its log at 2s; group 0 commits the move at
// 3s (n1 applies it first); rs2 holds it from index 20 of its log.
const moveA = `{"time":2000000000,"node":"n1","kind":"move.frozen","group":"rs1","move":1,"bucket":4,"buckets":8,"index":50}
{"time":3000000000,"node":"n1","kind":"bucket.owner","move":1,"bucket":4,"buckets":8,"from":"rs1","to":"rs2","index":20,"config_index":90}
{"time":3100000000,"node":"n2","kind":"bucket.owner","move":1,"bucket":4,"buckets":8,"from":"rs1","to":"rs2","index":20,"config_index":90}
`

// moveABack is move 2: bucket 4 back from rs2 to rs1 at 6s, frozen at
// index 30 of rs2's log; rs1 holds it from index 70 of its log.
const moveABack = `{"time":5000000000,"node":"n2","kind":"move.frozen","group":"rs2","move":2,"bucket":4,"buckets":8,"index":30}
{"time":6000000000,"node":"n1","kind":"bucket.owner","move":2,"bucket":4,"buckets":8,"from":"rs2","to":"rs1","index":70,"config_index":95}
`

// put is a client's put of key, received and answered ok by node at ms
// milliseconds, at index of the node's replicaset's log.
func put(node string, ms int64, client string, seq int, key string, index int) string {
	t := ms * 1000000
	return fmt.Sprintf(`{"time":%d,"node":"%s","kind":"kv.request","client":"%s","seq":%d,"op":"put","key":"%s","value":"v"}
{"time":%d,"node":"%s","kind":"kv.response","client":"%s","seq":%d,"status":"ok","value":"","found":false,"index":%d,"leader":"","hint":""}
`, t, node, client, seq, key, t, node, client, seq, index)
}

// inTimeOrder sorts a trace's lines by time, keeping the order of lines
// of one time: the cases below are made of pieces that interleave.
func inTimeOrder(t *testing.T, trace string) string {
	t.Helper()
	lines := strings.SplitAfter(trace, "\n")
	timeOf := func(l string) int64 {
		var r struct{ Time int64 }
		if strings.TrimSpace(l) == "" {
			return 0
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		return r.Time
	}
	slices.SortStableFunc(lines, func(a, b string) int { return cmp.Compare(timeOf(a), timeOf(b)) })
	return strings.Join(lines, "")
}

func TestBuckets(t *testing.T) {
	// Writes of key "a" (bucket 4) by its owners: rs1 before the move,
	// rs2 after.
	owners := put("n1", 1000, "c1", 1, "a", 40) + put("n2", 4000, "c1", 2, "a", 25)
	for _, tc := range []struct {
		name, trace string
		want        Verdict
		explain     string
		first       string // where First points, "node@time"; "" for nowhere
	}{
		{"no move", put("n1", 1000, "c1", 1, "a", 40), NA, "no bucket moved", ""},
		{"each owner in turn", moveA + owners, Valid,
			"1 move of 1 bucket (of 8); 2 writes to moved buckets, each accepted by the bucket's owner, none by a source after its freeze (the freezes of 1 of the moves recorded)", ""},
		{"the source after the commit", moveA + owners + put("n1", 4000, "c2", 1, "a", 55), Invalid,
			`1 of 3 writes to moved buckets broke their ownership: n1 (rs1) answered c2's put 1 (key "a", bucket 4) ok at 4s, at index 55 of its log, but move 1 had given bucket 4 to rs2 at 3s`, "n1@4s"},
		{"the source after the commit, its freeze not recorded", moveA[strings.Index(moveA, "\n")+1:] + put("n1", 4000, "c2", 1, "a", 45), Invalid,
			`n1 (rs1) answered c2's put 1 (key "a", bucket 4) ok at 4s, at index 45 of its log, but move 1 had given bucket 4 to rs2 at 3s`, "n1@4s"},
		{"the source answers late a write applied before its freeze", moveA + owners + put("n1", 4000, "c2", 1, "a", 45), Valid,
			"3 writes to moved buckets, each accepted by the bucket's owner", ""},
		{"the destination before the commit", moveA + put("n2", 2500, "c2", 1, "a", 18), Invalid,
			`n2 (rs2) answered c2's put 1 (key "a", bucket 4) ok at 2.5s, at index 18 of its log, but bucket 4 was still rs1's: move 1 gave it to rs2 only at 3s`, "n2@2.5s"},
		{"the source after its freeze, before the commit", moveA + put("n1", 2500, "c2", 1, "a", 51), Invalid,
			`n1 (rs1) answered c2's put 1 (key "a", bucket 4) ok at 2.5s, at index 51 of its log, after rs1 froze bucket 4 at index 50 for move 1 (which gave it to rs2 at 3s)`, "n1@2.5s"},
		{"a retry answered from the dedup table", moveA + owners + `{"time":4000000000,"node":"n1","kind":"kv.request","client":"c1","seq":1,"op":"put","key":"a","value":"v"}
{"time":4000000000,"node":"n1","kind":"kv.replay","client":"c1","seq":1,"index":60,"applied":40}
{"time":4000000000,"node":"n1","kind":"kv.response","client":"c1","seq":1,"status":"ok","value":"","found":false,"index":60,"leader":"","hint":""}
`, Valid, "left out 1 retried write answered from the dedup table", ""},
		{"a write to a bucket that never moved", moveA + owners + put("n2", 4000, "c2", 1, "b", 26), Valid,
			"2 writes to moved buckets, each accepted by the bucket's owner, none by a source after its freeze (the freezes of 1 of the moves recorded); left out 0 retried writes answered from the dedup table and 1 write to buckets that never moved", ""},
		{"a read is no write", moveA + `{"time":4000000000,"node":"n1","kind":"kv.request","client":"c2","seq":1,"op":"get","key":"a","value":""}
{"time":4000000000,"node":"n1","kind":"kv.response","client":"c2","seq":1,"status":"ok","value":"v","found":true,"index":0,"leader":"","hint":""}
`, Valid, "0 writes to moved buckets", ""},
		{"a bucket that came back", moveA + moveABack + owners + put("n1", 7000, "c2", 1, "a", 75), Valid,
			"2 moves of 1 bucket (of 8); 3 writes to moved buckets", ""},
		{"the first source after its freeze, before the bucket came back", moveA + moveABack + put("n1", 7000, "c2", 1, "a", 65), Invalid,
			`n1 (rs1) answered c2's put 1 (key "a", bucket 4) ok at 7s, at index 65 of its log, after rs1 froze bucket 4 at index 50 for move 1`, "n1@7s"},
		{"a node of no known replicaset", moveA + put("n3", 4000, "c2", 1, "a", 30), Unknown,
			"1 write to moved buckets answered by nodes whose replicaset the trace does not say", ""},
		{"more violations than it names", moveA + put("n1", 4000, "c2", 1, "a", 51) + put("n1", 4001, "c2", 2, "a", 52) + put("n1", 4002, "c2", 3, "a", 53) +
			put("n1", 4003, "c2", 4, "a", 54) + put("n1", 4004, "c2", 5, "a", 55) + put("n1", 4005, "c2", 6, "a", 56), Invalid,
			"6 of 6 writes to moved buckets broke their ownership", "n1@4s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Buckets(traceOf(t, inTimeOrder(t, bucketStart+tc.trace)))
			if got.Verdict != tc.want || !strings.Contains(got.Explanation, tc.explain) {
				t.Fatalf("got %s: %s\nwant %s: …%s…", got.Verdict, got.Explanation, tc.want, tc.explain)
			}
			if first := firstAt(t, got); first != tc.first {
				t.Fatalf("First at %q, want %q", first, tc.first)
			}
		})
	}
}

// The checker places keys in buckets as core/kv does.
func TestBucketOfIsKVs(t *testing.T) {
	for i := range 2000 {
		key := fmt.Sprintf("k%d", i)
		for _, n := range []int{1, 7, 64, 256, kv.MaxBuckets} {
			if got, want := bucketOf(key, n), kv.Bucket(key, n); got != want {
				t.Fatalf("bucketOf(%q, %d) = %d, kv.Bucket says %d", key, n, got, want)
			}
		}
	}
}
