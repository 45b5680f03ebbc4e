package checker

import (
	"fmt"
	"strings"
	"testing"
)

// deliveryTrace builds an ingest run's trace: lines are the clients'
// operations ("enqueue ID EXPECT OUTCOME [NOTE]"), the final reads
// ("stored LABEL HISTORY", "absent LABEL") and the final queue read
// ("queue JSON"), and settle/state events as given.
func deliveryTrace(t *testing.T, lines ...string) string {
	t.Helper()
	var b strings.Builder
	tm := 0
	for i, l := range lines {
		tm += 10
		f := strings.SplitN(l, " ", 5)
		switch f[0] {
		case "enqueue":
			fmt.Fprintf(&b, `{"time":%d,"node":"c1","kind":"client.invoke","process":1,"seq":%d,"f":"enqueue","key":%q,"value":"{}","expect":%q}`+"\n",
				tm, i, f[1], strings.Trim(f[2], "-"))
			note := ""
			if len(f) > 4 {
				note = f[4]
			}
			fmt.Fprintf(&b, `{"time":%d,"node":"c1","kind":"client.%s","process":1,"seq":%d,"f":"enqueue","key":%q,"value":"{}","expect":%q,"index":3,"note":%q,"replicaset":"rs1","position":%d}`+"\n",
				tm+1, f[3], i, f[1], strings.Trim(f[2], "-"), note, i+1)
		case "stored", "absent":
			h := "0"
			if len(f) > 2 {
				h = f[2]
			}
			fmt.Fprintf(&b, `{"time":%d,"node":"final","kind":"client.ok","process":99,"seq":%d,"f":"read-object","key":%q,"value":"{}","absent":%v,"type":"Customer","version":2,"index":9,"note":"n1","history":%s}`+"\n",
				tm, i, f[1], f[0] == "absent", h)
		case "queue":
			fmt.Fprintf(&b, `{"time":%d,"node":"final","kind":"client.ok","process":99,"seq":%d,"f":"read-queue","key":"rs1","value":%q,"index":9,"note":""}`+"\n",
				tm, i, strings.TrimPrefix(l, "queue "))
		default:
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestDelivery(t *testing.T) {
	q := func(depth int, entries ...string) string {
		var es []string
		for _, e := range entries {
			id, reason, _ := strings.Cut(e, "=")
			es = append(es, fmt.Sprintf(`{"position":1,"id":%q,"attempts":1,"reason":%q}`, id, reason))
		}
		return fmt.Sprintf(`queue {"replicaset":"rs1","depth":%d,"repairs":%d,"outbound":0,"settled":3,"entries":[%s]}`, depth, len(entries), strings.Join(es, ","))
	}
	for _, tc := range []struct {
		name    string
		lines   []string
		want    Verdict
		explain string
	}{
		{"stored and repaired", []string{"enqueue m1 Customer/m1 ok", "enqueue m2 - ok", "enqueue m3 Customer/m3 fail busy: full",
			`{"time":35,"node":"n1","kind":"queue.settle","group":"rs1","id":"q/rs1/1/2","settled":2}`,
			`{"time":35,"node":"n1","kind":"queue.state","group":"rs1","depth":2}`,
			"stored Customer/m1", "absent Customer/m3", q(0, "m2=no rule matched")},
			Valid, "3 messages sent, 2 acknowledged: 1 stored once, 1 in the repair queue with a reason; 1 refused (1 of them busy at least once)"},
		{"latency and depth", []string{"enqueue m1 Customer/m1 ok",
			`{"time":35,"node":"n1","kind":"queue.settle","group":"rs1","id":"q/rs1/1/1","settled":1}`,
			`{"time":35,"node":"n1","kind":"queue.state","group":"rs1","depth":7}`,
			"stored Customer/m1", q(0)},
			Valid, "p50 24ns, p99 24ns, max 24ns over 1 messages; deepest queue 7 (rs1)"},
		{"lost", []string{"enqueue m1 Customer/m1 ok", "absent Customer/m1", q(0)}, Invalid, "message m1 was acknowledged"},
		{"twice", []string{"enqueue m1 Customer/m1 ok", "stored Customer/m1 1", q(0)}, Invalid, "message m1 took effect 2 times"},
		{"both", []string{"enqueue m1 Customer/m1 ok", "stored Customer/m1", q(0, "m1=x")}, Invalid, "both stored"},
		{"no reason", []string{"enqueue m1 - ok", q(0, "m1=")}, Invalid, "without a reason"},
		{"refused took effect", []string{"enqueue m1 Customer/m1 fail busy", "stored Customer/m1", q(0)}, Invalid, "refused every time"},
		{"unknown took effect", []string{"enqueue m1 Customer/m1 info", "stored Customer/m1", q(0)}, Valid, "1 of unknown outcome that took effect once"},
		{"bad stored", []string{"enqueue m1 - ok", q(0)}, Invalid, "neither stored nor in the repair queue"},
		{"still waiting", []string{"enqueue m1 Customer/m1 ok", "stored Customer/m1", q(2)}, Invalid, "2 messages still wait in rs1"},
		{"read missing", []string{"enqueue m1 Customer/m1 ok", q(0)}, Unknown, "the final read of Customer/m1"},
		{"queue read missing", []string{"enqueue m1 Customer/m1 ok", "stored Customer/m1"}, Unknown, "the final read of the queues"},
		{"nothing sent", []string{q(0)}, NA, "no messages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Delivery(traceOf(t, deliveryTrace(t, tc.lines...)), 99)
			if r.Verdict != tc.want || !strings.Contains(r.Explanation, tc.explain) {
				t.Fatalf("got %s: %s\nwant %s containing %q", r.Verdict, r.Explanation, tc.want, tc.explain)
			}
		})
	}
}
