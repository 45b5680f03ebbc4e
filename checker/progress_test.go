package checker

import (
	"strings"
	"testing"
)

func TestProgress(t *testing.T) {
	const boot = `{"time":0,"node":"n1","kind":"node.bootstrap","replicaset":"rs1"}
{"time":0,"node":"n2","kind":"node.bootstrap","replicaset":"rs2"}
`
	for _, tc := range []struct {
		name, trace string
		want        Verdict
		explain     string
	}{
		{"no work", boot, NA, "no group had work"},
		{"every group served after", boot + `{"time":5,"node":"n1","kind":"kv.response","status":"ok"}
{"time":50,"node":"n1","kind":"kv.response","status":"mismatch"}
{"time":60,"node":"n2","kind":"kv.response","status":"ok"}
{"time":61,"node":"n2","kind":"kv.response","status":"redirect"}`, Valid, "rs1: 2 requests served, 1 after 10ns"},
		{"a replicaset stuck", boot + `{"time":5,"node":"n1","kind":"kv.response","status":"ok"}
{"time":60,"node":"n2","kind":"kv.response","status":"ok"}
{"time":61,"node":"n1","kind":"kv.response","status":"redirect"}`, Invalid, "rs1 made no progress after 10ns"},
		{"config stuck", boot + `{"time":5,"node":"n1","kind":"prop.result","outcome":"ok"}
{"time":20,"node":"n1","kind":"raft.propose","group":"config"}
{"time":60,"node":"n1","kind":"prop.result","outcome":"timeout"}`, Invalid, "config made no progress after 10ns"},
		{"config done before", boot + `{"time":2,"node":"n1","kind":"raft.propose","group":"config"}
{"time":5,"node":"n1","kind":"prop.result","outcome":"ok"}
{"time":20,"node":"n1","kind":"raft.propose","group":"rs1"}`, Valid, "config: 1 actions ok, 0 failed, 0 timed out, 0 ok after 10ns"},
		{"config moving", boot + `{"time":60,"node":"n1","kind":"prop.result","outcome":"ok"}
{"time":61,"node":"n1","kind":"client.ok"}
{"time":62,"node":"n1","kind":"client.info"}`, Valid, "config: 1 actions ok, 0 failed, 0 timed out, 1 ok after 10ns; clients: 1 ok, 0 failed, 1 unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Progress(traceOf(t, tc.trace), 10)
			if r.Verdict != tc.want || !strings.Contains(r.Explanation, tc.explain) {
				t.Fatalf("got %s: %s\nwant %s containing %q", r.Verdict, r.Explanation, tc.want, tc.explain)
			}
			if r.First != nil {
				t.Fatalf("points at %+v, but a group that made no progress is no one event", r.First)
			}
		})
	}
}
