package checker

import (
	"strings"
	"testing"
)

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name, trace string
		want        Verdict
		explain     string
	}{
		{"no nemesis", `{"time":0,"node":"n1","kind":"node.start","inc":1}`, NA, "no nemesis"},
		{"all took effect", `{"time":1,"node":"nemesis","kind":"nemesis.start","step":1,"n":1,"fault":"partition","effect":true}
{"time":2,"node":"nemesis","kind":"nemesis.stop","step":1,"n":1,"fault":"partition","sent":9,"dropped":4,"duplicated":0,"disk_errors":0}
{"time":3,"node":"nemesis","kind":"nemesis.start","step":2,"n":1,"fault":"kill","effect":true}`, Valid, "step 1: 1 of 1 took effect; step 2: 1 of 1"},
		{"one of several is enough", `{"time":1,"node":"nemesis","kind":"nemesis.start","step":1,"n":1,"fault":"kill","effect":false,"why":"every target was down already"}
{"time":3,"node":"nemesis","kind":"nemesis.start","step":1,"n":2,"fault":"kill","effect":true}`, Valid, "step 1: 1 of 2 took effect"},
		{"no leader to isolate", `{"time":1,"node":"nemesis","kind":"nemesis.start","step":1,"n":1,"fault":"partition","effect":false,"why":"rs1 had no leader"}`,
			Unknown, "step 1 never took effect in 1 occurrences (partition: rs1 had no leader)"},
		{"a cut that dropped nothing", `{"time":1,"node":"nemesis","kind":"nemesis.start","step":1,"n":1,"fault":"partition","effect":true}
{"time":2,"node":"nemesis","kind":"nemesis.stop","step":1,"n":1,"fault":"partition","sent":0,"dropped":0}`, Unknown, "no message was dropped"},
		{"a disk that never failed", `{"time":1,"node":"nemesis","kind":"nemesis.start","step":1,"n":1,"fault":"disk","effect":true}
{"time":2,"node":"nemesis","kind":"nemesis.stop","step":1,"n":1,"fault":"disk","disk_errors":0}`, Unknown, "no disk operation failed"},
		{"an endpoint down that dropped nothing", `{"time":1,"node":"nemesis","kind":"nemesis.start","step":1,"n":1,"fault":"endpoint","effect":true,"endpoint":"crm-sync","mode":"down"}
{"time":2,"node":"nemesis","kind":"nemesis.stop","step":1,"n":1,"fault":"endpoint","sent":0,"dropped":0}`, Unknown, "endpoint: no message was dropped at its cuts"},
		{"an endpoint down, a failing one and a slow one", `{"time":1,"node":"nemesis","kind":"nemesis.start","step":1,"n":1,"fault":"endpoint","effect":true,"endpoint":"crm-sync","mode":"down"}
{"time":2,"node":"nemesis","kind":"nemesis.stop","step":1,"n":1,"fault":"endpoint","sent":3,"dropped":3}
{"time":3,"node":"nemesis","kind":"nemesis.start","step":2,"n":1,"fault":"endpoint","effect":true,"endpoint":"crm-sync","mode":"fail"}
{"time":4,"node":"nemesis","kind":"nemesis.stop","step":2,"n":1,"fault":"endpoint","sent":0,"dropped":0}
{"time":5,"node":"nemesis","kind":"nemesis.start","step":3,"n":1,"fault":"endpoint","effect":true,"endpoint":"billing","mode":"slow"}`, Valid, "step 3: 1 of 1 took effect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Faults(traceOf(t, tc.trace))
			if r.Verdict != tc.want || !strings.Contains(r.Explanation, tc.explain) {
				t.Fatalf("got %s: %s\nwant %s containing %q", r.Verdict, r.Explanation, tc.want, tc.explain)
			}
			if r.First != nil {
				t.Fatalf("points at %+v, but faults never says invalid", r.First)
			}
		})
	}
}
